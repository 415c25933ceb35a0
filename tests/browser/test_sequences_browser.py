"""The Architectures and Encoder–decoder pages in a real browser, at the two screen sizes of
a classroom: the four diagrams beside their maps, and a trained encoder–decoder with its
variant (the source reversed, or attention) decoding a typed source.

Screenshots: tests/browser/_shots/architectures_<width>.png, seq2seq_<variant>_<width>.png.
"""
import pytest

from tests.browser.conftest import SCREENSHOTS, wait_for_app
from tests.browser.test_screens import full_page_shot
from tests.browser.test_upload_browser import MAIN, exceptions, tab  # noqa: F401
from tests.browser.test_words_browser import type_into

pytestmark = [pytest.mark.browser,
              pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")]


def chart_count(pg) -> int:
    return pg.evaluate("() => document.querySelectorAll('.js-plotly-plot').length")


@pytest.mark.parametrize("width, height", [(1024, 768)])  # 1280: tests/browser/test_screens.py
def test_the_four_architectures_are_drawn_beside_their_maps(server, tab, width, height):
    tab.set_viewport_size({"width": width, "height": height})
    tab.goto(f"{server}/Architectures?cell=lstm&T=16")
    wait_for_app(tab, charts=8)
    assert exceptions(tab) == 0 and chart_count(tab) == 8
    for heading in ("Many-to-one", "Many-to-many, aligned", "One-to-many", "Encoder–decoder"):
        tab.locator(MAIN).get_by_text(heading, exact=False).first.wait_for()
    # Each diagram writes its losses: 1, 4, 4 and 3 (the decoder's) ℓ labels.
    losses = tab.evaluate("""() => Array.from(document.querySelectorAll('.js-plotly-plot'))
        .filter(e => !e.data.length)
        .map(e => e.layout.annotations.filter(a => (a.text || '').startsWith('ℓ')).length)""")
    assert losses == [1, 4, 4, 3], losses
    full_page_shot(tab, SCREENSHOTS / f"architectures_{width}.png", width)


@pytest.mark.parametrize("variant, width, height", [("reversed", 1280, 720),
                                                     ("attention", 1024, 768)])
def test_train_the_encoder_decoder_and_decode_a_typed_source(server, tab, variant, width,
                                                            height):
    tab.set_viewport_size({"width": width, "height": height})
    tab.goto(f"{server}/Encoder_decoder?L=6&steps=50&variant={variant}")
    wait_for_app(tab, charts=2)
    tab.locator(f"{MAIN} button").filter(has_text="Train").click()
    tab.locator(MAIN).get_by_text("of the symbols right after 50 steps").wait_for()
    wait_for_app(tab, charts=3)
    type_into(tab, "Source: letters", "HHAGBC")
    tab.locator(MAIN).get_by_text("HHAGBC").first.wait_for()
    wait_for_app(tab, charts=3)
    assert exceptions(tab) == 0
    decoded = tab.locator(f'{MAIN} [data-testid="stCode"]').inner_text()
    assert decoded.split()[:4] == ["source", "HHAGBC", "target", "HHAGBC"], decoded
    full_page_shot(tab, SCREENSHOTS / f"seq2seq_{variant}_{width}.png", width)


@pytest.mark.parametrize("width, height", [(1024, 768)])
def test_the_text_generator_trains_samples_and_colours_what_the_next_character_hears(
        server, tab, width, height):
    tab.set_viewport_size({"width": width, "height": height})
    tab.goto(f"{server}/Text_generator?steps=150&k=32&position=44")
    wait_for_app(tab)
    tab.locator(f"{MAIN} button").filter(has_text="Train").click()
    tab.locator(MAIN).get_by_text("LSTM hears characters up to").wait_for()
    wait_for_app(tab, charts=2)
    assert exceptions(tab) == 0
    rows = tab.evaluate("""() => {
        const el = Array.from(document.querySelectorAll('.js-plotly-plot'))
            .find(e => e.layout && e.layout.title && e.layout.title.text.includes('next character'));
        return el ? Array.from(el._fullData[0].y) : null;
    }""")
    assert [r.split(":")[0] for r in rows] == ["RNN", "LSTM"], rows
    samples = tab.locator(f'{MAIN} [data-testid="stCode"]').all_inner_texts()
    assert len(samples) == 2 and all(len(s) > 100 for s in samples)
    full_page_shot(tab, SCREENSHOTS / f"text_generator_{width}.png", width)
