"""The four architectures of a course's recurrent-network chapter, on one cell and its weights.

Where the loss enters decides which steps receive a gradient and how far it travels:

- many-to-one: inputs at every step, one loss at the last (a sentence → its sentiment);
- many-to-many, aligned: a loss at every step, read from that step's state (a tag per word);
- one-to-many: one input, at step 0, and a loss at every step (a seed note → a melody);
- encoder–decoder: the encoder reads the source, the decoder starts from its last state and
  has a loss at every step (translation); the source reaches the outputs only through that
  one state.

For each, `maps` measures ‖∂ℓ_j/∂x_i‖: how strongly output j's loss reaches input i (RMS over
a batch of sequences). The loss of an output is the engine's fixed unit-norm readout
ℓ_j = vᵀh_j (`bptt.readout_loss`), so the numbers are the gradient's own gain or loss along
the path. An output without a loss and an input the architecture does not have are NaN.

One program per cell computes all four maps (`catalogue`), with T (≤ MAX_T) and H (≤ WIDTH
units) as data: the cells are padded to WIDTH units (`one_layer.pad_units`, whose padded
units stay exactly 0) and the sequences to MAX_T steps, whose padding comes after every
real step and reaches nothing before it (the loss reads none of it).
"""
import functools
from dataclasses import asdict, dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from rnnviz.engine import config as cfg
from rnnviz.engine import programs
from rnnviz.engine.bptt import FLOOR, _carry0, _scan
from rnnviz.engine.cells import STEPS, CellParams
from rnnviz.engine.init import SCHEMES
from rnnviz.engine.programs import Program
from rnnviz.experiments import one_layer
from rnnviz.experiments.claims import format_factor, format_value

ARCHITECTURES = ("many_to_one", "aligned", "one_to_many", "encoder_decoder")
TITLES = {
    "many_to_one": "Many-to-one: a loss at the last step",
    "aligned": "Many-to-many, aligned: a loss at every step",
    "one_to_many": "One-to-many: one input, a loss at every step",
    "encoder_decoder": "Encoder–decoder: the source reaches the outputs through one state",
}
CELLS = ("rnn", "lstm", "gru")
MAX_T = 40  # steps of a sequence, and of each half of the encoder–decoder
WIDTH = 32  # every cell runs padded to this many units
HIDDEN_SIZES = (8, 16, 32)
BATCH = 8  # sequences; the maps are RMS over them
FIELDS = (
    cfg.Field("cell", "rnn", str, choices=CELLS, label="Cell"),
    cfg.Field("T", 20, int, 2, MAX_T, label="Steps T"),
    cfg.Field("H", 32, int, choices=HIDDEN_SIZES, label="Hidden size H"),
    cfg.Field("init", "orthogonal", str, choices=SCHEMES, label="Initialisation"),
    cfg.Field("gain", 1.0, float, 0.0, 4.0, label="Gain on W_hh"),
    cfg.Field("seed", 0, int, 0, 2**31 - 1, label="Seed"),
)


@dataclass(frozen=True)
class ArchConfig:
    """The Architectures page's settings; build it with `from_query` to validate."""

    cell: str = "rnn"
    T: int = 20
    H: int = 32
    init: str = "orthogonal"
    gain: float = 1.0
    seed: int = 0

    @classmethod
    def from_query(cls, raw) -> tuple["ArchConfig", list[str]]:
        values, notices = cfg.parse(FIELDS, raw)
        return cls(**values), notices

    def to_query(self) -> dict[str, str]:
        return cfg.to_query(FIELDS, asdict(self))

    def flow_config(self, seed_offset: int = 0) -> one_layer.FlowConfig:
        """The same cell and draw as the Gradient flow page makes them (its defaults for
        the rest); seed_offset 1 draws the decoder's own weights the same way."""
        return one_layer.FlowConfig(cell=self.cell, T=self.T, H=self.H, init=self.init,
                                    gain=self.gain, seed=self.seed + seed_offset)


class Maps(NamedTuple):
    """‖∂ℓ_j/∂x_i‖ (outputs j × inputs i) of each architecture, float64, NaN where the
    architecture has no such loss or input; the decoder's rows are its own steps."""

    many_to_one: np.ndarray  # (T, T): only row T − 1
    aligned: np.ndarray  # (T, T): the upper triangle exactly 0 (no output hears a later input)
    one_to_many: np.ndarray  # (T, T): only column 0
    encoder_decoder: np.ndarray  # (T decoder steps, T source steps)


def _readouts(hs, units):
    """ℓ_t = vᵀh_t per step and sequence (T, B), v = (1,…,1)/√units on the real units."""
    real = jnp.arange(hs.shape[-1]) < units
    return jnp.where(real, hs, 0.0).sum(-1) / jnp.sqrt(units.astype(hs.dtype))


def _input_map(outputs_of, xs):
    """‖∂ℓ_j/∂x_i‖, RMS over the batch: (T_out, T_in). One reverse pass per output j,
    batched (`jax.vmap` of the vjp); outputs_of(xs) -> (T_out, B)."""
    ells, vjp = jax.vjp(outputs_of, xs)
    rows = jnp.eye(ells.shape[0], dtype=ells.dtype)[:, :, None] * jnp.ones_like(ells)[None]
    (g,) = jax.vmap(vjp)(rows)  # (T_out, T_in, B, I)
    return jnp.sqrt(jnp.mean(jnp.sum(g * g, axis=-1), axis=-1))


@programs.jit(static_argnames=("cell",))
def _maps_program(cell, encoder: CellParams, decoder: CellParams, xs, length, units):
    """The three maps a view needs, at MAX_T steps: inputs → outputs of one cell (many-to-
    one and aligned read it), of the same cell fed x_0 only (one-to-many), and source →
    decoder outputs (encoder–decoder, the decoder fed zeros from the encoder's state after
    step length − 1)."""
    step = STEPS[cell]
    carry0 = _carry0(cell, encoder, xs)

    def states(params, xs, carry):
        return _scan(step, params, xs, carry)[1]["h"]

    def one_cell(xs):
        return _readouts(states(encoder, xs, carry0), units)

    def encoder_decoder(xs):
        carry, _ = _scan(step, encoder, xs, carry0, length=length)
        return _readouts(states(decoder, jnp.zeros_like(xs), carry), units)

    first_only = jnp.where(jnp.arange(xs.shape[0])[:, None, None] == 0, xs, 0.0)
    return (_input_map(one_cell, xs), _input_map(one_cell, first_only),
            _input_map(encoder_decoder, xs))


def inputs(c: ArchConfig) -> np.ndarray:
    """BATCH noise sequences (MAX_T, BATCH, INPUT_SIZE), the seed's (drawn on the host)."""
    rng = np.random.default_rng(c.seed)
    return rng.standard_normal((MAX_T, BATCH, one_layer.INPUT_SIZE)).astype(np.float32)


def maps(c: ArchConfig) -> Maps:
    """The four architectures' maps for a config: the encoder (and every other
    architecture's cell) is the config's draw, the decoder a second draw of the same kind."""
    encoder, decoder = (one_layer.pad_units(c.cell, one_layer.make_params(c.flow_config(k)),
                                            WIDTH) for k in (0, 1))
    full, first_only, seq2seq = (
        np.asarray(a, np.float64)[:c.T, :c.T] for a in _maps_program(
            c.cell, encoder, decoder, inputs(c), np.int32(c.T), np.int32(c.H)))
    nan = np.full((c.T, c.T), np.nan)
    last_row, first_column = nan.copy(), nan.copy()
    last_row[-1] = full[-1]
    first_column[:, 0] = first_only[:, 0]
    return Maps(last_row, full, first_column, seq2seq)


# --- What to notice: one computed sentence per architecture --------------------------------


def _ratio(strong: float, weak: float) -> str:
    """"N× weaker" (or "as strong", "N× stronger") for two positive gradient norms."""
    if not (np.isfinite(strong) and np.isfinite(weak)) or strong <= FLOOR or weak <= FLOOR:
        return "not measurable here (a norm below 1e-30 or not finite)"
    r = strong / weak
    if 1 / 1.5 < r < 1.5:
        return "about as strong"
    return f"{format_factor(r)}× weaker" if r > 1 else f"{format_factor(1 / r)}× stronger"


def _fades(strong: float, weak: float) -> bool:
    return bool(np.isfinite(strong) and np.isfinite(weak) and weak * 1.5 < strong)


def sentences(m: Maps) -> dict[str, str]:
    """What to notice in each map, every number read from it."""
    T = m.aligned.shape[0]
    last, far = m.many_to_one[-1, -1], m.many_to_one[-1, 0]
    own = np.diag(m.aligned)
    col = m.one_to_many[:, 0]
    ed_first, ed_last = m.encoder_decoder[0], m.encoder_decoder[-1]
    v = format_value
    return {
        "many_to_one": (
            f"Only the last step has a loss: it reaches x_{T - 1} at {v(last)} and x_0 at "
            f"{v(far)}, {_ratio(last, far)}. Everything the network learns about early "
            f"inputs comes through that one path of {T - 1} steps."),
        "aligned": (
            f"Every step has a loss, so every input has a short path: the median output "
            f"hears its own step's input at {v(float(np.median(own)))}; x_0 reaches ℓ_0 at "
            f"{v(m.aligned[0, 0])} and ℓ_{T - 1} at {v(m.aligned[-1, 0])}."
            + (" The upper triangle is exactly 0 (grey): no output hears a later input."
               if np.all(np.triu(m.aligned, 1) == 0) else "")),
        "one_to_many": (
            f"The one input feeds every output: ℓ_0 hears it at {v(col[0])}, ℓ_{T - 1} at "
            f"{v(col[-1])}, {_ratio(col[0], col[-1])}. "
            + ("Late outputs learn little about the seed." if _fades(col[0], col[-1]) else
               "Here it does not fade on the way: late outputs hear the seed as well.")),
        "encoder_decoder": (
            f"The decoder's first output hears the last source input x_{T - 1} at "
            f"{v(ed_first[-1])} and the first, x_0, at {v(ed_first[0])} "
            f"({_ratio(ed_first[-1], ed_first[0])}); its last output hears x_0 at "
            f"{v(ed_last[0])}, along a path of {2 * T - 1} steps through the one state that "
            "links the halves."),
    }


def log10_range(arrays) -> tuple[float, float]:
    """(low, high) log10 of the positive finite entries of the maps (the four of `Maps`, or
    any others shown side by side), at least one decade apart: one colour scale for a
    page's maps (exact zeros are drawn grey, apart)."""
    values = np.concatenate([np.ravel(a) for a in arrays])
    shown = values[np.isfinite(values) & (values > 0)]
    if shown.size == 0:
        return 0.0, 1.0
    lo, hi = float(np.log10(shown.min())), float(np.log10(shown.max()))
    return lo, max(hi, lo + 1.0)


def catalogue() -> list[Program]:
    """The page's programs: one per cell, at MAX_T steps and WIDTH units."""
    zeros = np.zeros((MAX_T, BATCH, one_layer.INPUT_SIZE), np.float32)
    return [Program("architectures", f"{cell}, T ≤ {MAX_T}, H ≤ {WIDTH}",
                    functools.partial(_maps_program, cell, one_layer._zero_params(cell, WIDTH),
                                      one_layer._zero_params(cell, WIDTH), zeros,
                                      np.int32(2), np.int32(WIDTH)))
            for cell in CELLS]
