"""The gradient-flow experiment: its settings, and one cached-friendly entry point.

Sequence lengths are padded to a few buckets so that dragging the length slider reuses a
compiled program instead of waiting for XLA; inputs are drawn once at the longest length so
a longer sequence extends the same one. `warm_up` compiles the programs of every view ahead
of need.
"""
from dataclasses import asdict, dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from rnnviz import claims
from rnnviz import config as cfg
from rnnviz import programs
from rnnviz.cells import CELLS, GATE_BLOCKS, GATE_NAMES, CellParams
from rnnviz.flow import (
    FLOOR,
    LOSS_PLACEMENTS,
    first_nonfinite,
    flow,
    last_nonfinite,
    pascanu_bound,
    per_step_norms,
    per_unit_magnitudes,
    readout_loss,
)
from rnnviz.init import RADIUS_KINDS, SCHEMES, init_params, largest_singular_value
from rnnviz.tasks import INPUT_KINDS, adding_problem, make_inputs

MAX_T = 1000
# Each bucket is one more compiled program per (page, cell, H): 0.5-1 s of compile each.
# Below 64 steps padding costs nothing measurable; the maps, whose cost grows with T², keep
# a bucket at 128.
LENGTH_BUCKETS = (64, 128, 256, 512, 1024)
HIDDEN_SIZES = (8, 16, 32, 64, 128)
BATCH = 8  # sequences per computation; norms are RMS over them
MAX_MAP_STEPS = 256  # connectivity and Jacobian maps sample at most this many steps
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
    """The padded length a sequence of T steps runs at."""
    return next(b for b in LENGTH_BUCKETS if b >= T)


def make_params(c: FlowConfig):
    """The cell's weights for a config (keyed by its seed)."""
    return init_params(
        jax.random.PRNGKey(c.seed),
        c.cell,
        INPUT_SIZE,
        c.H,
        scheme=c.init,
        gain=c.gain,
        spectral_radius=c.radius,
        radius_kind=c.radius_kind,
        forget_bias=c.forget_bias,
        chrono_tmax=c.chrono,
        update_bias=c.update_bias,
    )


def params_and_inputs(c: FlowConfig, padded: int | None = None):
    """The weights and the inputs (padded, BATCH, INPUT_SIZE) of a config, padded to
    bucket(T) steps unless `padded` says otherwise."""
    # The inputs' key is fold_in(seed key, 1), derived inside the program (eagerly, fold_in
    # is one more program to compile on a server's first view).
    inputs = _longest_inputs(jax.random.PRNGKey(c.seed), c.inputs, c.T, fold_in=1)
    return make_params(c), np.asarray(inputs)[: padded or bucket(c.T)]


def padded_inputs(key, kind: str, length: int, padded: int) -> np.ndarray:
    """Inputs (padded, BATCH, INPUT_SIZE) whose first `length` steps are the sequence.

    Drawn at the longest length and cut on the host, so the sequence at T is a prefix of
    the one at T+1 and one compiled program serves every length; the adding problem places
    its markers within `length`.
    """
    return np.asarray(_longest_inputs(key, kind, length))[:padded]


@programs.jit(static_argnames=("kind",), quick_compile=True)
def _longest_inputs(key, kind: str, length, fold_in=None):
    if fold_in is not None:
        key = jax.random.fold_in(key, fold_in)
    if kind == "adding":
        return adding_problem(key, LENGTH_BUCKETS[-1], BATCH, length=length)[0]
    return make_inputs(key, kind, LENGTH_BUCKETS[-1], BATCH, INPUT_SIZE)


# The one-pass program runs at one of these widths: a cell of H ≤ 32 units is padded to 32,
# one of 33-128 to 128, with units that stay exactly 0 (see `pad_units`), so the five hidden
# sizes of a page share two programs per cell and bucket instead of five. Wider uploaded
# cells run at their own width.
PADDED_UNITS = (32, 128)
# The connectivity map's forward mode costs ∝ H² per step (4× from 64 to 128 units, more
# than a compile at long T), so there only the small sizes share the width of 32.
MAP_PADDED_UNITS = (32,)


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
    if width == H:
        return params

    def rows(a):  # (G·H, ...) -> (G·width, ...), each gate block padded with zero rows
        a = np.asarray(a)
        blocks = a.reshape(G, H, *a.shape[1:])
        pad = [(0, 0), (0, width - H)] + [(0, 0)] * (a.ndim - 1)
        return np.pad(blocks, pad).reshape(G * width, *a.shape[1:])

    w_hh = np.pad(rows(params.w_hh), [(0, 0), (0, width - H)])
    return CellParams(rows(params.w_ih), w_hh, rows(params.b_ih), rows(params.b_hh))


def _padded_flow(cell, params, xs, length, placement):
    """`flow.flow` on padded inputs with the readout loss at `placement`: (loss, hs, gates,
    grads), numpy. The placement is data, so both placements share one compiled program;
    the cell runs at its `padded_width`, cut back to its H units on the host."""
    if placement not in LOSS_PLACEMENTS:
        raise ValueError(f"loss placement must be one of {LOSS_PLACEMENTS}")
    H = params.w_hh.shape[1]
    padded = pad_units(cell, params, padded_width(H))
    loss, hs, gates, grads = _flow_program(cell, padded, xs, length,
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

    return flow(cell, params, xs, loss_fn)


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
    from rnnviz.analysis import SIGMOID_THRESHOLDS, TANH_GATES, TANH_THRESHOLDS

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
      params, xs: a model's own weights (one layer) and padded inputs (bucket(T), B, I),
        e.g. an uploaded one's, instead of the config's drawn ones.
    """
    if params is None:
        params, xs = params_and_inputs(c)
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


# The hidden sizes in the order the warm-up compiles them: the default first.
WARM_HIDDEN_SIZES = (32, 16, 64, 8, 128)
WARM_BUCKETS = (128, 256, 512, 64, 1024)  # the default T = 100 first, then the long ones
# One cell per gate count G: a weight draw is one program per (G, initialisation, H).
DRAW_CELLS = ("rnn", "gru", "lstm")


def warm_up_plan(first=(), then=()) -> list:
    """(view, config) pairs whose programs are every program of the single-layer views:
    those of `first` (configs, e.g. the presets') first, then the default hidden size's,
    then the (view, config) pairs `then` (e.g. other pages' defaults), then the other
    sizes'. Within a hidden size: the weight draws of every initialisation, the one-pass
    gradients of every cell and length bucket (Gradient flow, Compare cells, Gate
    activations), then the Jacobian analysis and the connectivity map, whose programs
    serve every length (one per cell and H, one per cell and map width). The programs depend on the cell,
    H, the length bucket, the initialisation (the draw), chrono on or off, and the inputs'
    kind, not on the other settings (data)."""
    plan = [(gradient_flow, c) for c in first]
    plan += [(view, c) for c in first for view in (jacobian_analysis, connectivity_map)]
    plan += [(gradient_flow, FlowConfig(inputs=kind)) for kind in INPUT_KINDS]
    for H in WARM_HIDDEN_SIZES:
        plan += [(make_params, FlowConfig(cell=cell, H=H, init=scheme))
                 for scheme in SCHEMES for cell in DRAW_CELLS]
        plan.append((make_params, FlowConfig(cell="lstm", H=H, chrono=MAX_T)))
        plan += [(gradient_flow, FlowConfig(cell=cell, H=H, T=min(b, MAX_T)))
                 for b in WARM_BUCKETS for cell in CELLS]
        # One Jacobian program per (cell, H) and one map per cell and width, for every length.
        plan += [(jacobian_analysis, FlowConfig(cell=cell, H=H)) for cell in CELLS]
        if padded_width(H, MAP_PADDED_UNITS) == H:
            plan += [(connectivity_map, FlowConfig(cell=cell, H=H)) for cell in CELLS]
        if H == WARM_HIDDEN_SIZES[0]:
            plan += list(then)
    return plan


def warm_up(plan, should_stop=lambda: False, on_error=None, patient: bool = True) -> int:
    """Compile the programs of every (view, config) in `plan` without computing the views
    (`programs.compile_only`), in the background (`programs.in_background`: at the lowest
    priority, giving way to every visitor's compile, and if `patient` pausing while
    visitors are active). Returns how many were warmed.

    Safe to run from several threads over one shared iterator of the plan (each takes the
    next item). A view that fails on the zeros it is given is skipped (on_error(view, c, e)).
    """
    done = 0
    with programs.in_background(patient), programs.compile_only(), np.errstate(all="ignore"):
        for view, c in plan:
            if should_stop():
                break
            try:
                view(c)
                done += 1
            except Exception as e:  # noqa: BLE001  (a warm-up never stops the server)
                if on_error is not None:
                    on_error(view, c, e)
    return done


@dataclass(frozen=True)
class GateResult:
    """The forward pass of one sequence of a config: states and gates, numpy only."""

    h: np.ndarray  # (T, H) hidden state of the first sequence
    c: np.ndarray | None  # (T, H) LSTM cell state
    gates: dict  # name -> (T, H) activations of the first sequence
    saturation: dict  # name -> analysis.GateSaturation over the whole batch
    horizon: object | None  # analysis.ForgetHorizon for the LSTM
    state_blowup_step: int | None  # first t where some h_t is inf/NaN


def gate_activity(c: FlowConfig, params=None, xs=None) -> GateResult:
    """Gates and states over time for a config (the same compiled pass as `gradient_flow`).

    Args:
      params, xs: a model's own weights (one layer) and padded inputs (bucket(T), B, I),
        e.g. a layer of an uploaded one (model_layers.layer_view), instead of the drawn ones.
    """
    from rnnviz.analysis import forget_horizon, gate_saturation

    if params is None:
        params, xs = params_and_inputs(c)
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


@programs.jit(static_argnames=("cell",), one_at_a_time=True)  # SVDs
def _padded_profile(cell, params, xs, length, every):
    from rnnviz.flow import jacobian_log10_norms

    return jacobian_log10_norms(cell, params, xs, None, length, 2, every)


# The Jacobian analyses carry H×H matrices per sequence (H times the cost of a gradient):
# they run on the first sequences of the batch only.
JACOBIAN_SEQUENCES = 2


@dataclass(frozen=True)
class JacobianResult:
    """Why the gradient vanishes: spectrum, step Jacobians and their product, numpy only."""

    spectrum: object  # analysis.Spectrum of W_hh (per gate block)
    verdict: object  # analysis.Verdict (Pascanu et al. 2013)
    steps: np.ndarray  # (n,) sampled time steps (every map_stride(T)-th)
    svals: np.ndarray  # (3, n) smallest, median, largest singular value of J_t
    profile: np.ndarray  # (n,) ‖∂h_T/∂h_t‖₂ at `steps`, geometric mean over the sequences
    bound: np.ndarray | None  # (T,) (γλ₁)^(T−1−t), vanilla cells
    state_blowup_step: int | None


def jacobian_analysis(c: FlowConfig, params=None, xs=None) -> JacobianResult:
    """Spectrum of W_hh, singular values of J_t = ∂h_t/∂h_{t−1}, and ‖∂h_T/∂h_t‖ for a config.

    Args:
      params, xs: a model's own weights (one layer) and padded inputs (at least bucket(T)
        steps), instead of the drawn ones.
    """
    from rnnviz import analysis

    # One program per (cell, H) for every length and stride, as the connectivity maps:
    # the inputs padded to the longest bucket, whose padded steps are skipped, and
    # MAX_MAP_STEPS sampled steps, the unused ones empty.
    if params is None:
        params, longest = params_and_inputs(c, padded=LENGTH_BUCKETS[-1])
    else:
        longest = np.asarray(xs)
    all_xs = longest[: bucket(c.T)]
    stride = map_stride(c.T)
    xs = longest[:, :JACOBIAN_SEQUENCES]
    svals = analysis.step_jacobian_singular_values(c.cell, params, xs, length=c.T, stride=stride,
                                                   slots=MAX_MAP_STEPS)
    steps = analysis.sampled_steps(c.T, stride)
    log_profile = np.asarray(_padded_profile(c.cell, params, xs, c.T, np.int32(stride)),
                             np.float64)
    with np.errstate(invalid="ignore"):
        profile = np.power(10.0, np.mean(log_profile[steps], axis=1))  # geometric mean
    # The other pages' compiled pass over all the sequences (not one more program for
    # these two); its first sequences are these.
    hs = np.asarray(_padded_flow(c.cell, params, all_xs, c.T, c.loss)[1])[:, :JACOBIAN_SEQUENCES]
    return JacobianResult(
        spectrum=analysis.w_hh_spectrum(c.cell, params),
        verdict=analysis.pascanu_verdict(c.cell, params),
        steps=steps,
        svals=analysis.singular_value_quantiles(svals),
        profile=profile,
        bound=None if (b := pascanu_bound(c.cell, params, c.T)) is None else b[steps],
        state_blowup_step=first_nonfinite(np.asarray(hs)[: c.T]),
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
      params, xs: a model's own weights (one layer) and padded inputs (at least bucket(T)
        steps), instead of the drawn ones.
    """
    from rnnviz import analysis

    # One program per cell and width for every length and stride: the inputs padded to the
    # longest bucket, whose padded steps the map skips, MAX_MAP_STEPS sampled steps (the
    # unused ones empty), and H = 8, 16 run at 32 units. Added units have no tangent (their
    # states stay 0), so the norms are the cell's own.
    if params is None:
        params, xs = params_and_inputs(c, padded=LENGTH_BUCKETS[-1])
    stride = map_stride(c.T)
    padded = pad_units(c.cell, params, padded_width(c.H, MAP_PADDED_UNITS))
    logs = analysis.connectivity(c.cell, padded, xs, length=c.T, stride=stride,
                                 slots=MAX_MAP_STEPS)
    hs = _padded_flow(c.cell, params, xs[: bucket(c.T)], c.T, c.loss)[1]
    return ConnectivityResult(
        steps=analysis.sampled_steps(c.T, stride),
        log10_map=logs.astype(np.float32),
        by_lag=analysis.connectivity_profile(logs),
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
