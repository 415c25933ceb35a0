"""The Words page under AppTest: training both cells, a typed sentence coloured word by word,
every control, bad input, and a student's Keras model with its vocabulary."""
import re

import numpy as np
import pytest

from rnnviz.engine import language
from rnnviz.experiments import agreement, model_files, word_lab, words
from rnnviz.presentation import ui
from tests import test_app

PAGE = "pages/9_Words.py"
FAST = {"steps": "150"}  # enough for the page to have models; learning is tested elsewhere


def open_page(query: dict | None = None):
    return test_app.open_page(PAGE, query)


def trained(query: dict | None = None):
    at = open_page({**FAST, **(query or {})})
    at.button[0].click().run()  # Train
    assert not at.exception, at.exception
    return at


def word_figure(at):
    for chart in at.get("plotly_chart"):
        if "each word" in chart.proto.spec:
            return chart
    return None


def test_before_training_the_page_says_what_to_do():
    at = open_page()
    assert any("Press **Train**" in i.value for i in at.info)
    assert at.text_input(key="wd_text").value == word_lab.DEFAULT_TEXT
    assert word_figure(at) is None


@pytest.fixture(scope="module")
def trained_page():
    return trained()


def test_training_both_cells_colours_the_sentence(trained_page):
    at = trained_page
    run = at.session_state["wd_run"]
    assert set(run["snaps"]) == {"rnn", "lstm"} and run["status"] == "done"
    chart = word_figure(at)
    assert chart is not None
    reading = language.read_prefix(language.tokenize(word_lab.DEFAULT_TEXT))
    # The sentence under the figure is the one computed from the same explanations.
    models = {c: agreement.collect(run["page"].train_config(c), s, 0.0)
              for c, s in run["snaps"].items()}
    reaches = {c: word_lab.relative_reach(agreement.explain(t, reading.ids).grad_norms,
                                          reading.subject)
               for c, t in models.items()}
    expected = word_lab.reach_sentence(ui.plain("keys"), reaches)
    assert any(m.value == expected for m in at.markdown), expected
    assert any("At distances of 10 words or more" in m.value for m in at.markdown)
    assert len(at.get("plotly_chart")) >= 3  # words, accuracy, word map
    # The captions' numbers are the run's own: accuracy at the last snapshot, the map's variance.
    for c, t in models.items():
        assert any(f"held-out accuracy {100 * t.accuracy[-1]:.0f} % after {int(t.steps[-1])} "
                   "steps" in cap.value for cap in at.caption)
    shown = at.radio(key="wd_map_cell").value
    explained = agreement.word_map(models[shown].model.embedding).explained.sum()
    assert any(f"The two axes hold {100 * explained:.0f} % of the vectors' variance" in cap.value
               for cap in at.caption)
    acc = run["accuracy"]
    assert any(m.value == word_lab.accuracy_sentence(acc.distances, acc.accuracy,
                                                     acc.nearest_noun) for m in at.markdown)


def test_a_typed_sentence_updates_the_words(trained_page):
    at = trained_page
    at.text_input(key="wd_text").input("the dog near the cabinets is").run()
    assert not at.exception
    assert any("“dog”" in m.value for m in at.markdown)
    assert at.query_params["text"] == "the dog near the cabinets is"


@pytest.mark.parametrize("text", ["", "<b>the keys</b> **are**", "🙂 " * 200, "a" * 10_000,
                                  "keys keys keys", "zzz qqq"])
def test_bad_sentences_get_a_notice_never_a_traceback(trained_page, text):
    at = trained_page
    at.text_input(key="wd_text").input(text[: language.MAX_CHARS]).run()
    assert not at.exception
    for m in at.markdown:
        assert "<b>" not in m.value


def test_new_sentence_draws_from_the_language(trained_page):
    at = trained_page
    at.slider(key="wd_distance").set_value(14).run()
    new = [b for b in at.button if b.label == "New sentence"][0]
    new.click().run()
    assert not at.exception
    text = at.text_input(key="wd_text").value
    reading = language.read_prefix(text)
    assert reading.verb is not None and len(reading.ids) - reading.subject == 14


@pytest.mark.parametrize("key, value", [("wd_gru", True), ("wd_H", 16), ("wd_E", 8),
                                        ("wd_dmax", 8), ("wd_amax", 1), ("wd_relative", True),
                                        ("wd_seed", 3), ("wd_steps", 200),
                                        ("wd_attractors", 2)])
def test_every_control_binds_to_the_url(key, value):
    at = open_page()
    widget = at.get("toggle") + at.get("select_slider") + at.get("slider") + \
        at.get("number_input")
    [w for w in widget if w.key == key][0].set_value(value).run()
    assert not at.exception
    name = key.removeprefix("wd_")
    shown = at.query_params[name]
    assert shown == ("true" if value is True else str(value))


def test_a_bad_link_gets_notices_and_safe_values():
    at = open_page({"H": "1000", "steps": "x", "text": "y" * 5000})
    assert len(at.warning) >= 3
    assert at.slider(key="wd_dmax").value == 16


def test_the_gru_trains_when_asked():
    at = trained({"gru": "true", "steps": "60"})
    assert set(at.session_state["wd_run"]["snaps"]) == {"rnn", "lstm", "gru"}
    assert re.search(r"GRU: (singular|plural) \(p = [01]\.\d\d\)", word_figure(at).proto.spec)


def test_a_keras_word_model_explained_on_typed_ids(tmp_path):
    """A sentiment-style Embedding → SimpleRNN → Dense(1, sigmoid) file, typed as ids (its
    vocabulary upload is driven in the browser: AppTest has no file uploads)."""
    from tests.fixtures import model_files as fx

    keras = fx.keras()
    layers = keras.layers
    model = fx.randomize(keras.Sequential([keras.Input((4,), dtype="int32"),
                                           layers.Embedding(20, 4), layers.SimpleRNN(6),
                                           layers.Dense(1, activation="sigmoid")]), 3)
    data = fx.keras_bytes(model, tmp_path)
    at = open_page()
    ui_model = model_files.load_model_file("s.keras", data)
    at.session_state[ui.MODEL_KEY] = {"name": "s.keras", "size": len(data), "model": ui_model,
                                      "ambiguous": False}
    at.run()
    assert any("Token ids for your model" in t.label for t in at.text_input)
    at.text_input(key="wd_model_text").input("2 3 4 5 99 x").run()
    assert not at.exception
    assert any("outside the Embedding" in c.value for c in at.caption)
    chart = word_figure(at)
    expected = words.explain(ui_model, np.array([2, 3, 4, 5]))
    p = float(model.predict(np.array([[2, 3, 4, 5]]), verbose=0)[0, 0])
    assert expected.probs[0] == pytest.approx(p, rel=1e-5)
    assert f"your model: p(class 1) = {p:.2f}" in chart.proto.spec
