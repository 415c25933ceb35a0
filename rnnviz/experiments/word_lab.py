"""The Words page: its settings (bound to the URL), the sentence a student reads, and the
sentences the page writes about what the models heard.

The models are word models trained on the agreement language (rnnviz/engine/language.py,
Linzen, Dupoux & Goldberg 2016) by the one trainer (`train.train_words`), or a Keras model
the student uploaded; `words.explain` says how much of the loss's gradient reaches each
word. Everything here is numpy and text: no Streamlit.
"""
import dataclasses
import math
import time
from typing import NamedTuple

import numpy as np

from rnnviz.engine import config as cfg
from rnnviz.engine import language, train
from rnnviz.engine.bptt import FLOOR
from rnnviz.engine.cells import CELL_SHORT_NAMES
from rnnviz.experiments import agreement

PAIR = ("rnn", "lstm")
_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")
HIDDEN_SIZES = (8, 16, 32)
EMBED_SIZES = (4, 8, 16, 32)
DEFAULT_TEXT = "the keys to the old cabinet are"

FIELDS = (
    cfg.Field("gru", False, bool, label="Also train a GRU"),
    cfg.Field("H", 32, int, choices=HIDDEN_SIZES, label="Hidden size H"),
    cfg.Field("E", 16, int, choices=EMBED_SIZES, label="Word-vector size E"),
    cfg.Field("steps", 500, int, 50, 3000, label="Training steps"),
    cfg.Field("seed", 0, int, 0, 99_999, label="Seed"),
    cfg.Field("dmax", 16, int, 2, language.MAX_DISTANCE,
              label="Longest subject–verb distance trained on"),
    cfg.Field("amax", 3, int, 0, 3, label="Most attractors trained on"),
    cfg.Field("relative", False, bool, label="Relative clauses"),
    cfg.Field("distance", 12, int, 1, language.MAX_DISTANCE, label="Distance"),
    cfg.Field("attractors", 1, int, 0, language.MAX_ATTRACTORS, label="Attractors"),
)
RELATIVE_RATE = 0.3  # the share of sentences with a relative clause when they are on


@dataclasses.dataclass(frozen=True)
class WordsPage:
    """Every setting of the Words page; hashable. `text` is the student's sentence, cut
    to language.MAX_CHARS (it is data, never markup)."""

    gru: bool = False
    H: int = 32
    E: int = 16
    steps: int = 500
    seed: int = 0
    dmax: int = 16
    amax: int = 3
    relative: bool = False
    distance: int = 12
    attractors: int = 1
    text: str = DEFAULT_TEXT

    @classmethod
    def from_query(cls, raw) -> tuple["WordsPage", list[str]]:
        values, notices = cfg.parse(FIELDS, raw)
        text, cut = cfg.parse_text(raw, "text", DEFAULT_TEXT, language.MAX_CHARS, "sentence")
        return cls(**values, text=text), notices + cut

    def to_query(self) -> dict[str, str]:
        values = dataclasses.asdict(self)
        return {**cfg.to_query(FIELDS, values), "text": self.text}

    @property
    def cells(self) -> tuple[str, ...]:
        return PAIR + (("gru",) if self.gru else ())

    def train_config(self, cell: str = "lstm") -> train.WordsConfig:
        """The trainer's config of one cell: the same sentences, seed and budget for every
        cell."""
        return train.WordsConfig(
            cell=cell, hidden_size=self.H, embed_size=self.E, steps=self.steps,
            seed=self.seed, distances=(1, self.dmax), attractors=(0, self.amax),
            relative_rate=RELATIVE_RATE if self.relative else 0.0)

    def sentence_controls(self) -> tuple[int, int, bool]:
        """(distance, attractors, relative) of the next generated sentence, made feasible
        (`language.feasible_distance`: the distance grows to hold the attractors)."""
        attractors = min(self.attractors, language.max_attractors(language.MAX_DISTANCE,
                                                                  self.relative))
        return (language.feasible_distance(self.distance, attractors, self.relative),
                attractors, self.relative)


def new_sentence(page: WordsPage, draw: int) -> language.Sentence:
    """The `draw`-th generated sentence of the page's seed and sentence controls."""
    distance, attractors, relative = page.sentence_controls()
    rng = np.random.default_rng([page.seed, draw])
    return language.generate(rng, distance, attractors, relative)


# --- What the page says ------------------------------------------------------------------


def number_word(label: int) -> str:
    return language.NUMBERS[int(label)]


class Verdict(NamedTuple):
    """One model's prediction for one sentence."""

    cell: str
    p_plural: float
    predicted: int  # 0 singular, 1 plural
    correct: bool | None  # None where the sentence's subject number is unknown


def verdict(cell: str, p_plural: float, label: int | None) -> Verdict:
    predicted = int(p_plural > 0.5)
    return Verdict(cell, float(p_plural), predicted, None if label is None else predicted == label)


def verdict_label(v: Verdict) -> str:
    """A row label of the coloured-words figure: "LSTM: plural (p = 0.97) ✓"."""
    p = v.p_plural if v.predicted == 1 else 1.0 - v.p_plural
    mark = "" if v.correct is None else (" ✓" if v.correct else " ✗")
    return f"{CELL_SHORT_NAMES.get(v.cell, v.cell)}: {number_word(v.predicted)} (p = {p:.2f}){mark}"


def read_sentence(trained: dict, reading: language.Reading) -> dict:
    """cell -> (Verdict, ‖∂ℓ/∂e_s‖ per word read) of each trained model (agreement.collect's
    TrainedWords) on a sentence read by `language.read_prefix` (at least one word)."""
    out = {}
    for cell, t in trained.items():
        ex = agreement.explain(t, reading.ids)
        out[cell] = (verdict(cell, float(ex.probs[0]), reading.label), ex.grad_norms)
    return out


def train_models(page: WordsPage) -> dict:
    """cell -> TrainedWords: the page's cells trained to the end, one after the other (the
    Words page trains the same way, with progress and Stop)."""
    trained = {}
    for cell in page.cells:
        started = time.monotonic()
        snaps = list(train.train_words(page.train_config(cell)))
        trained[cell] = agreement.collect(page.train_config(cell), snaps,
                                          time.monotonic() - started)
    return trained


def relative_reach(grad_norms, index: int) -> float:
    """‖∂ℓ/∂e‖ of the word at `index` as a fraction of the largest word's (0 when every word
    gets 0; NaN when the gradient is not finite)."""
    g = np.asarray(grad_norms, np.float64)
    if not np.all(np.isfinite(g)):
        return math.nan
    top = float(np.max(g)) if g.size else 0.0
    return 0.0 if top == 0.0 else float(g[index]) / top


def _fraction_text(x: float) -> str:
    if not math.isfinite(x):
        return "not finite"
    if x == 0.0:
        return "exactly 0"
    if x < FLOOR:
        return f"below {FLOOR:.0e}"
    if x >= 0.01:
        return f"{x:.2f}"
    e = math.floor(math.log10(x))
    return f"{x / 10 ** e:.1f}·10{str(e).translate(_SUPERSCRIPT)}"


def _times(ratio: float) -> str:
    """A large factor as people say it: "about 400", "about 3 900", "about 2·10⁷"."""
    if ratio < 1e6:
        rounded = float(f"{ratio:.2g}")
        return "about " + cfg.format_value(int(rounded))
    e = math.floor(math.log10(ratio))
    return f"about {ratio / 10 ** e:.0f}·10{str(e).translate(_SUPERSCRIPT)}"


def reach_sentence(subject_word: str, reaches: dict) -> str:
    """What reaches the subject, for each model: the fraction of the largest word's
    gradient, and which model's gradient fades more (a factor, when both are nonzero).

    Args:
      reaches: cell -> `relative_reach` at the subject.
    """
    parts = [f"{CELL_SHORT_NAMES.get(c, c)} {_fraction_text(r)}" for c, r in reaches.items()]
    text = (f"Gradient reaching the subject “{subject_word}”, as a fraction of the word that "
            f"gets the most: " + ", ".join(parts) + ".")
    finite = {c: r for c, r in reaches.items() if math.isfinite(r) and r > 0}
    if len(finite) >= 2:
        low = min(finite, key=finite.get)
        high = max(finite, key=finite.get)
        ratio = finite[high] / finite[low]
        if ratio >= 10:
            text += (f" The {CELL_SHORT_NAMES.get(high, high)}'s reaches it {_times(ratio)} times "
                     f"more strongly than the {CELL_SHORT_NAMES.get(low, low)}'s: a network learns "
                     "from a word only through the gradient that gets back to it.")
    return text


def accuracy_sentence(distances, accuracy: dict, nearest_noun, far: int = 10) -> str:
    """Mean held-out accuracy at distances ≥ `far` for each cell, beside the nearest-noun
    baseline on the same sentences."""
    d = np.asarray(distances)
    far_mask = d >= far
    if not far_mask.any():
        return ""
    base = float(np.mean(np.asarray(nearest_noun)[far_mask]))
    parts = [f"{CELL_SHORT_NAMES.get(c, c)} {100 * float(np.mean(np.asarray(a)[far_mask])):.0f} %"
             for c, a in accuracy.items()]
    return (f"At distances of {far} words or more: " + ", ".join(parts)
            + f"; agreeing with the nearest noun scores {100 * base:.0f} % on the same "
            "sentences.")


def word_kinds(roles, numbers) -> list[str]:
    """Each word's kind for the word map's colours (plots.WORD_KIND_COLOURS)."""
    out = []
    for role, number in zip(roles, numbers):
        if role == "noun" and number:
            out.append(f"{number} noun")
        elif role in ("main verb", "relative verb") and number:
            out.append(f"{number} verb")
        else:
            out.append("other word")
    return out


def model_prediction(ex, vocabulary: list[str] | None = None) -> str:
    """A row label for an uploaded model's prediction: "p(class 1) = 0.87" for a sigmoid
    head; for a softmax the likeliest class (its token, when the head has one output per
    vocabulary entry) and its probability."""
    probs = np.asarray(ex.probs, np.float64)
    if ex.reading == "binary":
        return f"your model: p(class 1) = {probs[0]:.2f}"
    top = int(np.argmax(probs))
    name = f"class {top}"
    if vocabulary is not None and len(probs) <= len(vocabulary) and vocabulary[top]:
        name = f"“{vocabulary[top]}”"
    return f"your model: {name}, p = {probs[top]:.2f}"


def model_reach_sentence(ex, words_read) -> str:
    """How far back an uploaded model's prediction reaches: the earliest word that still
    gets at least 1 % of the largest word's gradient, and how much the first word gets."""
    g = np.asarray(ex.grad_norms, np.float64)[: ex.position + 1]
    if g.size == 0 or not np.all(np.isfinite(g)):
        return "The gradient is not finite: the model's loss overflowed on this sentence."
    top = float(g.max())
    if top == 0.0:
        return "No word gets any gradient: the prediction does not depend on these words."
    reached = np.nonzero(g >= 0.01 * top)[0]
    first = int(reached[0])
    return (f"Words {first + 1} to {len(g)} get at least 1 % of the largest word's gradient "
            f"(the earliest: “{words_read[first]}”); the first word gets "
            f"{_fraction_text(float(g[0]) / top)} of it.")
