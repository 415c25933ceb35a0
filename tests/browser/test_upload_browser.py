"""Bring your own model, in a real browser: real model files (torch-named .safetensors
state_dicts, Keras 3 .keras files written by Keras) go through st.file_uploader; the model
then lives in the session and follows the student through the page menu. Every page either
draws it (its first chart's data differ from the same page's drawn network) or says in
its main area that it shows a drawn network, and why. A broken file gets the loader's
message, in the sidebar and in the main area, not a traceback.

The issue's three models (issue 21, "Done when"): (a) a 2-layer GRU .safetensors, (b) Keras
Embedding → Bidirectional(LSTM(32)) → Dense(1, sigmoid), (c) Keras Embedding →
Bidirectional(LSTM(32, return_sequences=True)) → LSTM(16) → Dense(1, sigmoid).

Screenshots: tests/browser/_shots/upload_<model>_<page>.png, the whole page at 1280 wide,
for every page after each upload.
"""
import os
import warnings

import pytest

from rnnviz.experiments.model_files import load_model_file
from tests.browser.conftest import SCREENSHOTS, settle, wait_for_app
from tests.browser.test_screens import full_page_shot, url_path
from tests.fixtures import model_files as fx

pytestmark = [
    pytest.mark.browser,
    # Keras's own variables trip numpy 2's copy-keyword deprecation; not ours to fix.
    pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning"),
]

SIDEBAR = '[data-testid="stSidebar"]'
MAIN = '[data-testid="stMain"]'
UPLOADER = f'{SIDEBAR} [data-testid="stFileUploader"]'

FLOW = "pages/1_Gradient_flow.py"
DEEP = "pages/8_Deep_bidirectional.py"
# The page menu in the order a student would walk it, and what each does with a model.
SHOWN = (FLOW, "pages/3_Gate_activations.py", "pages/4_Why_it_vanishes.py",
         "pages/5_Connectivity.py", DEEP)
ELSEWHERE = ("pages/2_Compare_cells.py", "pages/6_Training_lab.py")
NO_NETWORK = ("app.py", "pages/7_Theory.py")  # text only: no network drawn
WALK = (("pages/2_Compare_cells.py", "Compare cells"),
        ("pages/3_Gate_activations.py", "Gate activations"),
        ("pages/4_Why_it_vanishes.py", "Why it vanishes"),
        ("pages/5_Connectivity.py", "Connectivity"),
        ("pages/6_Training_lab.py", "Training lab"),
        ("pages/7_Theory.py", "Theory"),
        (DEEP, "Deep & bidirectional"),
        ("app.py", "Home"),
        (FLOW, "Gradient flow"))
CHARTS = {FLOW: 3, "pages/2_Compare_cells.py": 2, "pages/3_Gate_activations.py": 3,
          "pages/4_Why_it_vanishes.py": 3, "pages/5_Connectivity.py": 2, DEEP: 3}


# The issue's three models, and the deep map's rows of each (layer 1 first).
ROWS = {"two_layer_gru.safetensors": ["layer 1", "layer 2"],
        "words_bilstm.keras": ["layer 1 →", "layer 1 ←"],
        "words_stack.keras": ["layer 1 →", "layer 1 ←", "layer 2"]}


def issue_models(folder) -> dict:
    """name -> bytes of the issue's three models."""
    gru = fx.torch_state_dict("gru", layers=2, bidirectional=False, input_size=4,
                              hidden_size=32)
    words = fx.bidirectional_text_model(T=20, vocab=200, embed=8, hidden=32)
    stack = fx.mixed_stack_model(T=20, vocab=200, embed=8, hidden=(32, 16))
    return {"two_layer_gru.safetensors": fx.safetensors_bytes(gru),
            "words_bilstm.keras": fx.keras_bytes(words, folder),
            "words_stack.keras": fx.keras_bytes(stack, folder)}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """name -> path of real model files, written at test time."""
    folder = tmp_path_factory.mktemp("models")
    contents = issue_models(folder)
    contents["seed.keras"] = fx.keras_bytes(fx.seed_model(), folder)
    contents["bilstm.safetensors"] = fx.safetensors_bytes(
        fx.torch_state_dict("lstm", layers=2, bidirectional=True))
    contents["broken.keras"] = os.urandom(4096)
    paths = {}
    for name, data in contents.items():
        paths[name] = folder / name
        paths[name].write_bytes(data)
    return paths


@pytest.fixture
def tab(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 720})
    pg = context.new_page()
    pg.set_default_timeout(180_000)
    yield pg
    context.close()


def fingerprint(pg) -> str:
    """The first Plotly chart's data, as drawn, in a few characters (a hash of its JSON)."""
    return pg.evaluate(
        """() => {
            const el = document.querySelector('.js-plotly-plot');
            if (!el || !el.data) return null;
            const text = JSON.stringify(el.data.map(t => [t.x, t.y, t.z, t.name]));
            let h = 0;
            for (let i = 0; i < text.length; i++) h = (h * 31 + text.charCodeAt(i)) | 0;
            return text.length + ':' + h;
        }"""
    )


def first_chart_rows(pg) -> list:
    return pg.evaluate(
        "() => Array.from(document.querySelector('.js-plotly-plot')._fullData[0].y || [])")


@pytest.fixture(scope="module")
def drawn(server, browser):
    """Each chart page's first chart as drawn with the settings a model's walk carries
    (Gradient flow's defaults), without a model: what an upload must change."""
    context = browser.new_context(viewport={"width": 1280, "height": 720})
    pg = context.new_page()
    pg.set_default_timeout(180_000)
    out = {}
    for script, charts in CHARTS.items():
        pg.goto(f"{server}/{url_path(script)}")
        wait_for_app(pg, charts)
        out[script] = fingerprint(pg)
    context.close()
    return out


def open_box(pg):
    """The sidebar's model box, open and done opening: an expander grows to its height over
    a few frames, and while it is shorter the sidebar's scroll is clamped, so a click at a
    point computed for a button inside it (scrolled into view) can land on what the
    clamped scroll puts there instead (seen: Remove's click on the uploader's label)."""
    box = pg.locator(f'{SIDEBAR} [data-testid="stExpander"]').filter(
        has=pg.locator('[data-testid="stFileUploader"]'))
    if not pg.locator(UPLOADER).is_visible():
        box.locator("summary").click()
        settle(pg, box)
    pg.locator(UPLOADER).wait_for(state="visible")
    return box


def upload(pg, path) -> None:
    open_box(pg)
    pg.locator(UPLOADER).locator('input[type="file"]').set_input_files(str(path))


MODEL_SHOWN = ("() => document.querySelector('[data-testid=\"stMain\"]').innerText"
               ".includes('Showing your model')")


def remove_model(pg, tries: int = 3) -> None:
    """Press Remove and wait until the main area no longer shows the model: once the app is
    idle and the box is open (`open_box`). If the model is still shown 20 s later, press
    again (Remove only forgets the model): every extra press is reported as a warning, and
    the last try waits the page's full timeout."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for attempt in range(1, tries + 1):
        wait_for_app(pg)
        if not pg.evaluate(MODEL_SHOWN):
            return  # an earlier press went through after all
        last = attempt == tries
        try:
            open_box(pg)
            pg.get_by_role("button", name="Remove this model").click(
                timeout=None if last else 20_000)
            pg.wait_for_function(f"() => !({MODEL_SHOWN})()",
                                 timeout=None if last else 20_000)
            return
        except PlaywrightTimeout:
            if last:
                raise
            warnings.warn(f"Remove this model: press {attempt} of {tries} had no effect "
                          "within 20 s; pressing again")


def main_alert(pg, text: str):
    return pg.locator(f'{MAIN} [data-testid="stAlert"]').filter(has_text=text)


def exceptions(pg) -> int:
    return pg.locator('[data-testid="stException"]').count()


def go(pg, script: str, label: str) -> None:
    """Open a page through the sidebar's menu (a new URL would start a new session)."""
    link = pg.locator(f'{SIDEBAR} a[data-testid="stPageLink-NavLink"]').filter(has_text=label)
    if not link.first.is_visible():
        pg.locator(f'{SIDEBAR} [data-testid="stExpander"]').filter(
            has_text="rnnviz: pages").locator("summary").click()
    link.first.click()
    path = url_path(script)
    pg.wait_for_function("p => window.location.pathname.split('/').pop() === p", arg=path)


@pytest.mark.parametrize("name", list(ROWS))
def test_the_model_follows_the_student_to_every_page(server, tab, files, drawn, name):
    model = load_model_file(name, files[name].read_bytes())
    shot = name.split(".")[0]
    tab.goto(f"{server}/Gradient_flow")
    wait_for_app(tab, CHARTS[FLOW])
    upload(tab, files[name])
    main_alert(tab, f"Showing your model: {model.source}").wait_for()
    wait_for_app(tab, CHARTS[FLOW])
    for script, label in WALK:
        go(tab, script, label)
        if script in SHOWN:
            main_alert(tab, f"Showing your model: {model.source}").wait_for()
            wait_for_app(tab, CHARTS[script])
            main_alert(tab, "Inputs: random token ids" if model.embedding is not None
                       else "Inputs: Gaussian noise").wait_for()
            assert fingerprint(tab) != drawn[script], f"{script} draws the default network"
            if script == DEEP:
                assert first_chart_rows(tab) == ROWS[name]  # one row per layer and direction
        elif script in ELSEWHERE:
            main_alert(tab, "This page shows a drawn network, not your model").wait_for()
            wait_for_app(tab, 0)
            text = main_alert(tab, "This page shows a drawn network").inner_text()
            assert name in text
        else:
            wait_for_app(tab, 0)
        # The model is kept: the sidebar says so on every page, and offers Remove.
        sidebar = tab.locator(SIDEBAR).inner_text()
        assert "Your model:" in sidebar, script
        assert tab.locator(f"{SIDEBAR} button").filter(has_text="Remove this model").count() == 1
        assert exceptions(tab) == 0, script
        full_page_shot(tab, SCREENSHOTS / f"upload_{shot}_{url_path(script) or 'Home'}.png",
                       1280)
        tab.set_viewport_size({"width": 1280, "height": 720})

    # Gradient flow again, after the walk: still the model, with its layer picker for a
    # stack; Remove brings back the drawn network.
    assert tab.locator(SIDEBAR).inner_text().count("Greyed out") == 1
    headline = tab.locator(f"{MAIN} h3").nth(1).inner_text()
    assert headline.startswith("Your "), headline
    remove_model(tab)
    wait_for_app(tab, CHARTS[FLOW])
    assert fingerprint(tab) == drawn[FLOW]


def test_layer_picker_changes_the_layer_shown(server, tab, files):
    name = "words_stack.keras"
    tab.goto(f"{server}/Gradient_flow")
    wait_for_app(tab, CHARTS[FLOW])
    upload(tab, files[name])
    main_alert(tab, "Showing your model").wait_for()
    wait_for_app(tab, CHARTS[FLOW])
    headline = tab.locator(f"{MAIN} h3").nth(1)
    assert "layer 2 of 2" in headline.inner_text()
    before = fingerprint(tab)
    tab.get_by_role("combobox", name="Layer of your model shown here").click()
    tab.keyboard.press("ArrowDown")  # opens the list
    tab.get_by_role("option", name="layer 1 of 2, backward (←), H = 32").click()
    tab.wait_for_function(
        "() => document.querySelectorAll('[data-testid=\"stMain\"] h3')[1]"
        ".innerText.includes('backward direction (←)')")
    wait_for_app(tab, CHARTS[FLOW])
    assert fingerprint(tab) != before
    main_alert(tab, "it reads input position T − 1 − t").wait_for()
    assert exceptions(tab) == 0


def test_deep_page_draws_uploaded_models(server, tab, files):
    tab.goto(f"{server}/Deep_bidirectional")
    wait_for_app(tab, CHARTS[DEEP])
    built_in = fingerprint(tab)
    for name, shot, rows in (("seed.keras", "upload_keras", ["layer 1"]),
                             ("bilstm.safetensors", "upload_safetensors",
                              ["layer 1 →", "layer 1 ←", "layer 2 →", "layer 2 ←"])):
        model = load_model_file(name, files[name].read_bytes())
        before = fingerprint(tab)
        upload(tab, files[name])
        tab.locator(f'{SIDEBAR} [data-testid="stAlert"]').filter(
            has_text=model.source).wait_for()
        main_alert(tab, f"Showing your model: {model.source}").wait_for()
        wait_for_app(tab, CHARTS[DEEP])
        # The depth × time map redrawn from the file's weights: one row per layer and
        # direction of the file's network.
        assert first_chart_rows(tab) == rows
        assert fingerprint(tab) not in (built_in, before)
        assert exceptions(tab) == 0, name
        body = tab.locator(MAIN).inner_text()
        if model.layers == 2:
            assert "layer 2" in body  # the per-layer sentences
        assert "Download the depth map" in body
        full_page_shot(tab, SCREENSHOTS / f"{shot}.png", 1280)
        tab.set_viewport_size({"width": 1280, "height": 720})


def test_broken_file_gets_the_loaders_message(server, tab, files):
    with pytest.raises(ValueError) as err:
        load_model_file("broken.keras", files["broken.keras"].read_bytes())
    tab.goto(f"{server}/Deep_bidirectional")
    wait_for_app(tab, CHARTS[DEEP])
    built_in = fingerprint(tab)
    upload(tab, files["broken.keras"])
    tab.locator(f'{SIDEBAR} [data-testid="stAlert"]').filter(has_text=str(err.value)).wait_for()
    main_alert(tab, "Your file broken.keras could not be read").wait_for()
    wait_for_app(tab, CHARTS[DEEP])  # the built-in network, still drawn
    assert fingerprint(tab) == built_in
    assert exceptions(tab) == 0
    assert "Showing your model" not in tab.locator(MAIN).inner_text()
