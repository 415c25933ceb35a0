"""The Words page's settings, sentences and figures, checked against the arrays they
describe."""
import math
import re

import numpy as np
import plotly.graph_objects as go
import pytest

from rnnviz.engine import language
from rnnviz.experiments import word_lab
from rnnviz.experiments.words import Explanation
from rnnviz.presentation import plots


def test_settings_round_trip_and_defaults():
    page, notices = word_lab.WordsPage.from_query({})
    assert page == word_lab.WordsPage() and notices == []
    again, notices = word_lab.WordsPage.from_query(page.to_query())
    assert again == page and notices == []
    assert page.cells == ("rnn", "lstm")
    assert word_lab.WordsPage(gru=True).cells == ("rnn", "lstm", "gru")


@pytest.mark.parametrize("raw, key", [({"H": "7"}, "H"), ({"steps": "1e9"}, "steps"),
                                      ({"seed": "abc"}, "seed"), ({"gru": "maybe"}, "gru"),
                                      ({"dmax": "-3"}, "dmax")])
def test_bad_url_values_get_a_notice_and_a_safe_value(raw, key):
    page, notices = word_lab.WordsPage.from_query(raw)
    assert len(notices) == 1 and key in notices[0]
    page.train_config("lstm")  # a valid trainer config


def test_the_sentence_in_a_link_is_bounded():
    page, notices = word_lab.WordsPage.from_query({"text": ["x", "a" * 20_000]})
    assert len(page.text) == language.MAX_CHARS and len(notices) == 1
    assert "20000" in notices[0]


def test_train_config_follows_the_page():
    page = word_lab.WordsPage(H=16, E=8, steps=300, seed=5, dmax=10, amax=2, relative=True)
    c = page.train_config("rnn")
    assert (c.cell, c.hidden_size, c.embed_size, c.steps, c.seed) == ("rnn", 16, 8, 300, 5)
    assert c.distances == (1, 10) and c.attractors == (0, 2)
    assert c.relative_rate == word_lab.RELATIVE_RATE


def test_new_sentences_honour_the_controls_and_repeat_per_draw():
    page = word_lab.WordsPage(distance=12, attractors=2)
    a, b = word_lab.new_sentence(page, 1), word_lab.new_sentence(page, 1)
    assert a.text == b.text
    assert a.distance == 12 and a.attractors == 2
    # An infeasible request grows the distance to hold the attractors.
    short = word_lab.WordsPage(distance=1, attractors=3)
    s = word_lab.new_sentence(short, 1)
    assert s.attractors == 3 and s.distance == language.min_distance(3, False)


def test_relative_reach_and_its_sentence_state_the_arrays():
    g = {"rnn": np.array([3e-9, 1e-3, 0.5, 1.0]), "lstm": np.array([4e-4, 1e-2, 0.2, 0.8])}
    reaches = {c: word_lab.relative_reach(v, 0) for c, v in g.items()}
    assert reaches["rnn"] == pytest.approx(3e-9) and reaches["lstm"] == pytest.approx(5e-4)
    text = word_lab.reach_sentence("keys", reaches)
    assert "“keys”" in text and "RNN 3.0·10⁻⁹" in text and "LSTM 5.0·10⁻⁴" in text
    # 5e-4 / 3e-9 = 166 667, said to two significant digits
    assert "reaches it about 170\u00a0000 times" in text
    assert word_lab._times(437.0) == "about 440" and word_lab._times(3.4e7) == "about 3·10⁷"
    assert "LSTM's reaches it" in text
    assert word_lab.relative_reach(np.zeros(3), 1) == 0.0
    assert math.isnan(word_lab.relative_reach(np.array([1.0, np.inf]), 0))
    assert "exactly 0" in word_lab.reach_sentence("keys", {"rnn": 0.0, "lstm": 0.3})


def test_accuracy_sentence_is_the_mean_of_the_far_distances():
    d = np.arange(1, 21)
    acc = {"rnn": np.linspace(1.0, 0.5, 20), "lstm": np.full(20, 0.9)}
    nearest = np.linspace(0.9, 0.3, 20)
    text = word_lab.accuracy_sentence(d, acc, nearest, far=10)
    far = d >= 10
    assert f"RNN {100 * acc['rnn'][far].mean():.0f} %" in text
    assert "LSTM 90 %" in text
    assert f"nearest noun scores {100 * nearest[far].mean():.0f} %" in text
    assert word_lab.accuracy_sentence(np.arange(1, 5), acc, nearest, far=10) == ""


def test_verdicts_and_their_labels():
    v = word_lab.verdict("lstm", 0.97, 1)
    assert v.predicted == 1 and v.correct
    assert word_lab.verdict_label(v) == "LSTM: plural (p = 0.97) ✓"
    w = word_lab.verdict("rnn", 0.2, 1)
    assert word_lab.verdict_label(w) == "RNN: singular (p = 0.80) ✗"
    assert word_lab.verdict("rnn", 0.6, None).correct is None


def _explanation(g, probs, reading="binary", position=None):
    g = np.asarray(g, float)
    return Explanation(np.arange(len(g)), np.asarray(probs, float), 1, 1, reading,
                       len(g) - 1 if position is None else position, 0.1, g, g, g,
                       np.zeros((len(g), 2)))


def test_uploaded_model_sentences():
    ex = _explanation([1e-6, 0.02, 0.5, 1.0], [0.87])
    assert word_lab.model_prediction(ex) == "your model: p(class 1) = 0.87"
    text = word_lab.model_reach_sentence(ex, ["a", "b", "c", "d"])
    assert "Words 2 to 4" in text and "“b”" in text and "1.0·10⁻⁶" in text
    soft = _explanation([1.0, 1.0], [0.1, 0.7, 0.2], reading="softmax")
    assert word_lab.model_prediction(soft, ["", "[UNK]", "e"]) == "your model: “[UNK]”, p = 0.70"
    assert word_lab.model_prediction(soft) == "your model: class 1, p = 0.70"
    assert "does not depend" in word_lab.model_reach_sentence(_explanation([0.0, 0.0], [0.5]),
                                                              ["a", "b"])


def test_word_kinds():
    kinds = word_lab.word_kinds(["noun", "noun", "main verb", "adjective"],
                                ["singular", "plural", "plural", ""])
    assert kinds == ["singular noun", "plural noun", "plural verb", "other word"]
    assert set(kinds) <= set(plots.WORD_KIND_COLOURS)


def _valid(fig):
    go.Figure(fig.to_dict())  # Plotly's own validation
    return fig.to_dict()


def test_word_gradients_figure_draws_the_arrays_and_escapes_words():
    words = ("the", "<b>keys</b>", "to", "cabinet")
    rows = {"RNN: plural": plots.WordRow(words, np.array([1e-3, 1e-9, 0.0, 1.0]), 1),
            "LSTM: plural": plots.WordRow(words, np.array([1e-2, 1e-4, 1e-3, 1.0]), 1)}
    d = _valid(plots.word_gradients(rows, 1e-30, "title", verb="are"))
    heat = d["data"][0]
    assert np.allclose(np.array(heat["z"], float)[1], np.log10([1e-2, 1e-4, 1e-3, 1.0]))
    assert np.isnan(np.array(heat["z"], float)[0, 2])  # the exact 0: grey, not a colour
    assert heat["text"][0][1] == "&lt;b&gt;keys&lt;/b&gt;"
    texts = [a["text"] for a in d["layout"]["annotations"]]
    assert "subject" in texts and "→ are?" in texts
    # Every word written on its cell, in white on the dark end of the scale.
    on_cells = [a for a in d["layout"]["annotations"] if a.get("yref") == "y"]
    assert len(on_cells) == 8 and on_cells[1]["text"] == "&lt;b&gt;keys&lt;/b&gt;"
    darkest = min(range(4), key=lambda s: np.log10([1e-2, 1e-4, 1e-3, 1.0])[s])
    assert on_cells[4 + darkest]["font"]["color"] == "#FFFFFF"
    assert on_cells[7]["font"]["color"] == plots.INK  # the largest value: the light end


def test_accuracy_and_word_map_figures():
    d = np.arange(1, 6)
    fig = plots.accuracy_by_distance({"rnn": (d, np.full(5, 0.8)), "lstm": (d, np.ones(5))},
                                     {"agree with the nearest noun": (d, np.full(5, 0.4))}, "t")
    data = _valid(fig)["data"]
    assert [t["name"] for t in data] == ["agree with the nearest noun", "RNN", "LSTM"]
    assert np.allclose(data[1]["y"], 80.0)
    pts = np.array([[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]])
    fig = plots.word_map(pts, ["key", "keys", "<i>x"], ["singular noun", "plural noun",
                                                        "other word"], "map", explained=0.5)
    data = _valid(fig)["data"]
    assert [t["name"] for t in data] == ["singular noun", "plural noun", "other word"]
    assert data[2]["text"] == ["&lt;i&gt;x"] and data[1]["x"] == [2.0]
