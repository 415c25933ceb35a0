"""Streamlit pages under AppTest: load without exceptions, every widget works, URLs bind."""
import pytest
from streamlit.testing.v1 import AppTest

from rnnviz import ui
from rnnviz.cells import CELLS
from rnnviz.init import SCHEMES
from rnnviz.presets import PRESETS

FLOW = "pages/1_Gradient_flow.py"


def open_page(page: str, query: dict | None = None) -> AppTest:
    at = AppTest.from_file("../app.py", default_timeout=300)
    at.query_params.update(query or {})
    at.switch_page(page)
    at.run()
    assert not at.exception, at.exception
    return at


@pytest.mark.parametrize("path", [p for p, _, _ in ui.PAGES])
def test_every_page_loads(path):
    at = AppTest.from_file("../app.py", default_timeout=300)
    at.run()
    if path != "app.py":
        at.switch_page(path)
        at.run()
    assert not at.exception


FLOW_PAGES = ("pages/2_Compare_cells.py", "pages/3_Gate_activations.py",
              "pages/4_Why_it_vanishes.py", "pages/5_Connectivity.py")


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("page", FLOW_PAGES)
def test_every_explorer_page_loads_for_every_cell(page, cell):
    at = open_page(page, {"cell": cell, "T": "80", "H": "16"})
    assert at.get("plotly_chart")
    assert not [w for w in at.warning if "is not valid" in w.value or "out of range" in w.value]


@pytest.mark.parametrize("page", (FLOW,) + FLOW_PAGES)
def test_exploding_setting_explained_on_every_page(page):
    if page == "pages/2_Compare_cells.py":  # compares tanh cells: their gradient overflows
        query = {"init": "orthogonal", "gain": "1.2", "inputs": "zeros", "T": "1000"}
    else:  # a relu state overflows
        query = {"cell": "rnn_relu", "init": "identity", "gain": "1.6", "T": "400"}
    at = open_page(page, query)
    assert any("overflow" in e.value for e in at.error)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("scheme", SCHEMES)
def test_flow_page_renders_every_cell_and_scheme(cell, scheme):
    at = open_page(FLOW, {"cell": cell, "init": scheme, "T": "60"})
    assert at.selectbox(key="fl_cell").value == cell
    assert len(at.get("plotly_chart")) == 3  # profile, per-unit map, forward pass
    assert at.subheader[0].value.startswith(("Going back", "The hidden"))


def test_flow_page_every_widget():
    """Set each control once; the page reruns cleanly and the URL follows."""
    at = open_page(FLOW)
    at.slider(key="fl_T").set_value(300).run()
    at.select_slider(key="fl_H").set_value(16).run()
    at.selectbox(key="fl_init").set_value("he").run()
    at.slider(key="fl_gain").set_value(1.25).run()
    at.toggle(key="fl_radius_on").set_value(True).run()
    at.slider(key="fl_radius").set_value(0.8).run()
    at.radio(key="fl_radius_kind").set_value("singular").run()
    at.selectbox(key="fl_inputs").set_value("sine").run()
    at.radio(key="fl_loss").set_value("all").run()
    at.number_input(key="fl_seed").set_value(7).run()
    at.selectbox(key="fl_cell").set_value("lstm").run()
    at.slider(key="fl_forget_bias").set_value(2.0).run()
    at.toggle(key="fl_chrono_on").set_value(True).run()
    at.number_input(key="fl_chrono").set_value(400).run()
    at.selectbox(key="fl_cell").set_value("gru").run()
    at.slider(key="fl_update_bias").set_value(3.0).run()
    assert not at.exception
    q = at.query_params
    expected = {"cell": "gru", "T": "300", "H": "16", "init": "he", "gain": "1.25",
                "radius": "0.8", "radius_kind": "singular", "inputs": "sine", "loss": "all",
                "seed": "7", "forget_bias": "2.0", "chrono": "400", "update_bias": "3.0"}
    assert {k: (q[k][0] if isinstance(q[k], list) else q[k]) for k in expected} == expected


def test_url_round_trip():
    query = {"cell": "lstm", "T": "250", "H": "64", "init": "pytorch", "gain": "0.9",
             "radius": "1.1", "radius_kind": "eigen", "forget_bias": "-1.0", "chrono": "",
             "update_bias": "0.0", "inputs": "adding", "loss": "last", "seed": "12"}
    at = open_page(FLOW, query)
    assert at.slider(key="fl_T").value == 250
    assert at.slider(key="fl_radius").value == pytest.approx(1.1)
    got = {k: (v[0] if isinstance(v, list) else v) for k, v in at.query_params.items()}
    assert got == query


@pytest.mark.parametrize(
    "query",
    [{"cell": "transformer"}, {"T": "-5"}, {"T": "lots"}, {"H": "99999999"},
     {"gain": "inf"}, {"seed": "-1"}, {"radius": "nan"}],
)
def test_malformed_url_gives_notice_not_exception(query):
    at = open_page(FLOW, query)
    assert any(next(iter(query)) in w.value for w in at.warning)
    assert len(at.get("plotly_chart")) == 3


def test_exploding_setting_is_explained():
    at = open_page(FLOW, {"cell": "rnn_relu", "init": "identity", "gain": "1.6", "T": "400"})
    assert any("overflow" in e.value or "exceeded" in e.value for e in at.error)


@pytest.mark.parametrize("preset", PRESETS, ids=lambda p: p.name)
def test_every_preset_loads_with_its_settings(preset):
    at = open_page(preset.page, dict(preset.query))
    got = {k: (v[0] if isinstance(v, list) else v) for k, v in at.query_params.items()}
    assert {k: got[k] for k in preset.query} == preset.query
    assert any(preset.name in i.value and preset.intro in i.value for i in at.info)


LAB = "pages/6_Training_lab.py"


def test_training_lab_trains_and_shares_the_model():
    """Press Train in compare mode: three runs, charts, and the models reach other pages."""
    at = open_page(LAB, {"steps": "60", "T": "20", "hidden_size": "8", "compare": "true"})
    at.button[0].click().run()
    assert not at.exception and not at.error
    assert set(at.session_state["trained"]) == {"rnn", "lstm", "gru"}
    assert len(at.get("plotly_chart")) == 3  # losses, the row of maps, profiles
    at.switch_page("pages/1_Gradient_flow.py")
    at.query_params.update({"cell": "lstm"})
    at.run()
    assert not at.exception
    assert any("before and after training" in m.value for m in at.markdown)
    at.switch_page("pages/3_Gate_activations.py")
    at.run()
    assert not at.exception
    assert any("gates before and after" in m.value for m in at.markdown)


def test_training_lab_every_control_and_divergence():
    at = open_page(LAB, {"compare": "false"})
    at.selectbox(key="tr_task").set_value("sine").run()
    at.slider(key="tr_T").set_value(30).run()
    at.selectbox(key="tr_cell").set_value("rnn_relu").run()
    at.slider(key="tr_hidden_size").set_value(16).run()
    at.selectbox(key="tr_scheme").set_value("identity").run()
    at.number_input(key="tr_gain").set_value(2.0).run()
    for name in ("spectral_radius", "forget_bias", "chrono_tmax", "update_bias", "clip"):
        at.toggle(key=f"tr_{name}_on").set_value(True).run()
        at.toggle(key=f"tr_{name}_on").set_value(False).run()
    at.radio(key="tr_radius_kind").set_value("singular").run()
    at.selectbox(key="tr_optimizer").set_value("sgd").run()
    at.number_input(key="tr_learning_rate").set_value(1.0).run()
    at.slider(key="tr_batch_size").set_value(32).run()
    at.number_input(key="tr_steps").set_value(50).run()
    at.number_input(key="tr_seed").set_value(3).run()
    assert not at.exception
    at.button[0].click().run()
    assert not at.exception
    assert any("step" in e.value and "clipping" in e.value for e in at.error)
    assert at.query_params["cell"] in ("rnn_relu", ["rnn_relu"])


def test_training_lab_malformed_url():
    at = open_page(LAB, {"steps": "1e9", "learning_rate": "fast", "task": "chess"})
    assert len(at.warning) == 3
