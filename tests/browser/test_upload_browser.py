"""Bring your own model, in a real browser: real model files (a Keras 3 .keras written by
Keras, a torch-named .safetensors state_dict) go through st.file_uploader, the page redraws
from the file's weights, and a broken file gets the loader's message, not a traceback.

Screenshots: tests/browser/_shots/upload_keras.png, upload_safetensors.png (Deep &
bidirectional) and upload_keras_gradient_flow.png.
"""
import os

import pytest

from rnnviz.model_files import load_model_file
from tests.browser.conftest import SCREENSHOTS, wait_for_app
from tests.browser.test_screens import full_page_shot
from tests.fixtures import model_files as fx

pytestmark = [
    pytest.mark.browser,
    # Keras's own variables trip numpy 2's copy-keyword deprecation; not ours to fix.
    pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning"),
]

UPLOADER = '[data-testid="stSidebar"] [data-testid="stFileUploader"]'
DEEP_CHARTS = 3  # depth × time map, profiles, two-sided connectivity (built-in network)
MODEL_DEEP_CHARTS = 2  # an uploaded model has no two-sided panel


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """name -> path of real model files, written at test time."""
    folder = tmp_path_factory.mktemp("models")
    contents = {
        "seed.keras": fx.keras_bytes(fx.seed_model(), folder),
        "bilstm.safetensors": fx.safetensors_bytes(
            fx.torch_state_dict("lstm", layers=2, bidirectional=True)),
        "broken.keras": os.urandom(4096),
    }
    paths = {}
    for name, data in contents.items():
        paths[name] = folder / name
        paths[name].write_bytes(data)
    return paths


@pytest.fixture
def tab(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 720})
    pg = context.new_page()
    pg.set_default_timeout(120_000)
    yield pg
    context.close()


def open_uploader(pg):
    box = pg.locator('[data-testid="stSidebar"] [data-testid="stExpander"]').filter(
        has_text="Bring your own model")
    box.locator("summary").click()
    pg.locator(UPLOADER).wait_for(state="visible")
    return box


def first_chart(pg):
    """The first Plotly chart's row labels and colours, as drawn."""
    return pg.evaluate(
        """() => {
            const d = document.querySelector('.js-plotly-plot')._fullData[0];
            return {y: Array.from(d.y || []), z: JSON.stringify(d.z)};
        }"""
    )


def upload(pg, path) -> None:
    pg.locator(UPLOADER).locator('input[type="file"]').set_input_files(str(path))


def exceptions(pg) -> int:
    return pg.locator('[data-testid="stException"]').count()


def test_deep_page_draws_uploaded_models(server, tab, files):
    tab.goto(f"{server}/Deep_bidirectional")
    wait_for_app(tab, DEEP_CHARTS)
    built_in = first_chart(tab)
    box = open_uploader(tab)

    for name, shot, rows in (("seed.keras", "upload_keras", ["layer 1"]),
                             ("bilstm.safetensors", "upload_safetensors",
                              ["layer 1 →", "layer 1 ←", "layer 2 →", "layer 2 ←"])):
        model = load_model_file(name, files[name].read_bytes())
        before = first_chart(tab)
        upload(tab, files[name])
        box.locator('[data-testid="stAlert"]').filter(has_text=model.source).wait_for()
        # The depth × time map redrawn from the file's weights: one row per layer and
        # direction of the file's network, colours unlike the built-in network's and the
        # previous file's.
        tab.wait_for_function(
            """([rows, z1, z2]) => {
                const el = document.querySelector('.js-plotly-plot');
                if (!el || !el._fullData || document.querySelector('[data-testid="stStatusWidget"]'))
                    return false;
                const d = el._fullData[0], z = JSON.stringify(d.z);
                return JSON.stringify(Array.from(d.y)) === JSON.stringify(rows)
                    && z !== z1 && z !== z2;
            }""",
            arg=[rows, built_in["z"], before["z"]],
        )
        wait_for_app(tab, MODEL_DEEP_CHARTS)
        assert exceptions(tab) == 0, name
        assert tab.locator(".js-plotly-plot").count() == MODEL_DEEP_CHARTS
        body = tab.locator('[data-testid="stMain"]').inner_text()
        assert f"Your model: {model.source}" in body
        assert ("SimpleRNN" if name.endswith(".keras") else "LSTM") in model.source
        if model.layers == 2:
            assert "layer 2" in body  # the per-layer sentences
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        full_page_shot(tab, SCREENSHOTS / f"{shot}.png", 1280)
        tab.set_viewport_size({"width": 1280, "height": 720})


def test_gradient_flow_page_shows_uploaded_keras_model(server, tab, files):
    model = load_model_file("seed.keras", files["seed.keras"].read_bytes())
    tab.goto(f"{server}/Gradient_flow")
    wait_for_app(tab, 2)
    open_uploader(tab)
    upload(tab, files["seed.keras"])
    tab.locator('[data-testid="stMain"] [data-testid="stAlert"]').filter(
        has_text=f"Showing your model: {model.source}").wait_for()
    # The curve has the built-in length; the page redraws with the model's own weights.
    wait_for_app(tab, 2)
    assert exceptions(tab) == 0
    full_page_shot(tab, SCREENSHOTS / "upload_keras_gradient_flow.png", 1280)


def test_broken_file_gets_the_loaders_message(server, tab, files):
    with pytest.raises(ValueError) as err:
        load_model_file("broken.keras", files["broken.keras"].read_bytes())
    tab.goto(f"{server}/Deep_bidirectional")
    wait_for_app(tab, DEEP_CHARTS)
    box = open_uploader(tab)
    upload(tab, files["broken.keras"])
    box.locator('[data-testid="stAlert"]').filter(has_text=str(err.value)).wait_for()
    wait_for_app(tab, DEEP_CHARTS)  # the built-in network, still drawn
    assert exceptions(tab) == 0
    assert "Your model:" not in tab.locator('[data-testid="stMain"]').inner_text()
