"""The Encoder–decoder page: its settings (bound to the URL), the pair of runs it trains
side by side, and the sentences it writes about them, every number read from the runs.

A page trains the plain encoder–decoder (the source read forwards, no attention) and one
variant on the same seed and budget: the source reversed (Sutskever, Vinyals & Le 2014) or
attention (Bahdanau, Cho & Bengio 2015). The model and its trainer are
`rnnviz.engine.seq2seq`. Everything here is numpy and text: no Streamlit.
"""
import dataclasses

import numpy as np

from rnnviz.engine import config as cfg
from rnnviz.engine import seq2seq
from rnnviz.experiments.claims import format_factor, format_value

VARIANTS = ("reversed", "attention")
VARIANT_LABELS = {"reversed": "the source reversed", "attention": "attention"}
RUN_LABELS = {"plain": "Plain", "reversed": "Source reversed", "attention": "With attention"}
TASKS = ("copy", "reverse")
DEFAULT_SOURCE = "ABCDEFGHABCDEFGHABCD"
MAX_SOURCE_CHARS = 100  # a typed source is read up to this many characters

FIELDS = (
    cfg.Field("cell", "lstm", str, choices=seq2seq.CELLS, label="Cell"),
    cfg.Field("L", 12, int, 2, seq2seq.MAX_LENGTH, label="Source length L"),
    cfg.Field("task", "copy", str, choices=TASKS, label="Task"),
    cfg.Field("variant", "reversed", str, choices=VARIANTS, label="Compare with"),
    cfg.Field("steps", 600, int, 25, 3000, label="Training steps"),
    cfg.Field("seed", 0, int, 0, 99_999, label="Seed"),
)


@dataclasses.dataclass(frozen=True)
class Seq2SeqPage:
    """Every setting of the Encoder–decoder page; `source` is the student's typed source
    (data, never markup; `seq2seq.encode_source` reads it)."""

    cell: str = "lstm"
    L: int = 12
    task: str = "copy"
    variant: str = "reversed"
    steps: int = 600
    seed: int = 0
    source: str = DEFAULT_SOURCE

    @classmethod
    def from_query(cls, raw) -> tuple["Seq2SeqPage", list[str]]:
        values, notices = cfg.parse(FIELDS, raw)
        source, cut = cfg.parse_text(raw, "source", DEFAULT_SOURCE, MAX_SOURCE_CHARS, "source")
        return cls(**values, source=source), notices + cut

    def to_query(self) -> dict[str, str]:
        return {**cfg.to_query(FIELDS, dataclasses.asdict(self)), "source": self.source}

    def configs(self) -> dict[str, seq2seq.Seq2SeqConfig]:
        """The two runs, plain first: same cell, task, length, seed and budget."""
        base = seq2seq.Seq2SeqConfig(cell=self.cell, length=self.L,
                                     reverse_target=self.task == "reverse", steps=self.steps,
                                     seed=self.seed)
        variant = dataclasses.replace(base, **{"reverse_source" if self.variant == "reversed"
                                               else "attention": True})
        return {"plain": base, self.variant: variant}


def needed_inputs(L: int, reverse_target: bool) -> np.ndarray:
    """The source position each output must reproduce (L,): j, or L − 1 − j."""
    j = np.arange(L)
    return L - 1 - j if reverse_target else j


def needed_strength(grad_map: np.ndarray, reverse_target: bool) -> np.ndarray:
    """‖∂ℓ_j/∂x_i‖ at the input each output j must reproduce (L,)."""
    L = grad_map.shape[0]
    return grad_map[np.arange(L), needed_inputs(L, reverse_target)]


def steps_between(L: int, j: int, i: int, reverse_source: bool) -> int:
    """Steps from reading source input i to writing output j: the encoder's remaining steps
    after reading it, then j + 1 decoder steps (without attention)."""
    read_at = L - 1 - i if reverse_source else i
    return (L - 1 - read_at) + j + 1


def map_sentence(page: Seq2SeqPage, maps: dict) -> str:
    """What the maps (run -> (L, L) ‖∂ℓ_j/∂x_i‖) say about the paths, read from them."""
    configs = page.configs()
    L, reverse_target = page.L, page.task == "reverse"
    i0 = int(needed_inputs(L, reverse_target)[0])
    parts = []
    for run, grad_map in maps.items():
        c = configs[run]
        strength = needed_strength(grad_map, reverse_target)
        n = steps_between(L, 0, i0, c.reverse_source)
        path = ("one step away through attention" if c.attention else
                f"{n} step{'s' if n != 1 else ''} away")
        parts.append(f"{RUN_LABELS[run]}: the first output hears the symbol it must write "
                     f"(x_{i0}, {path}) at {format_value(strength[0])}, and each output its "
                     f"own symbol at a median {format_value(float(np.median(strength)))}")
    text = "; ".join(parts) + "."
    if len(maps) == 2:
        a, b = (float(np.median(needed_strength(m, reverse_target))) for m in maps.values())
        if a > 0 and b > 0 and np.isfinite([a, b]).all():
            r = b / a
            text += (f" With {VARIANT_LABELS[page.variant]}, the median is "
                     + (f"{format_factor(r)}× the plain model's." if r >= 1 else
                        f"{format_factor(1 / r)}× below the plain model's."))
    return text


def attention_sentence(alpha: np.ndarray, reverse_target: bool) -> str:
    """How the shown source's attention weights (L outputs × L inputs) fall, read from them."""
    L = alpha.shape[0]
    sums = alpha.sum(axis=1)
    on_needed = alpha[np.arange(L), needed_inputs(L, reverse_target)]
    most = np.argmax(alpha, axis=1) == needed_inputs(L, reverse_target)
    return (f"Each output's weights sum to 1 (to within {np.max(np.abs(sums - 1)):.0e}). "
            f"Output j puts a median {np.median(on_needed):.0%} of its weight on the symbol "
            f"it must write, and {int(most.sum())} of the {L} outputs put the most there.")


def learning_sentence(page: Seq2SeqPage, runs: dict) -> str:
    """Where each run ended (run -> list of seq2seq.Snapshot) against the memoryless loss
    log 8, and which learned faster, read from the snapshots."""
    parts, halfway = [], {}
    for run, snaps in runs.items():
        last = snaps[-1]
        below = next((s.step for s in snaps if s.probe_loss < seq2seq.MEMORYLESS_LOSS / 2), None)
        halfway[run] = below
        parts.append(f"{RUN_LABELS[run]}: loss {format_value(last.probe_loss)} and "
                     f"{last.accuracy:.0%} of the symbols right after {last.step} steps")
    text = ("; ".join(parts) + f" (a guess that knows nothing of the source: loss "
            f"log {seq2seq.SYMBOLS} = {seq2seq.MEMORYLESS_LOSS:.2f}, "
            f"{1 / seq2seq.SYMBOLS:.0%} right).")
    reached = {r: s for r, s in halfway.items() if s is not None}
    if len(runs) == 2 and reached:
        first = min(reached, key=reached.get)
        other = next(r for r in runs if r != first)
        text += (f" {RUN_LABELS[first]} fell below half that loss first, at step "
                 f"{reached[first]}" + (f" (the other at step {reached[other]})."
                                        if other in reached else "; the other never did."))
    return text
