"""The gradient-flow experiment (pages 1-5): its settings, and its closed set of programs.

Every setting is data, not shape: a sequence runs padded to one of PADDED_LENGTHS steps, a
cell padded to one of PADDED_UNITS units (`pad_units`), and lengths, strides, loss
placements, input kinds and real widths are arguments of the programs. So the five pages
need the few programs `catalogue()` lists, whatever a visitor sets; each gives the numbers
of the unpadded computation (tests/test_padding.py). Inputs are drawn once at the longest
length so a longer sequence extends the same one.
"""
import functools
from dataclasses import asdict, dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from rnnviz.engine import config as cfg
from rnnviz.engine import programs
from rnnviz.engine.bptt import (
    LOSS_PLACEMENTS,
    first_nonfinite,
    flow,
    last_nonfinite,
    pascanu_bound,
    per_step_norms,
    per_unit_magnitudes,
    readout_loss,
)
from rnnviz.engine.cells import CELLS, GATE_BLOCKS, GATE_NAMES, CellParams
from rnnviz.engine.init import RADIUS_KINDS, SCHEMES, init_params, largest_singular_value
from rnnviz.engine.programs import Program
from rnnviz.engine.tasks import INPUT_KINDS, adding_problem, make_inputs
from rnnviz.experiments import claims

MAX_T = 1000
# The maps' sampling stride is set by these buckets (`map_stride`): a setting, not a shape
# (the maps run padded to the longest). The deep page reads them too.
LENGTH_BUCKETS = (64, 128, 256, 512, 1024)
# The lengths the one-pass programs run at: a sequence of T steps runs padded to the first
# that holds it (steps after T change nothing before them, in a forward direction). Each is
# one more program per cell and width; two keep the catalogue closed and small, and the
# shorter spares the default T = 100 a pass over 1024 steps.
PADDED_LENGTHS = (256, 1024)
LONGEST = PADDED_LENGTHS[-1]  # inputs are drawn, and the maps run, at this length
HIDDEN_SIZES = (8, 16, 32, 64, 128)
BATCH = 8  # sequences per computation; norms are RMS over them
MAX_MAP_STEPS = 128  # connectivity and Jacobian maps sample at most this many steps
INPUT_SIZE = 2
FLOAT32_MAX = float(np.finfo(np.float32).max)

FIELDS = (
    cfg.Field("cell", "rnn", str, choices=CELLS, label="Cell"),
    cfg.Field("T", 100, int, 2, MAX_T, label="Sequence length T"),
    cfg.Field("H", 32, int, choices=HIDDEN_SIZES, label="Hidden size H"),
    cfg.Field("init", "orthogonal", str, choices=SCHEMES, label="Initialisation"),
    cfg.Field("gain", 1.0, float, 0.0, 4.0, label="Gain on W_hh"),
    cfg.Field("radius", None, float, 0.0, 4.0, optional=True, label="Target spectral radius"),
    cfg.Field("radius_kind", "eigen", str, choices=RADIUS_KINDS, label="Radius measured as"),
    cfg.Field("forget_bias", 1.0, float, -10.0, 10.0, label="LSTM forget-gate bias"),
    cfg.Field("chrono", None, int, 3, 100_000, optional=True, label="Chrono T_max"),
    cfg.Field("update_bias", 0.0, float, -10.0, 10.0, label="GRU update-gate bias"),
    cfg.Field("inputs", "noise", str, choices=INPUT_KINDS, label="Inputs"),
    cfg.Field("loss", "last", str, choices=LOSS_PLACEMENTS, label="Loss on"),
    cfg.Field("seed", 0, int, 0, 2**31 - 1, label="Seed"),
)


@dataclass(frozen=True)
class FlowConfig:
    """Every setting of the gradient-flow page; build it with `from_query` to validate."""

    cell: str = "rnn"
    T: int = 100
    H: int = 32
    init: str = "orthogonal"
    gain: float = 1.0
    radius: float | None = None
    radius_kind: str = "eigen"
    forget_bias: float = 1.0
    chrono: int | None = None
    update_bias: float = 0.0
    inputs: str = "noise"
    loss: str = "last"
    seed: int = 0

    @classmethod
    def from_query(cls, raw) -> tuple["FlowConfig", list[str]]:
        """Validated config from raw values (URL parameters, widget state), with notices."""
        values, notices = cfg.parse(FIELDS, raw)
        return cls(**values), notices

    def to_query(self) -> dict[str, str]:
        return cfg.to_query(FIELDS, asdict(self))


def bucket(T: int) -> int:
    """The length bucket of T steps (it sets the maps' sampling stride, `map_stride`)."""
    return next(b for b in LENGTH_BUCKETS if b >= T)


def padded_length(T: int) -> int:
    """The padded length a sequence of T steps runs at in the one-pass programs."""
    return next(n for n in PADDED_LENGTHS if n >= T)


def fit_steps(xs, steps: int) -> np.ndarray:
    """Inputs (T', B, I) cut or zero-padded to `steps` steps, numpy: a model's own inputs,
    given at any padded length, then run in the catalogue's programs."""
    xs = np.asarray(xs)
    if xs.shape[0] >= steps:
        return xs[:steps]
    return np.concatenate([xs, np.zeros((steps - xs.shape[0],) + xs.shape[1:], xs.dtype)])


def seed_key(seed: int) -> np.ndarray:
    """`jax.random.PRNGKey(seed)` made on the host: eagerly, PRNGKey compiles two small
    programs on a server's first view. With jax's default threefry2x32 generator the key
    of a seed 0 ≤ seed < 2^32 is the pair (seed >> 32, seed & 0xFFFFFFFF) = (0, seed)
    (tests/test_padding.py checks it against jax)."""
    return np.array([0, seed], np.uint32)


def make_params(c: FlowConfig, layers: int = 1, bidirectional: bool = False):
    """The cell's weights for a config (keyed by its seed); `layers` and `bidirectional`
    for the deep page's networks."""
    return weights(c.seed, c.cell, INPUT_SIZE, c.H, c.init, c.gain, c.radius, c.radius_kind,
                   c.forget_bias, c.chrono, c.update_bias, layers, bidirectional)


def weights(*settings):
    """`init.init_params` of these settings (`_weights`' arguments), memoised; not while
    the warm-up only compiles (its draws are placeholder zeros, no weights to keep)."""
    if programs.compiling_only():
        return _weights.__wrapped__(*settings)
    return _weights(*settings)


# A view draws the same weights two to five times (a page's figures, the other cells of a
# comparison, a network and its one-way twin), and a student's move usually keeps them:
# 5-60 ms each (an orthogonal draw is a QR). jax arrays, so no caller can change them.
@functools.lru_cache(maxsize=64)
def _weights(seed, cell, input_size, H, scheme, gain, radius, radius_kind, forget_bias,
             chrono, update_bias, layers=1, bidirectional=False):
    """`init.init_params` of these settings, the seed's key from `seed_key`."""
    return init_params(seed_key(seed), cell, input_size, H, scheme=scheme, gain=gain,
                       spectral_radius=radius, radius_kind=radius_kind,
                       forget_bias=forget_bias, chrono_tmax=chrono, update_bias=update_bias,
                       layers=layers, bidirectional=bidirectional)


def params_and_inputs(c: FlowConfig, padded: int | None = None):
    """The weights and the inputs (padded, BATCH, INPUT_SIZE) of a config, padded to
    bucket(T) steps unless `padded` says otherwise."""
    return make_params(c), config_inputs(c)[: padded or bucket(c.T)]


def config_inputs(c: FlowConfig) -> np.ndarray:
    """A config's inputs (LONGEST, BATCH, INPUT_SIZE), its first T steps the sequence.

    Drawn with the key fold_in(PRNGKey(seed), 1), the seed, the kind and T given to one
    program as data (eagerly, making and folding the key would compile on a visitor's view).
    """
    return np.asarray(_seeded_inputs(np.int32(c.seed), _kind_index(c.inputs), np.int32(c.T)))


def padded_inputs(key, kind: str, length: int, padded: int) -> np.ndarray:
    """Inputs (padded, BATCH, INPUT_SIZE) whose first `length` steps are the sequence.

    Drawn at the longest length and cut on the host, so the sequence at T is a prefix of
    the one at T+1 and one compiled program serves every length; the adding problem places
    its markers within `length`.
    """
    return np.asarray(_keyed_inputs(key, _kind_index(kind), np.int32(length)))[:padded]


def _kind_index(kind: str) -> np.int32:
    if kind not in INPUT_KINDS:
        raise ValueError(f"unknown input kind {kind!r}; choose one of {', '.join(INPUT_KINDS)}")
    return np.int32(INPUT_KINDS.index(kind))


def _longest_inputs(key, kind, length):
    """Inputs of the kind INPUT_KINDS[kind] (kind traced: one program for all kinds; only
    the chosen branch runs) at the longest length, markers of the adding problem within
    `length`. Each kind is drawn from `key` as `tasks.make_inputs` draws it."""
    def draw(name):
        if name == "adding":
            return lambda: adding_problem(key, LONGEST, BATCH, length=length)[0]
        return lambda: make_inputs(key, name, LONGEST, BATCH, INPUT_SIZE)

    return jax.lax.switch(kind, [draw(name) for name in INPUT_KINDS])


@programs.jit(quick_compile=True, light=True)
def _seeded_inputs(seed, kind, length):
    return _longest_inputs(jax.random.fold_in(jax.random.PRNGKey(seed), 1), kind, length)


@programs.jit(quick_compile=True, light=True)
def _keyed_inputs(key, kind, length):  # for a caller's own key (not on a page's path)
    return _longest_inputs(key, kind, length)


# The one-pass program runs at one of these widths: a cell of H ≤ 32 units is padded to 32,
# one of 33-128 to 128, with units that stay exactly 0 (see `pad_units`), so the five hidden
# sizes of a page share two programs per cell and bucket instead of five. Wider uploaded
# cells run at their own width.
PADDED_UNITS = (32, 128)
# The analyses (Jacobian spectra and profiles, the connectivity map) cost ∝ H² or more per
# step, so H = 64 run at 128 units paid 3-4× (connectivity at T = 1000: 0.62 → 2.07 s):
# they have a width of 64 too, 4 programs each.
ANALYSIS_UNITS = (32, 64, 128)


def padded_width(H: int, widths: tuple = PADDED_UNITS) -> int:
    """The width a cell of H units runs at: the first of `widths` that holds it, or H."""
    return next((w for w in widths if w >= H), H)


def pad_units(cell: str, params: CellParams, width: int) -> CellParams:
    """The same cell with `width` − H more units in every gate block, all weights and biases
    to and from them zero.

    The added units stay exactly 0: their pre-activations are 0 at every step, so tanh and
    relu give 0, and an LSTM's c = f·c + i·tanh(0) = 0 and h = o·tanh(0) = 0, a GRU's
    n = tanh(0) and h = (1 − z)·0 + z·0 = 0. No real unit reads them (their columns of
    W_hh are zero), so the real units' states and gradients are the unpadded cell's.
    """
    G, H = GATE_BLOCKS[cell], params.w_hh.shape[1]
    if width == H:  # numpy either way: a program's key is the same for every caller
        return CellParams(*(np.asarray(a) for a in params))

    def rows(a):  # (G·H, ...) -> (G·width, ...), each gate block padded with zero rows
        a = np.asarray(a)
        blocks = a.reshape(G, H, *a.shape[1:])
        pad = [(0, 0), (0, width - H)] + [(0, 0)] * (a.ndim - 1)
        return np.pad(blocks, pad).reshape(G * width, *a.shape[1:])

    w_hh = np.pad(rows(params.w_hh), [(0, 0), (0, width - H)])
    return CellParams(rows(params.w_ih), w_hh, rows(params.b_ih), rows(params.b_hh))


def _padded_flow(cell, params, xs, length, placement):
    """`bptt.flow` on padded inputs with the readout loss at `placement`: (loss, hs, gates,
    grads), numpy, at padded_length(length) steps (xs cut or zero-padded to it; cut to
    `length` by the caller). The placement is data, so both placements share one compiled
    program; the cell runs at its `padded_width`, cut back to its H units on the host.

    No mask is needed past `length`: those steps come after every real one, and nothing
    flows back from them (the loss reads none of them: their cotangents are exact zeros,
    which the vjps of tanh, relu (a select) and the gates keep zero even where a state
    past `length` overflows)."""
    if placement not in LOSS_PLACEMENTS:
        raise ValueError(f"loss placement must be one of {LOSS_PLACEMENTS}")
    H = params.w_hh.shape[1]
    padded = pad_units(cell, params, padded_width(H))
    xs = fit_steps(xs, padded_length(length))
    loss, hs, gates, grads = _flow_program(cell, padded, xs, np.int32(length),
                                           np.bool_(placement == "last"), np.int32(H))
    cut = lambda a: np.asarray(a)[..., :H]  # noqa: E731
    return (np.asarray(loss), cut(hs), {k: cut(v) for k, v in gates.items()},
            {k: cut(v) for k, v in grads.items()})


@programs.jit(static_argnames=("cell",))
def _flow_program(cell, params, xs, length, read_last, units):
    def loss_fn(hs):
        # Both placements' losses, one selected: the other's cotangent is an exact zero,
        # so the gradients are the same numbers as with that placement alone.
        return jnp.where(read_last, readout_loss(hs, length, "last", units),
                         readout_loss(hs, length, "all", units))

    def run(xs):
        return flow(cell, params, xs, loss_fn)

    # The longest program also runs its first half alone when the sequence fits in it (a
    # branch of one `lax.cond` around the whole pass, no autodiff through it): T = 300
    # pays for 512 steps, not 1024, without a program more. The steps past the half are
    # zeros; the caller cuts every result to T ≤ half steps.
    T, half = xs.shape[0], xs.shape[0] // 2
    if half < PADDED_LENGTHS[0]:
        return run(xs)

    def first_half(xs):
        pad = lambda a: jnp.pad(a, [(0, T - half)] + [(0, 0)] * (a.ndim - 1))  # noqa: E731
        loss, *rest = run(xs[:half])
        return (loss, *jax.tree.map(pad, rest))

    return jax.lax.cond(length <= half, first_half, run, xs)


@dataclass(frozen=True)
class FlowResult:
    """What the gradient-flow page shows; numpy only (cacheable, no jax arrays)."""

    grad_norms: np.ndarray  # (T,) ‖∂L/∂h_t‖ per sequence, RMS over the batch, float64
    grad_map: np.ndarray  # (T, H) |∂L/∂h_t[j]|, RMS over the batch, float32
    cell_grad_norms: np.ndarray | None  # (T,) ‖∂L/∂c_t‖ for the LSTM
    bound: np.ndarray | None  # (T,) Pascanu's (γλ₁)^(T−1−t), vanilla cells only
    lambda1: float  # largest singular value of W_hh (of each gate block, the max)
    facts: claims.ProfileFacts  # what the headline may say about grad_norms
    cell_facts: claims.ProfileFacts | None  # the same for cell_grad_norms
    state_blowup_step: int | None  # first t where h_t is inf/NaN
    grad_blowup_step: int | None  # latest t where ∂L/∂h_t is inf/NaN (going back from T)
    loss: float
    forward: "ForwardStats"
    # relu RNN only, (T,) int: how many (sequence, unit) entries of ∂L/∂h_t are nonzero, and
    # how many of those units are active at t (relu′(a_t) = 1, h_t > 0). Only these pass
    # gradient back: ∂L/∂h_{t−1} = W_hhᵀ(relu′(a_t) ⊙ ∂L/∂h_t) (+ the loss's own term).
    grad_units: np.ndarray | None = None
    passing_units: np.ndarray | None = None

    @property
    def steps_per_decade(self) -> float | None:
        """Steps back per 10× change, quoted only where the decay is geometric."""
        return self.facts.steps_per_decade


@dataclass(frozen=True)
class ForwardStats:
    """The forward pass behind a gradient profile: how large the state is, and how much
    gradient each step's nonlinearity lets through."""

    state_norms: np.ndarray  # (T,) ‖h_t‖, RMS over the batch, float64 (inf past an overflow)
    # (T,) per quantity, mean over batch and units: vanilla cells "slope" = mean act′(a_t)
    # (tanh′ = 1 − h², relu′ = 1 where h > 0); gated cells each gate's saturated fraction.
    per_step: dict
    slope_name: str | None  # "tanh′" or "relu′" for the vanilla cells
    mean_slope: float | None  # mean act′ over all steps, units and sequences
    gate_means: dict  # gate -> mean activation over all steps (gated cells)


def forward_stats(cell: str, hs: np.ndarray, gates: dict) -> ForwardStats:
    """Summaries of a forward pass: hs (T, B, H) and gates name -> (T, B, H), numpy."""
    from rnnviz.engine.jacobians import SIGMOID_THRESHOLDS, TANH_GATES, TANH_THRESHOLDS

    h = np.asarray(hs, np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        state_norms = np.sqrt(np.mean(np.sum(h * h, axis=2), axis=1))
    per_step, slope_name, mean_slope = {}, None, None
    finite = np.isfinite(h).all(axis=(1, 2))
    if cell in ("rnn", "rnn_relu"):
        slope_name = "tanh′" if cell == "rnn" else "relu′"
        with np.errstate(over="ignore", invalid="ignore"):
            slope = 1.0 - h * h if cell == "rnn" else (h > 0).astype(np.float64)
        per_step[slope_name] = np.where(finite, slope.mean(axis=(1, 2)), np.nan)
        mean_slope = float(slope[finite].mean()) if finite.any() else None
    gate_means = {}
    for name, a in gates.items():
        if name == "c":
            continue
        a = np.asarray(a, np.float64)
        low, high = TANH_THRESHOLDS if name in TANH_GATES else SIGMOID_THRESHOLDS
        with np.errstate(invalid="ignore"):
            per_step[name] = np.where(finite, ((a < low) | (a > high)).mean(axis=(1, 2)), np.nan)
        gate_means[name] = float(a[finite].mean()) if finite.any() else float("nan")
    return ForwardStats(state_norms, per_step, slope_name, mean_slope, gate_means)


def gradient_flow(c: FlowConfig, params=None, xs=None) -> FlowResult:
    """Run the experiment of a config: exact ∂L/∂h_t at every step and its summaries.

    Results are cut to T steps on the host: slicing a jax array by a new length would
    compile (and keep) one more XLA program per length.

    Args:
      params, xs: a model's own weights (one layer) and inputs (at least T steps, B, I),
        e.g. an uploaded one's, instead of the config's drawn ones.
    """
    if params is None:
        params, xs = make_params(c), config_inputs(c)
    loss, hs, gates, grads = _padded_flow(c.cell, params, xs, c.T, c.loss)
    g = np.asarray(grads["h"])[: c.T]
    hs = np.asarray(hs)[: c.T]
    norms = per_step_norms(g)
    cell_norms = per_step_norms(np.asarray(grads["c"])[: c.T]) if c.cell == "lstm" else None
    H = c.H
    w_hh = np.asarray(params.w_hh)
    lam1 = max(largest_singular_value(w_hh[k : k + H]) for k in range(0, w_hh.shape[0], H))
    return FlowResult(
        grad_norms=norms,
        grad_map=per_unit_magnitudes(g).astype(np.float32),  # ≥ 1e-30 fits in float32
        cell_grad_norms=cell_norms,
        bound=pascanu_bound(c.cell, params, c.T),
        lambda1=lam1,
        facts=claims.profile_facts(norms),
        cell_facts=None if cell_norms is None else claims.profile_facts(cell_norms),
        state_blowup_step=first_nonfinite(hs),
        grad_blowup_step=last_nonfinite(g),
        loss=float(loss),
        forward=forward_stats(c.cell, hs, {k: np.asarray(v)[: c.T] for k, v in gates.items()}),
        grad_units=np.count_nonzero(g, axis=(1, 2)) if c.cell == "rnn_relu" else None,
        passing_units=(np.count_nonzero((g != 0) & (hs > 0), axis=(1, 2))
                       if c.cell == "rnn_relu" else None),
    )


def summary_sentence(r: FlowResult, T: int) -> str:
    """The headline: one sentence about the drawn curve, computed from it (claims.py)."""
    if r.state_blowup_step is not None:
        return f"The hidden state overflowed at step {r.state_blowup_step}: the network blew up."
    return claims.profile_headline(r.facts)


def forward_sentence(r: FlowResult) -> str:
    """What the forward-pass panel shows, in one or two sentences computed from it."""
    f = r.forward
    parts = []
    if r.state_blowup_step is not None:
        growth = claims.growth_per_step(f.state_norms, end=r.state_blowup_step)
        parts.append(
            f"‖h_t‖ grows {growth:.2f}× per step on average until it leaves float32's range "
            f"at step {r.state_blowup_step}." if growth is not None else
            f"‖h_t‖ leaves float32's range at step {r.state_blowup_step}.")
    if f.slope_name == "tanh′" and f.mean_slope is not None:
        parts.append(
            f"The mean slope tanh′(a_t) over steps, units and sequences is {f.mean_slope:.2f}: "
            "tanh′ is 1 only at a = 0 and falls towards 0 in the tails, so each step back "
            "scales the gradient by W_hh and then by these slopes.")
    elif f.slope_name == "relu′" and f.mean_slope is not None:
        parts.append(
            f"On average {f.mean_slope:.0%} of the relu units are active (relu′ = 1): the "
            "gradient passes through those unchanged and not at all through the rest.")
    if f.gate_means:
        means = ", ".join(f"{name} = {round(m, 2) + 0.0:.2f}" for name, m in f.gate_means.items()
                          if np.isfinite(m))
        if means:
            parts.append(f"Mean gate activations: {means}.")
    return " ".join(parts)


def blowup_explanation(r: FlowResult, T: int) -> str | None:
    """Why there are inf/NaN values and where they began; None when everything is finite."""
    if r.state_blowup_step is not None:
        return (
            f"The hidden state h_t exceeded float32's range (about 3.4e38) at step "
            f"{r.state_blowup_step}. Each step multiplied it by more than 1 (λ₁ = "
            f"{r.lambda1:.2f}), so after enough steps it overflowed and every later value, "
            "and the whole gradient, is inf or NaN. Lower the gain or spectral radius, or use "
            "tanh, which cannot blow up the state."
        )
    if r.grad_blowup_step is not None:
        return (
            f"The gradient overflowed float32 (above about 3.4e38) at step "
            f"{r.grad_blowup_step} and before it: going back in time it grew at every step "
            f"until it no longer fits in a number. This is the exploding gradient; training "
            "would need gradient clipping (Pascanu et al. 2013) or a smaller W_hh."
        )
    return None


# ---------------------------------------------------------------------------------------
# The closed catalogue of pages 1-5's programs (rnnviz/experiments/catalogue.py)


def _zero_params(cell: str, width: int) -> CellParams:
    G = GATE_BLOCKS[cell]
    z = lambda *shape: np.zeros(shape, np.float32)  # noqa: E731
    return CellParams(z(G * width, INPUT_SIZE), z(G * width, width), z(G * width), z(G * width))


def _flow_label(cell: str, width: int, length: int) -> str:
    return f"{cell}, T ≤ {length}, H ≤ {width}"


def _width_label(cell: str, width: int) -> str:
    return f"{cell}, H ≤ {width}"


def program_labels(c: FlowConfig) -> set[tuple[str, str]]:
    """(family, label) of every catalogue program that the five pages run for a config."""
    return {("gradient flow", _flow_label(c.cell, padded_width(c.H), padded_length(c.T))),
            ("jacobians", _width_label(c.cell, padded_width(c.H, ANALYSIS_UNITS))),
            ("connectivity", _width_label(c.cell, padded_width(c.H, ANALYSIS_UNITS))),
            ("inputs", "every kind")}


def first_configs() -> list[FlowConfig]:
    """The defaults and the presets of the single-layer pages (every cell for one on Compare
    cells, as that page shows them): what a class opens first."""
    from rnnviz.experiments.presets import COMPARE, FLOW, PRESETS

    configs = [FlowConfig()]
    for preset in PRESETS:
        if preset.page in (FLOW, COMPARE):
            config = FlowConfig.from_query(preset.query)[0]
            cells = CELLS if preset.page == COMPARE else (config.cell,)
            configs += [FlowConfig(**{**asdict(config), "cell": cell}) for cell in cells]
    return configs


def catalogue() -> list[Program]:
    """Every program of pages 1-5 (Gradient flow, Compare cells, Gate activations, Why it
    vanishes, Connectivity), each called once at its padded shapes: one-pass gradients per
    cell, width and padded length; the Jacobian analyses and the connectivity map per cell
    and width; the inputs of every kind. A model a visitor uploads runs at its own shapes
    (outside the catalogue) only where it is wider than 128 units or reads other inputs."""
    first = set().union(*(program_labels(c) for c in first_configs()))
    listed = []

    def add(family, label, fun, *args):
        listed.append(Program(family, label, functools.partial(fun, *args),
                              (family, label) in first))

    for cell in CELLS:
        for width in PADDED_UNITS:
            for length in PADDED_LENGTHS:
                add("gradient flow", _flow_label(cell, width, length), _flow_program, cell,
                    _zero_params(cell, width), np.zeros((length, BATCH, INPUT_SIZE), np.float32),
                    np.int32(2), np.bool_(True), np.int32(width))
    for cell in CELLS:
        for width in ANALYSIS_UNITS:
            c = FlowConfig(cell=cell, H=width)
            add("jacobians", _width_label(cell, width), _jacobian_program,
                *_jacobian_args(c, _zero_params(cell, width),
                                np.zeros((LONGEST, BATCH, INPUT_SIZE), np.float32)))
    for cell in CELLS:
        for width in ANALYSIS_UNITS:
            add("connectivity", _width_label(cell, width), _connectivity_call, cell, width)
    add("inputs", "every kind", _seeded_inputs, np.int32(0), np.int32(0), np.int32(2))
    return listed


def _connectivity_call(cell: str, width: int):
    """The connectivity map's program at its padded shapes, as `connectivity_map` calls it
    (through `jacobians.connectivity`: forward mode, MAX_MAP_STEPS slots, a length)."""
    from rnnviz.engine import jacobians

    return jacobians.connectivity(cell, _zero_params(cell, width),
                                  np.zeros((LONGEST, BATCH, INPUT_SIZE), np.float32), length=2,
                                  slots=MAX_MAP_STEPS)


@dataclass(frozen=True)
class GateResult:
    """The forward pass of one sequence of a config: states and gates, numpy only."""

    h: np.ndarray  # (T, H) hidden state of the first sequence
    c: np.ndarray | None  # (T, H) LSTM cell state
    gates: dict  # name -> (T, H) activations of the first sequence
    saturation: dict  # name -> jacobians.GateSaturation over the whole batch
    horizon: object | None  # jacobians.ForgetHorizon for the LSTM
    state_blowup_step: int | None  # first t where some h_t is inf/NaN


def gate_activity(c: FlowConfig, params=None, xs=None) -> GateResult:
    """Gates and states over time for a config (the same compiled pass as `gradient_flow`).

    Args:
      params, xs: a model's own weights (one layer) and inputs (at least T steps, B, I),
        e.g. a layer of an uploaded one (model_layers.layer_view), instead of the drawn ones.
    """
    from rnnviz.engine.jacobians import forget_horizon, gate_saturation

    if params is None:
        params, xs = make_params(c), config_inputs(c)
    _, hs, gates, _ = _padded_flow(c.cell, params, xs, c.T, c.loss)
    gates = {name: np.asarray(a)[: c.T] for name, a in gates.items()}
    cell_state = gates.pop("c", None)
    return GateResult(
        h=np.asarray(hs)[: c.T, 0],
        c=None if cell_state is None else cell_state[:, 0],
        gates={name: gates[name][:, 0] for name in GATE_NAMES[c.cell]},  # i, f, g, o order
        saturation=gate_saturation(gates),
        horizon=forget_horizon(gates["f"]) if c.cell == "lstm" else None,
        state_blowup_step=first_nonfinite(np.asarray(hs)[: c.T]),
    )


def map_stride(T: int) -> int:
    """Sampling stride for the (t, s) maps: one per length bucket, at most MAX_MAP_STEPS
    steps sampled."""
    return max(1, bucket(T) // MAX_MAP_STEPS)


def jacobian_slots(H: int) -> int:
    """How many steps the Jacobian page samples at most for a cell of H units (an uploaded
    model's wider layer: as many as the widest drawn cell)."""
    return JACOBIAN_STEPS.get(padded_width(H, ANALYSIS_UNITS), min(JACOBIAN_STEPS.values()))


def jacobian_stride(T: int, H: int) -> int:
    """Sampling stride of the Jacobian page: one per length bucket and width, at most
    `jacobian_slots(H)` steps sampled."""
    return max(1, bucket(T) // jacobian_slots(H))


# The Jacobian analyses carry H×H matrices per sequence (H times the cost of a gradient):
# they run on the first sequence of the batch only.
JACOBIAN_SEQUENCES = 1
# An SVD of an S×S step Jacobian costs O(S³) (S = H, 2H for the LSTM; 3 ms at S = 256 on
# this machine): the widest cells sample fewer steps, so no view costs more than ~0.2 s.
JACOBIAN_STEPS = {32: MAX_MAP_STEPS, 64: MAX_MAP_STEPS, 128: MAX_MAP_STEPS // 2}
JACOBIAN_TIME_CHUNK = 16  # step Jacobians (B, S, S) alive at once in the singular values


@programs.jit(static_argnames=("cell",), one_at_a_time=True)  # SVDs
def _jacobian_program(cell, params, xs, length, steps, stride, units):
    """Both analyses of the Jacobian page in one program per cell and padded width, for
    every length and stride: the singular values of J_t at the sampled `steps` (-1: an
    empty slot, skipped), log10 ‖∂h_{length−1}/∂h_t‖₂ (steps ≥ length skipped), and
    whether every h_t is finite (T,). Padded units are masked in both (`units`)."""
    from rnnviz.engine.bptt import jacobian_log10_norms, unroll
    from rnnviz.engine.jacobians import _step_jacobian_svals

    svals = _step_jacobian_svals(cell, params, xs, None, steps, JACOBIAN_TIME_CHUNK, units)
    log_profile = jacobian_log10_norms(cell, params, xs, None, length, 2, stride, units)
    finite = jnp.isfinite(unroll(cell, params, xs)[0]).all(axis=(1, 2))
    return svals, log_profile, finite


def _jacobian_args(c: FlowConfig, params, longest):
    """The arguments of `_jacobian_program` for a config: the cell padded to its width, the
    first sequences at LONGEST steps, and the length, sampled steps, stride and real units
    as data."""
    from rnnviz.engine.jacobians import _sampled_slots

    H = params.w_hh.shape[1]
    stride = jacobian_stride(c.T, H)
    return (c.cell, pad_units(c.cell, params, padded_width(H, ANALYSIS_UNITS)),
            fit_steps(np.asarray(longest)[:, :JACOBIAN_SEQUENCES], LONGEST), np.int32(c.T),
            _sampled_slots(c.T, stride, jacobian_slots(H), multiple=JACOBIAN_TIME_CHUNK),
            np.int32(stride), np.int32(H))


@dataclass(frozen=True)
class JacobianResult:
    """Why the gradient vanishes: spectrum, step Jacobians and their product, numpy only."""

    spectrum: object  # jacobians.Spectrum of W_hh (per gate block)
    verdict: object  # jacobians.Verdict (Pascanu et al. 2013)
    steps: np.ndarray  # (n,) sampled time steps: 0, stride, 2·stride, …
    stride: int  # jacobian_stride(T, H)
    svals: np.ndarray  # (3, n) smallest, median, largest singular value of J_t
    profile: np.ndarray  # (n,) ‖∂h_T/∂h_t‖₂ at `steps`, geometric mean over the sequences
    bound: np.ndarray | None  # (T,) (γλ₁)^(T−1−t), vanilla cells
    state_blowup_step: int | None


def jacobian_analysis(c: FlowConfig, params=None, xs=None) -> JacobianResult:
    """Spectrum of W_hh, singular values of J_t = ∂h_t/∂h_{t−1}, and ‖∂h_T/∂h_t‖ for a config.

    Args:
      params, xs: a model's own weights (one layer) and inputs (at least T steps), instead
        of the drawn ones.
    """
    from rnnviz.engine import jacobians

    if params is None:
        params, xs = make_params(c), config_inputs(c)
    svals, log_profile, finite = _jacobian_program(*_jacobian_args(c, params, xs))
    stride = jacobian_stride(c.T, params.w_hh.shape[1])
    steps = jacobians.sampled_steps(c.T, stride)
    # The padded matrix's singular values are J_t's followed by zeros: keep J_t's S.
    svals = np.asarray(svals)[: len(steps), :, : jacobians.state_size(c.cell, params)]
    log_profile = np.asarray(log_profile, np.float64)
    with np.errstate(invalid="ignore"):
        profile = np.power(10.0, np.mean(log_profile[steps], axis=1))  # geometric mean
    bad = ~np.asarray(finite)[: c.T]
    return JacobianResult(
        spectrum=jacobians.w_hh_spectrum(c.cell, params),
        verdict=jacobians.pascanu_verdict(c.cell, params),
        steps=steps,
        stride=stride,
        svals=jacobians.singular_value_quantiles(svals),
        profile=profile,
        bound=None if (b := pascanu_bound(c.cell, params, c.T)) is None else b[steps],
        state_blowup_step=int(np.argmax(bad)) if bad.any() else None,
    )


@dataclass(frozen=True)
class ConnectivityResult:
    """‖∂h_t/∂x_s‖ over output step t × input step s (log10), numpy only."""

    steps: np.ndarray  # (n,) sampled time steps (both axes)
    log10_map: np.ndarray  # (n, n) log10 ‖∂h_t/∂x_s‖_F, RMS over the batch; NaN for s > t
    by_lag: np.ndarray  # (n,) mean log10 over the diagonals t − s = lag·stride
    stride: int
    state_blowup_step: int | None


def connectivity_map(c: FlowConfig, params=None, xs=None) -> ConnectivityResult:
    """The connectivity map of Madsen 2019 (Distill), computed exactly for a config.

    Args:
      params, xs: a model's own weights (one layer) and inputs (at least T steps),
        instead of the drawn ones.
    """
    from rnnviz.engine import jacobians

    # One program per cell and width for every length and stride: the inputs padded to
    # LONGEST steps, whose padded steps the map skips, MAX_MAP_STEPS sampled steps (the
    # unused ones empty), and the cell padded to its width. Added units have no tangent
    # (their states stay 0), so the norms are the cell's own.
    if params is None:
        params, xs = make_params(c), config_inputs(c)
    xs = fit_steps(xs, LONGEST)
    stride = map_stride(c.T)
    padded = pad_units(c.cell, params, padded_width(params.w_hh.shape[1], ANALYSIS_UNITS))
    logs = jacobians.connectivity(c.cell, padded, xs, length=c.T, stride=stride,
                                  slots=MAX_MAP_STEPS)
    hs = _padded_flow(c.cell, params, xs, c.T, c.loss)[1]
    return ConnectivityResult(
        steps=jacobians.sampled_steps(c.T, stride),
        log10_map=logs.astype(np.float32),
        by_lag=jacobians.connectivity_profile(logs),
        stride=stride,
        state_blowup_step=first_nonfinite(np.asarray(hs)[: c.T]),
    )


# ---------------------------------------------------------------------------------------
# One knob, several values, one chart (Gradient flow's overlay)

# knob -> values offered when the student picks the knob and types none
OVERLAY_DEFAULTS = {
    "gain": ("0.9", "1.0", "1.1"),
    "forget_bias": ("0", "1", "3", "5"),
    "update_bias": ("0", "1", "3"),
    "T": ("50", "100", "200", "400"),
    "init": SCHEMES,
    "H": ("8", "32", "128"),
    "inputs": INPUT_KINDS,
    "seed": ("0", "1", "2"),
}
MAX_OVERLAY = 6
_FIELD = {f.key: f for f in FIELDS}


class Overlay(NamedTuple):
    """Which knob to vary on one chart, and its values (parsed, in the order given)."""

    knob: str | None = None
    values: tuple = ()

    @classmethod
    def from_query(cls, raw) -> tuple["Overlay", list[str]]:
        """From the URL keys `vary` (a knob) and `values` (comma-separated), with notices.

        An unknown knob switches the overlay off; a bad value is dropped with a notice;
        no values give the knob's defaults; at most MAX_OVERLAY values are kept.
        """
        knob, notice = cfg.parse_value(VARY_FIELD, raw.get("vary"))
        notices = [notice] if notice else []
        if knob is None:
            return cls(), notices
        text = raw.get("values")
        if isinstance(text, (list, tuple)):
            text = text[-1] if text else None
        items = [v.strip() for v in str(text or "").split(",") if v.strip()]
        values = []
        for item in items or OVERLAY_DEFAULTS[knob]:
            value, bad = cfg.parse_value(_FIELD[knob], item)
            if bad:
                notices.append(f"“{knob} = {item[:40]}” is not offered ({_FIELD[knob].bounds_text()}); left out.")
            elif value not in values:
                values.append(value)
        if len(values) > MAX_OVERLAY:
            notices.append(f"At most {MAX_OVERLAY} values are drawn at once; the first "
                           f"{MAX_OVERLAY} are kept.")
        return cls(knob, tuple(values[:MAX_OVERLAY])), notices

    def to_query(self) -> dict[str, str]:
        if self.knob is None:
            return {}
        return {"vary": self.knob, "values": ",".join(_value_text(v) for v in self.values)}


VARY_FIELD = cfg.Field("vary", None, str, choices=tuple(OVERLAY_DEFAULTS), optional=True,
                       label="Compare values of")


def _value_text(v) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def overlay_configs(base: FlowConfig, overlay: Overlay) -> list[tuple[str, FlowConfig]]:
    """(label, config) for each value of the overlay's knob, everything else as in base."""
    from dataclasses import replace

    if overlay.knob is None:
        return []
    return [(f"{overlay.knob} = {_value_text(v)}", replace(base, **{overlay.knob: v}))
            for v in overlay.values]
