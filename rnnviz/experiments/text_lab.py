"""The Text generator page: its settings (bound to the URL), the models as the app reads a
Keras text generator, which earlier characters the next one still hears
(`words.explain`), and the sentences the page writes, every number read from the arrays.

The models and their stateful trainer are `rnnviz.engine.chars`. No Streamlit here.
"""
import dataclasses

import numpy as np

from rnnviz.engine import chars
from rnnviz.engine import config as cfg
from rnnviz.engine.cells import CELL_SHORT_NAMES, CellParams
from rnnviz.engine.programs import Program
from rnnviz.experiments import words
from rnnviz.experiments.claims import format_value
from rnnviz.experiments.model_files import Head, LoadedModel

PAIR = ("rnn", "lstm")
WINDOW = 32  # characters drawn before the one predicted (legible at 1024 pixels)
EXPLAIN_LENGTH = words.WORD_BUCKETS[-1]  # 128: the characters `explain` reads at most
REACH_SHARE = 1e-3  # "hears" a character: ‖∂ℓ/∂e_s‖ at least this share of the largest
DEFAULT_READ = "First Citizen:\nBefore we proceed any further, hear me speak."
SOURCES = ("shipped", "pasted")

FIELDS = (
    cfg.Field("k", 32, int, 4, chars.K_MAX, label="Chunk length k (truncation)"),
    cfg.Field("steps", 600, int, 50, 3000, label="Training steps"),
    cfg.Field("temperature", 0.8, float, 0.1, 2.0, label="Temperature"),
    cfg.Field("seed", 0, int, 0, 99_999, label="Seed"),
    cfg.Field("source", "shipped", str, choices=SOURCES, label="Text"),
    cfg.Field("position", 40, int, 1, EXPLAIN_LENGTH - 1, label="Position"),
)


@dataclasses.dataclass(frozen=True)
class TextPage:
    """Every setting of the Text generator page; `read` is the text whose next characters
    are explained (data, never markup), bounded to EXPLAIN_LENGTH characters."""

    k: int = 32
    steps: int = 600
    temperature: float = 0.8
    seed: int = 0
    source: str = "shipped"
    position: int = 40
    read: str = DEFAULT_READ

    @classmethod
    def from_query(cls, raw) -> tuple["TextPage", list[str]]:
        values, notices = cfg.parse(FIELDS, raw)
        read, cut = cfg.parse_text(raw, "read", DEFAULT_READ, EXPLAIN_LENGTH, "text to read")
        return cls(**values, read=read), notices + cut

    def to_query(self) -> dict[str, str]:
        return {**cfg.to_query(FIELDS, dataclasses.asdict(self)), "read": self.read}

    def config(self, cell: str) -> chars.CharConfig:
        return chars.CharConfig(cell=cell, k=self.k, steps=self.steps, seed=self.seed)


def as_loaded_model(cell: str, state) -> LoadedModel:
    """A text generator's weights (a TrainState's) as the app reads a Keras ``Embedding →
    cell(return_sequences=True) → Dense(V, softmax)`` model: the head on every step."""
    m = state.params
    params = CellParams(*(np.asarray(a, np.float32) for a in m.cell))
    return LoadedModel(
        cell=cell, layers=1, bidirectional=False, hidden_size=chars.HIDDEN,
        input_size=chars.EMBED, params=params, embedding=np.asarray(m.embedding, np.float32),
        source=f"trained here: a {CELL_SHORT_NAMES[cell]} text generator",
        returns_sequences=True, directions=(1,), hidden_sizes=(chars.HIDDEN,),
        framework="keras", head=Head(np.asarray(m.readout.w, np.float32),
                                     np.asarray(m.readout.b, np.float32), "softmax", True))


def explain_next(cell: str, state, ids: np.ndarray, position: int) -> words.Explanation:
    """What the prediction of the character after `position` hears of every character up to
    it: `words.explain` of the model at that position, ℓ = −log p(the actual next one)."""
    model = as_loaded_model(cell, state)
    return words.explain(model, ids[:position + 2], target=int(ids[position + 1]),
                         position=position, padded=EXPLAIN_LENGTH)


def reach(values: np.ndarray, position: int) -> int | None:
    """How many characters back from `position` the gradient still has at least REACH_SHARE
    of its largest value (None: nothing finite and positive)."""
    v = np.asarray(values, np.float64)[:position + 1]
    ok = np.isfinite(v) & (v > 0)
    if not ok.any():
        return None
    heard = np.flatnonzero(ok & (v >= REACH_SHARE * v[ok].max()))
    return int(position - heard.min())


def reach_sentence(explained: dict, position: int, k: int) -> str:
    """Per cell (label -> Explanation): how far back the next character's gradient reaches,
    against the truncation length k the model was trained with."""
    parts = []
    for label, ex in explained.items():
        r = reach(ex.grad_norms, position)
        if r is None:
            parts.append(f"{label}: the gradient is not finite here")
            continue
        side = ("further back than" if r > k else "as far as" if r == k else "less than")
        parts.append(f"{label} hears characters up to {r} back (‖∂ℓ/∂e_s‖ ≥ {REACH_SHARE:g} "
                     f"of its largest, p(next) = {format_value(ex.p_target)}): {side} the "
                     f"k = {k} it was trained over")
    return "; ".join(parts) + "."


def learning_sentence(runs: dict, unigram: float) -> str:
    """Where each run's training loss ended (mean of its last 50 steps) against the unigram
    loss, the best guess that ignores every earlier character; and its time."""
    parts = []
    for label, snaps in runs.items():
        losses = np.concatenate([s.losses for s in snaps])
        if losses.size == 0:
            continue
        end = float(np.mean(losses[-50:]))
        parts.append(f"{label}: loss {end:.2f} nats after {snaps[-1].step} steps "
                     f"({snaps[-1].seconds:.0f} s)")
    return ("; ".join(parts) + f". Guessing from the characters' frequencies alone: "
            f"{unigram:.2f} nats.")


def catalogue() -> list[Program]:
    """`explain`'s program for the text generators' shapes, one per cell."""
    return [words.program(as_loaded_model(cell, chars.initial_state(chars.CharConfig(cell=cell))),
                          EXPLAIN_LENGTH)._replace(family="text generator")
            for cell in chars.CELLS]
