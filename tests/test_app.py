"""Streamlit pages under AppTest: load without exceptions, every widget works, URLs bind."""
import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from rnnviz.engine.cells import CELLS
from rnnviz.engine.init import SCHEMES
from rnnviz.experiments import one_layer
from rnnviz.experiments.presets import PRESETS
from rnnviz.presentation import ui

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
    for name in ("spectral_radius", "forget_bias", "chrono_tmax", "update_bias", "clip",
                 "truncate"):
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


def test_training_lab_truncation_from_the_url_cuts_the_map_and_says_where():
    """k in the URL turns the control on; after a run the sentence states the reach that
    the recorded profiles show (exactly 0 before the last chunk)."""
    at = open_page(LAB, {"compare": "false", "task": "adding", "T": "30", "truncate": "8",
                         "steps": "30", "hidden_size": "8"})
    assert at.toggle(key="tr_truncate_on").value and at.slider(key="tr_truncate").value == 8
    at.button[0].click().run()
    assert not at.exception
    cut = [i.value for i in at.info if "Truncated after k = 8" in i.value]
    # Chunks start at 0, 8, 16, 24: the loss at step 29 reaches steps 24-29.
    assert len(cut) == 1 and "steps 24–29 only" in cut[0], [i.value for i in at.info]
    at.slider(key="tr_T").set_value(5).run()  # k beyond the shortened task is clamped
    assert not at.exception and at.slider(key="tr_truncate").value == 5
    assert at.query_params["truncate"] in ("5", ["5"])


def test_training_lab_malformed_url():
    at = open_page(LAB, {"steps": "1e9", "learning_rate": "fast", "task": "chess"})
    assert len(at.warning) == 3


# ---------------------------------------------------------------------------------------
# The student's model in the session: every page shows it or says in its main area why not


MODEL_PAGES = (FLOW,) + FLOW_PAGES + (LAB, "pages/8_Deep_bidirectional.py")
SHOWN_ON = {FLOW, "pages/3_Gate_activations.py", "pages/4_Why_it_vanishes.py",
            "pages/5_Connectivity.py", "pages/8_Deep_bidirectional.py"}


def two_layer_gru():
    from rnnviz.experiments import model_files
    from tests.fixtures import model_files as fx

    data = fx.safetensors_bytes(fx.torch_state_dict("gru", layers=2, bidirectional=False,
                                                    hidden_size=8))
    return model_files.load_model_file("two_gru.safetensors", data)


def with_model(model, name="two_gru.safetensors", page=FLOW, query=None) -> AppTest:
    at = AppTest.from_file("../app.py", default_timeout=300)
    at.session_state[ui.MODEL_KEY] = {"name": name, "size": 1, "model": model,
                                      "ambiguous": False}
    at.query_params.update(query or {"T": "40"})
    at.switch_page(page)
    at.run()
    assert not at.exception, at.exception
    return at


def main_infos(at) -> list[str]:
    return [i.value for i in at.main.info]


@pytest.mark.parametrize("page", MODEL_PAGES)
def test_every_page_shows_the_model_or_says_why_not(page):
    at = with_model(two_layer_gru(), page=page)
    infos = main_infos(at)
    if page in SHOWN_ON:
        assert any(i.startswith("**Showing your model: PyTorch state") for i in infos), infos
        assert any("Inputs: Gaussian noise" in i and "I = 3" in i for i in infos)
    else:
        assert any(i.startswith("This page shows a drawn network, not your model (the 2-layer "
                                "GRU of two") for i in infos), infos
    # The sidebar box on every page: what was read, and Remove.
    assert any("Remove" in b.label for b in at.sidebar.button)


def test_gradient_flow_shows_the_chosen_layer_and_greys_out_the_rest():
    at = with_model(two_layer_gru())
    assert at.subheader[0].value.startswith("Your 2-layer GRU, layer 2 of 2: ")
    # The model's own cell, size and inputs, greyed out; the drawn network's knobs too.
    shown = {at.selectbox(key=f"_fl_model_{k}").value: at.selectbox(key=f"_fl_model_{k}")
             for k in ("cell", "hidden", "inputs")}
    assert list(shown) == ["GRU", "8", "Gaussian noise N(0, 1), I = 3"]
    assert all(w.disabled for w in shown.values())
    assert at.selectbox(key="fl_init").disabled and at.slider(key="fl_gain").disabled
    assert not at.slider(key="fl_T").disabled and not at.number_input(key="fl_seed").disabled
    assert any("Greyed out: your 2-layer GRU" in c.value for c in at.sidebar.caption)
    top = list(at.session_state["_model_memo"].values())
    at.selectbox(key="_model_view_widget").set_value((0, 0)).run()
    assert at.subheader[0].value.startswith("Your 2-layer GRU, layer 1 of 2: ")
    # The choice follows the student to the next page.
    at.switch_page("pages/3_Gate_activations.py")
    at.run()
    assert not at.exception
    assert any("layer 1 of 2" in i for i in main_infos(at))
    assert top  # results kept in the session


def test_the_model_changes_what_gradient_flow_draws():
    drawn = open_page(FLOW, {"cell": "gru", "T": "40", "H": "8"})
    mine = with_model(two_layer_gru(), query={"cell": "gru", "T": "40", "H": "8"})
    assert drawn.get("plotly_chart")[0].proto.spec != mine.get("plotly_chart")[0].proto.spec


def test_remove_forgets_the_model_everywhere():
    at = with_model(two_layer_gru())
    at.button(key="model_remove").click().run()
    assert not at.exception
    assert ui.MODEL_KEY not in at.session_state
    assert not at.selectbox(key="fl_cell").disabled
    assert not any("Showing your model" in i for i in main_infos(at))
    assert at.subheader[0].value.startswith(("Going back", "The hidden"))


def test_deep_page_reads_a_keras_bidirectional_output_as_keras_does():
    """A Keras Bidirectional top layer with return_sequences=False: "Loss reads" greyed out
    and the page says the loss reads each direction's final state."""
    import jax

    from rnnviz.engine.init import init_params
    from rnnviz.experiments import model_files

    params = init_params(jax.random.PRNGKey(0), "lstm", 4, 8, bidirectional=True)
    model = model_files.LoadedModel(
        "lstm", 1, True, 8, 4, params, np.ones((20, 4), np.float32),
        "Keras Sequential: Embedding(20→4) → Bidirectional(LSTM(8)) → Dense(1)",
        returns_sequences=False, directions=(2,), hidden_sizes=(8,), framework="keras")
    at = with_model(model, "words.keras", "pages/8_Deep_bidirectional.py",
                    {"read": "middle", "T": "40"})
    assert at.radio(key="_dp_model_read").disabled
    assert at.radio(key="_dp_model_read").value == "last"
    assert at.selectbox(key="_dp_model_directions").value == "two (bidirectional)"
    assert at.selectbox(key="_dp_model_inputs").value == "random token ids (Embedding)"
    text = " ".join(main_infos(at))
    assert "return_sequences=False" in text and "random token ids" in text
    assert len(at.get("plotly_chart")) == 3  # map, profiles, the model's own connectivity
    assert any("forward state at t = 39 and the backward state at t = 0" in c.value
               for c in at.main.caption)
    assert any(b.label.startswith("Download the depth map") for b in at.get("download_button"))


def test_markdown_in_a_file_name_is_shown_as_text():
    at = with_model(two_layer_gru(), name="[click](http://x.invalid) $x$.npz", page=LAB)
    info = next(i for i in main_infos(at) if i.startswith("This page shows"))
    assert r"\[click\]\(http\:\/\/x\.invalid\) \$x\$\.npz" in info


def test_a_one_gate_pytorch_file_can_be_said_to_be_relu():
    """tanh and relu store the same weights: the sidebar asks, and the pages follow."""
    from rnnviz.experiments import model_files
    from tests.fixtures import model_files as fx

    data = fx.safetensors_bytes(fx.torch_state_dict("rnn", layers=1, bidirectional=False))
    at = with_model(model_files.load_model_file("elman.safetensors", data))
    at.session_state[ui.MODEL_KEY]["ambiguous"] = True
    at.run()
    assert at.selectbox(key="_fl_model_cell").value == "Vanilla RNN (tanh)"
    at.radio(key=ui.ACT_KEY).set_value("rnn_relu").run()
    assert not at.exception
    assert at.selectbox(key="_fl_model_cell").value == "Vanilla RNN (relu)"
    assert at.subheader[0].value.startswith("Your RNN (relu): ")


@pytest.mark.parametrize("page", sorted(SHOWN_ON))
def test_a_mixed_keras_stack_on_every_page_that_shows_it(page):
    """Bidirectional(LSTM, return_sequences=True) under LSTM, read with an Embedding."""
    from tests.test_model_layers import mixed_model

    model = mixed_model()._replace(embedding=np.ones((30, 3), np.float32))
    at = with_model(model, "stack.keras", page)
    infos = " ".join(main_infos(at))
    assert "Showing your model: hand\\-made" in infos and "random token ids" in infos
    if page != "pages/8_Deep_bidirectional.py":
        assert "layer 2 of 2" in infos  # the top layer, one-way, by default


@pytest.mark.parametrize("T, H", [(100, 8), (600, 128)])
def test_jacobian_and_map_captions_name_the_sampled_steps(T, H):
    """The captions say which steps the charts show: the stride each result sampled at."""
    why = open_page("pages/4_Why_it_vanishes.py", {"cell": "rnn", "T": str(T), "H": str(H)})
    stride = one_layer.jacobian_stride(T, H)
    every = "every step" if stride == 1 else f"one step in {stride}"
    assert any(f"The first sequence, {every}:" in c.value for c in why.caption)
    conn = open_page("pages/5_Connectivity.py", {"cell": "rnn", "T": str(T), "H": str(H)})
    stride = one_layer.map_stride(T)
    shown = [c.value.split(" (")[0] for c in conn.caption if c.value.startswith("Showing")]
    assert shown == ([] if stride == 1 else [f"Showing one step in {stride} on both axes"])
