"""The Words page in a real browser: train an RNN and an LSTM, type a sentence and see its
words coloured by the gradient that reaches them; then a student's Keras model with its
vocabulary file explains a typed sentence.

Screenshots: tests/browser/_shots/words_trained_<width>.png (1280 and 1024 wide),
words_keras.png.
"""
import pytest

from tests.browser.conftest import SCREENSHOTS, wait_for_app
from tests.browser.test_screens import full_page_shot, resize
from tests.browser.test_upload_browser import MAIN, exceptions, tab, upload  # noqa: F401
from tests.fixtures import model_files as fx

pytestmark = [pytest.mark.browser,
              pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")]

WORDS_CHART = "gradient of each model"


def word_chart_rows(pg) -> list:
    """The row labels of the coloured-words figure, as drawn."""
    return pg.evaluate(
        """t => {
            const el = Array.from(document.querySelectorAll('.js-plotly-plot'))
                .find(e => e.layout && e.layout.title && e.layout.title.text.includes(t));
            return el ? Array.from(el._fullData[0].y) : null;
        }""", WORDS_CHART)


def type_into(pg, label: str, text: str) -> None:
    box = pg.locator(f'{MAIN} [data-testid="stTextInput"]').filter(has_text=label)
    field = box.locator("input")
    field.fill(text)
    field.press("Enter")


def test_train_type_and_see_the_words(server, tab):
    tab.set_viewport_size({"width": 1280, "height": 720})
    tab.goto(f"{server}/Words?steps=300")
    wait_for_app(tab)
    tab.locator(f"{MAIN} button").filter(has_text="Train").click()
    wait_for_app(tab, charts=3)  # the words, accuracy by distance, the word map
    rows = word_chart_rows(tab)
    assert [r.split(":")[0] for r in rows] == ["RNN", "LSTM"], rows
    type_into(tab, "Type a sentence", "the dogs near the old cabinet on the left are")
    tab.locator(MAIN).get_by_text("Gradient reaching the subject “dogs”").wait_for()
    wait_for_app(tab, charts=3)
    assert exceptions(tab) == 0
    assert all("plural" in r or "singular" in r for r in word_chart_rows(tab))
    full_page_shot(tab, SCREENSHOTS / "words_trained_1280.png", 1280)
    # The classroom's other size: a resize re-lays the page out without rerunning it, so
    # the trained models are not trained again for it.
    resize(tab, 1024, 768)
    assert exceptions(tab) == 0
    assert all("plural" in r or "singular" in r for r in word_chart_rows(tab))
    full_page_shot(tab, SCREENSHOTS / "words_trained_1024.png", 1024)


def test_a_keras_model_and_its_vocabulary_explain_a_typed_sentence(server, tab, tmp_path):
    model = fx.bidirectional_text_model(T=20, vocab=200, embed=8, hidden=32)
    path = tmp_path / "sentiment.keras"
    path.write_bytes(fx.keras_bytes(model, tmp_path))
    vocab = tmp_path / "vocabulary.txt"
    vocab.write_text("\n".join(["", "[UNK]", "the", "movie", "was", "great"]
                               + [f"word{i}" for i in range(6, 200)]) + "\n")
    tab.goto(f"{server}/Words")
    wait_for_app(tab)
    upload(tab, path)
    tab.locator(MAIN).get_by_text("Token ids for your model").wait_for()
    tab.locator(f'{MAIN} [data-testid="stFileUploader"] input[type="file"]').set_input_files(
        str(vocab))
    tab.locator(MAIN).get_by_text("A sentence for your model").wait_for()
    type_into(tab, "A sentence for your model", "The movie was GREAT, truly!")
    tab.locator(MAIN).get_by_text("get at least 1 % of the largest word's gradient").wait_for()
    wait_for_app(tab, charts=1)
    notices = tab.locator(MAIN).inner_text()
    assert "'truly'" in notices  # the unknown word is named
    assert exceptions(tab) == 0
    full_page_shot(tab, SCREENSHOTS / "words_keras.png", 1280)
