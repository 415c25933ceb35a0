"""Any URL, on any page: a clear notice and a safe value, never an exception.

Property-based, at page level (AppTest runs the real page script): every page's real URL
keys with valid, out-of-range, malformed and repeated values.
"""
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from streamlit.testing.v1 import AppTest

from rnnviz.engine import config as cfg
from rnnviz.engine import train
from rnnviz.experiments import one_layer
from rnnviz.presentation import ui

LAB = "pages/6_Training_lab.py"
JUNK = st.sampled_from(["", "maybe", "nan", "inf", "-inf", "1e308", "-1", "0", "1e-320",
                        "true", "none", "off", "٣", "1,5", "<script>", "x" * 300, "2.5"])


def field_values(field):
    """Values a URL may hold for a field: its own choices and bounds, and junk."""
    own = []
    if field.choices:
        own.append(st.sampled_from([str(c) for c in field.choices]))
    elif field.kind is bool:
        own.append(st.sampled_from(["true", "false", "yes", "0"]))
    elif field.lo is not None:
        own.append(st.floats(field.lo - 10, field.hi + 10, allow_nan=False).map(
            lambda x, f=field: str(int(x)) if f.kind is int else repr(x)))
    return st.one_of(*own, JUNK)


LESSON_KEYS = (cfg.Field("lesson", "why-rnns-forget", str, choices=("why-rnns-forget", "x")),
               cfg.Field("step", 1, int, 1, 12), cfg.Field("present", False, bool),
               cfg.Field("room", "", str, choices=("ABCDE", "abcde", "ZZ")))


def page_keys(page: str):
    if page == "pages/13_Lesson.py":
        return LESSON_KEYS
    if page == LAB:
        return train.FIELDS + (train.COMPARE_FIELD,)
    if page in ui.FLOW_PAGES:
        return one_layer.FIELDS + (one_layer.VARY_FIELD,)
    return one_layer.FIELDS[:2]  # pages without settings must ignore any key


@st.composite
def queries(draw, page):
    fields = page_keys(page)
    chosen = draw(st.lists(st.sampled_from(fields), max_size=6, unique_by=lambda f: f.key))
    query = {}
    for field in chosen:
        values = draw(st.lists(field_values(field), min_size=1, max_size=3))
        query[field.key] = values if len(values) > 1 else values[0]  # repeated keys
    if page == "pages/1_Gradient_flow.py" and draw(st.booleans()):
        query["vary"] = draw(st.sampled_from(list(one_layer.OVERLAY_DEFAULTS) + ["maybe"]))
        query["values"] = draw(st.sampled_from(["", "0.5,1", "x,,9", "50,100", "lstm", "1," * 9]))
    # keep the example cheap where it is valid: a long LSTM map is seconds of CPU
    if page in ("pages/4_Why_it_vanishes.py", "pages/5_Connectivity.py"):
        query["H"] = "8"
    if page == LAB:
        query["steps"] = "10"
    return query


def run_page(page: str, query: dict) -> AppTest:
    at = AppTest.from_file("../app.py", default_timeout=180)
    at.query_params.update(query)
    if page != "app.py":
        at.switch_page(page)
    at.run()
    return at


@pytest.mark.parametrize("page", [p for p, _, _ in ui.PAGES])
def test_any_url_never_raises(page):
    @settings(max_examples=5, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
    @given(queries(page))
    def check(query):
        at = run_page(page, query)
        assert not at.exception, (query, at.exception)
        assert not any("Traceback" in e.value for e in at.error)

    check()


def test_boolean_field_with_any_value():
    """The crash of the first version: `?compare=maybe` on the Training lab."""
    at = run_page(LAB, {"compare": "maybe"})
    assert not at.exception
    assert any("compare must be true or false" in w.value for w in at.warning)


def test_menu_carries_only_settings_the_target_accepts():
    flow_query = {"cell": "rnn", "T": "300", "H": "32", "seed": "4", "vary": "gain"}
    lab = ui.carried_query(LAB, flow_query)
    assert "T" not in lab  # 300 is beyond the Training lab's range: left behind
    assert lab["seed"] == "4" and "vary" not in lab and "H" not in lab
    gates = ui.carried_query(ui.GATED_PAGE, flow_query)
    assert "cell" not in gates and gates["T"] == "300"
    assert ui.carried_query(ui.GATED_PAGE, {**flow_query, "cell": "gru"})["cell"] == "gru"
    assert ui.carried_query("pages/7_Theory.py", flow_query) == {}


def test_gate_activations_opens_on_the_lstm():
    at = run_page(ui.GATED_PAGE, {})
    assert at.selectbox(key="fl_cell").value == "lstm"
    assert not at.info or not any("has no gates" in i.value for i in at.info)


def test_narration_only_on_its_own_page():
    preset = next(p for p in ui.PRESETS if p.page == "pages/1_Gradient_flow.py")
    at = run_page(ui.GATED_PAGE, dict(preset.query))
    assert not any(preset.name in i.value for i in at.info)
    at = run_page(preset.page, dict(preset.query))
    assert any(preset.name in i.value for i in at.info)


def test_overlay_round_trips_through_the_url():
    at = run_page("pages/1_Gradient_flow.py", {"vary": "gain", "values": "0.9,1.1", "T": "60"})
    assert not at.exception
    assert at.query_params["vary"] in ("gain", ["gain"])
    assert at.query_params["values"] in ("0.9,1.1", ["0.9,1.1"])
    assert any("gain = 0.9" in m.value and "gain = 1.1" in m.value for m in at.markdown)
    assert len(at.get("plotly_chart")) == 4
