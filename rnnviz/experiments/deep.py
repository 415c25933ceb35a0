"""The deep & bidirectional experiment: a stack of layers, one or two directions, and where
the loss reads. Built on the same network code, one-pass gradients and connectivity as the
single-layer pages (bptt.py, jacobians.py); the loss position is data (a mask), so moving
it never recompiles.
"""
from dataclasses import asdict, dataclass, replace

import jax
import jax.numpy as jnp
import numpy as np

from rnnviz.engine import config as cfg
from rnnviz.engine import jacobians, programs
from rnnviz.engine.bptt import (FLOOR, _carries0, _join_directions, _network_scan, first_nonfinite,
                                flow, network_norms, no_dependence, per_layer_arrays, unroll)
from rnnviz.engine.cells import CELLS, GATE_BLOCKS, STEPS, CellParams, Network, as_network
from rnnviz.engine.programs import Program
from rnnviz.experiments import claims, one_layer, presets

MAX_LAYERS = 4
MAX_T = 400  # layers × directions × T × H is what a shared server pays for
HIDDEN_SIZES = (8, 16, 32, 64)
READS = ("last", "first", "middle", "all")
READ_LABELS = {"last": "the last step", "first": "the first step",
               "middle": "the middle step", "all": "every step (summed)"}
CONNECTIVITY_SEQUENCES = 1  # the maps cost ∝ sequences × layers × directions × T × H²
# The page's maps sample at most this many steps per axis, evenly over T (`map_stride`):
# a two-way map pays for every slot, and 64 made the page a class's slowest (p95 2.3 s of
# 30 students, scripts/class_load.py). 32 keeps T = 400 at 31 steps (25 before) and short
# sequences finer (T = 64: 32 steps, 16 before); T = 150-256 is coarser (30-32, was 38-64).
MAX_MAP_STEPS = 32
# The page's own networks run padded to the largest form the page offers (`pad_network`):
# MAX_LAYERS layers of two directions, PADDED_T steps, one of PADDED_WIDTHS. So every
# setting is data and the page needs two programs per cell and width (gradients, maps), 16
# in all, where it compiled one per cell × layers × directions × H × length bucket (~650).
# The price is run time on small settings (measured on 2 CPU cores shared with other work,
# warm runs, before → after): the default view (LSTM, 2 layers, both ways, H = 16,
# T = 100) 0.02 → 0.07 s for the gradients and 0.11 → 0.19 s for both maps; the largest
# (4 layers, both ways, H = 64, T = 400) 0.28 → 0.24 s and 2.1-2.6 → 2.6 s. Each first view
# of a new setting compiled for 2-9 s before.
PADDED_T = MAX_T
# H of 8 and 16 run at 16, H of 32 and 64 at 64: the map's cost grows as H², so H = 32
# pays ~4× there (0.18 → 0.73 s for both maps at 2 layers, T = 100), the gradients ~5×
# (0.04 → 0.22 s); a width of 32 would cost 4 more programs per family.
PADDED_WIDTHS = (16, 64)

# Gradient flow's settings with this page's own bounds and defaults, and three more.
_OWN = {"cell": dict(default="lstm"), "T": dict(hi=MAX_T),
        "H": dict(default=16, choices=HIDDEN_SIZES)}
FIELDS = tuple(replace(f, **_OWN.get(f.key, {})) for f in one_layer.FIELDS if f.key != "loss") + (
    cfg.Field("layers", 2, int, 1, MAX_LAYERS, label="Layers"),
    cfg.Field("bidirectional", True, bool, label="Bidirectional"),
    cfg.Field("read", "last", str, choices=READS, label="Loss reads"),
)


@dataclass(frozen=True)
class DeepConfig:
    """Every setting of the deep & bidirectional page; build it with `from_query`."""

    cell: str = "lstm"
    T: int = 100
    H: int = 16
    init: str = "orthogonal"
    gain: float = 1.0
    radius: float | None = None
    radius_kind: str = "eigen"
    forget_bias: float = 1.0
    chrono: int | None = None
    update_bias: float = 0.0
    inputs: str = "noise"
    seed: int = 0
    layers: int = 2
    bidirectional: bool = True
    read: str = "last"

    @classmethod
    def from_query(cls, raw) -> tuple["DeepConfig", list[str]]:
        values, notices = cfg.parse(FIELDS, raw)
        return cls(**values), notices

    def to_query(self) -> dict[str, str]:
        return cfg.to_query(FIELDS, asdict(self))

    @property
    def directions(self) -> int:
        return 2 if self.bidirectional else 1


def read_mask(read: str, T: int, padded: int) -> np.ndarray:
    """(padded,) float32 weights of the readout at each step: where the loss enters."""
    mask = np.zeros(padded, np.float32)
    if read == "all":
        mask[:T] = 1.0
    else:
        mask[{"first": 0, "middle": (T - 1) // 2, "last": T - 1}[read]] = 1.0
    return mask


def read_steps(read: str, T: int) -> list[int]:
    """The steps where the loss reads, for the page to mark."""
    return list(np.nonzero(read_mask(read, T, T))[0]) if read != "all" else []


def masked_readout_loss(ys, mask, real=None, length=None):
    """L = Σ_t mask_t Σ_b vᵀy_t with v = (1,…,1)/√(D·H): unit-norm readout where mask ≠ 0.

    mask (T,) weighs both directions' halves of y_t alike; mask (T, D) weighs each
    direction's half on its own: with mask[T−1, 0] = mask[0, 1] = 1 the loss reads the
    vector [forward state at T − 1, backward state at 0] through v, Keras's Bidirectional
    output with return_sequences=False (`model_read_mask`).

    For a padded network (mask (T,) only): real (D·H_pad,) bool marks the real features
    (v has √(their count) in its norm, 0 on the others), and the steps t ≥ length are left
    out, so that an overflow in the padding never reaches the loss as 0·inf = NaN.
    """
    if mask.ndim == 2:
        T, B, F = ys.shape
        D = mask.shape[1]
        halves = ys.reshape(T, B, D, F // D).sum(axis=-1) / jnp.sqrt(F)  # (T, B, D)
        return jnp.sum(mask[:, None, :] * halves)
    if real is None:
        readout = ys.sum(axis=-1) / jnp.sqrt(ys.shape[-1])  # (T, B)
    else:
        units = jnp.sum(real).astype(ys.dtype)
        readout = jnp.where(real, ys, 0.0).sum(axis=-1) / jnp.sqrt(units)
    weighted = mask[:, None] * readout
    if length is not None:
        weighted = jnp.where(jnp.arange(ys.shape[0])[:, None] < length, weighted, 0.0)
    return jnp.sum(weighted)


@programs.jit(static_argnames=("cell",))
def _network_flow(cell, params, xs, mask, length):
    def loss_fn(ys):
        return masked_readout_loss(ys, mask)

    loss, ys, _, grads = flow(cell, params, xs, loss_fn, length=length)
    return ys, grads["h"]


# ---------------------------------------------------------------------------------------
# The page's own networks, padded: every setting is data, one program per cell and width


def padded_width(H: int) -> int:
    """The width a layer of H units runs at on this page: the first of PADDED_WIDTHS that
    holds it (H itself beyond them)."""
    return one_layer.padded_width(H, PADDED_WIDTHS)


def _pad_columns(w_ih, H: int, D: int, width: int) -> np.ndarray:
    """w_ih (G·H', D·H) of a layer above the first, reading the [forward, backward] outputs of
    a layer of H units per direction, as it reads the padded layer's [fwd width | bwd width]:
    each direction's H columns at the start of its half, zeros elsewhere (and a whole zero
    half where the layer below reads one way)."""
    w = np.asarray(w_ih, np.float32)
    out = np.zeros((w.shape[0], 2 * width), np.float32)
    for d in range(D):
        out[:, d * width: d * width + H] = w[:, d * H: (d + 1) * H]
    return out


def _zero_cell(cell: str, width: int, inputs: int) -> CellParams:
    """A direction or layer that is not there: zero weights, whose states stay exactly 0."""
    G = GATE_BLOCKS[cell]
    return CellParams(np.zeros((G * width, inputs), np.float32),
                      np.zeros((G * width, width), np.float32),
                      np.zeros(G * width, np.float32), np.zeros(G * width, np.float32))


def pad_network(cell: str, params, width: int, layers: int = MAX_LAYERS) -> Network:
    """A uniform network of `layers` layers of two directions of `width` units (numpy) that
    holds `params` (L ≤ layers layers of D directions of H ≤ width units each) and computes
    exactly what it computes, read at layer L − 1 with `live` = (L − 1, D == 2) (see
    `bptt._network_scan`).

    Each real direction's units are padded with units whose weights are all zero
    (`one_layer.pad_units`: they stay exactly 0 and no real unit reads them); a layer above
    reads the one below through w_ih columns padded per direction half [fwd | bwd]; a
    direction or layer that is not there has zero weights, so its states are exactly 0 and
    nothing real reads them."""
    net = as_network(params)
    H, I = net.hidden_size, net.input_size
    out = []
    for k in range(layers):
        row = []
        for d in range(2):
            if k < net.num_layers and d < len(net.layers[k]):
                p = net.layers[k][d]
                w_ih = (np.asarray(p.w_ih, np.float32) if k == 0 else
                        _pad_columns(p.w_ih, H, len(net.layers[k - 1]), width))
                p = CellParams(w_ih, *(np.asarray(a, np.float32) for a in p[1:]))
                row.append(one_layer.pad_units(cell, p, width))
            else:
                row.append(_zero_cell(cell, width, I if k == 0 else 2 * width))
        out.append(tuple(CellParams(*(np.asarray(a, np.float32) for a in p)) for p in row))
    return Network(tuple(out))


def real_features(H: int, D: int, width: int) -> np.ndarray:
    """(2·width,) bool: the features of a padded layer's output that hold its real units,
    the first H of each real direction's half."""
    real = np.zeros(2 * width, bool)
    for d in range(D):
        real[d * width: d * width + H] = True
    return real


def _live(c: "DeepConfig") -> tuple:
    """(top layer, two ways) as the padded programs take them: data, never shape."""
    return np.int32(c.layers - 1), np.bool_(c.bidirectional)


@programs.jit(static_argnames=("cell",))
def _padded_flow(cell, params, xs, mask, real, length, top, two_way):
    """`_network_flow` of a network padded by `pad_network`, the loss reading layer `top`'s
    real features at the real steps (< length)."""
    def loss_fn(ys):
        return masked_readout_loss(ys, mask, real, length)

    loss, ys, _, grads = flow(cell, params, xs, loss_fn, length=length, live=(top, two_way))
    return ys, grads["h"]


def _flow_arguments(c: "DeepConfig", params, xs) -> tuple:
    """The padded flow program's arguments for the page's settings `c` (also for the
    catalogue's zeros, so that both are one program)."""
    width = padded_width(c.H)
    return (c.cell, pad_network(c.cell, params, width), np.asarray(xs, np.float32)[:PADDED_T],
            read_mask(c.read, c.T, PADDED_T), real_features(c.H, c.directions, width),
            np.int32(c.T), *_live(c))


def page_flow(c: "DeepConfig", params=None, xs=None) -> tuple:
    """The page's network's top output (T, B, D·H) and ∂L/∂h_t per layer (an L-tuple of
    (D, T, B, H)), numpy at the real shape, from the padded program."""
    params = make_params(c) if params is None else params
    xs = inputs(c, padded=PADDED_T) if xs is None else xs
    ys, g = _padded_flow(*_flow_arguments(c, params, xs))
    width = padded_width(c.H)
    ys = np.asarray(ys)[: c.T][..., real_features(c.H, c.directions, width)]
    g = np.asarray(g)[: c.layers, : c.directions, : c.T, :, : c.H]
    return ys, tuple(g)


def make_params(c: DeepConfig, input_size: int = one_layer.INPUT_SIZE):
    return one_layer.weights(c.seed, c.cell, input_size, c.H, c.init, c.gain, c.radius,
                             c.radius_kind, c.forget_bias, c.chrono, c.update_bias, c.layers,
                             c.bidirectional)


def inputs(c: DeepConfig, padded: int | None = None) -> np.ndarray:
    """The inputs (padded, BATCH, 2), padded to bucket(T) steps unless `padded` says
    otherwise: the same sequences as Gradient flow's."""
    return one_layer.params_and_inputs(one_layer.FlowConfig(
        cell="rnn", T=c.T, inputs=c.inputs, seed=c.seed, H=8), padded)[1]


@dataclass(frozen=True)
class LayerProfile:
    """One layer and direction's ‖∂L/∂h_t‖, and what may be said of it."""

    label: str  # "layer 1 →" (forward) or "layer 1 ←" (backward)
    norms: np.ndarray  # (T,) in input order
    facts: claims.ProfileFacts  # of the profile going back its own way
    sentence: str


@dataclass(frozen=True)
class DeepResult:
    """What the deep page shows, numpy only."""

    profiles: tuple  # LayerProfile per layer and direction, layer 1 first, → before ←
    depth_map: np.ndarray  # (L·D, T) ‖∂L/∂h_t‖, rows as `profiles`
    read_steps: list  # steps where the loss reads some direction ([0, T − 1] for Keras's
    # Bidirectional final states: forward at T − 1, backward at 0); [] when it reads all
    state_blowup_step: int | None


def layer_label(k: int, d: int, D: int) -> str:
    return f"layer {k + 1}" + ("" if D == 1 else (" →" if d == 0 else " ←"))


def describe_layers(norms: np.ndarray) -> tuple:
    """LayerProfiles of (L, D, T) norms. Each profile is described going back from its
    largest value along its own direction: toward earlier steps for the forward direction,
    toward later steps for the backward one (it reads the sequence from the end). The
    sentence names that part of the curve ("From its peak at step 57 back to step 0 (58 of
    the 276 steps)"), and says what the rest of the curve does where it has one."""
    L, D, T = norms.shape
    out = []
    for k in range(L):
        for d in range(D):
            label = layer_label(k, d, D)
            curve = norms[k, d]
            facts, text = layer_sentence(label, curve, backward=d == 1)
            out.append(LayerProfile(label, curve, facts, text))
    return tuple(out)


def layer_sentence(label: str, curve: np.ndarray, backward: bool) -> tuple:
    """(facts, sentence) of one layer and direction's ‖∂L/∂h_t‖ (T,), in input order: the
    part from its peak back along its own reading, named, then the rest of the curve."""
    T = curve.size
    finite = np.where(np.isfinite(curve), curve, -np.inf)
    peak = int(np.argmax(finite)) if np.isfinite(finite).any() else T - 1
    quantity = f"{label}'s ‖∂L/∂h_t‖"
    if not backward:
        segment, step_of, end, rest = curve[: peak + 1], None, 0, np.arange(peak + 1, T)
        way = "back"
    else:
        segment = curve[peak:][::-1]
        step_of = lambda i, T=T: T - 1 - i  # noqa: E731
        end, rest, way = T - 1, np.arange(0, peak), "back along its reading (to later steps)"
    facts = claims.profile_facts(segment)
    if segment.size < 2:
        text = (f"At step {peak}, where its own reading starts, {quantity} is largest: no "
                "step lies behind it in its direction.")
    else:
        part = (f"all {T} steps" if segment.size == T
                else f"{segment.size} of the {T} steps")
        lead = f"From its peak at step {peak} {way} to step {end} ({part}), "
        text = claims.profile_headline(facts, quantity, lead=lead, step_of=step_of,
                                       part=segment.size < T)
    return facts, " ".join(filter(None, [text, rest_sentence(curve, rest, peak)]))


def rest_sentence(curve: np.ndarray, rest: np.ndarray, peak: int) -> str:
    """What the steps outside a layer sentence's part do: where they are exactly 0 (no
    path to the loss), and what the whole curve spans when they hold values."""
    if rest.size == 0:
        return ""
    zero = no_dependence(curve)
    words = []
    if zero[rest].any():
        steps = claims.step_ranges(rest[zero[rest]])
        words.append(f"On the other side of step {peak}, at {steps}, it is exactly 0: "
                     f"{claims.NO_PATH}.")
    resolved = np.isfinite(curve) & (curve >= FLOOR)
    shown = rest[resolved[rest]]
    if shown.size:
        part = np.setdiff1d(np.flatnonzero(resolved), rest)
        if part.size and curve[shown].min() >= curve[part].min():
            words.append(f"Its other {claims.step_ranges(shown)} lie within the range of "
                         "that part.")
        else:  # they reach below it: the whole curve spans more than the part
            words.append(claims.whole_curve_sentence(curve))
    return " ".join(w for w in words if w)


FAR_SHARE = 0.1  # "the steps farthest from where the loss reads": this share of them


def far_steps(read_steps, T: int) -> np.ndarray:
    """The steps farthest from every step the loss reads (a tenth of the sequence, at least
    one), sorted; every step when the loss reads every step (read_steps empty)."""
    t = np.arange(T)
    if not len(read_steps):
        return t
    distance = np.min(np.abs(t[:, None] - np.asarray(read_steps)[None, :]), axis=1)
    n = max(1, int(round(FAR_SHARE * T)))
    return np.sort(np.argsort(-distance, kind="stable")[:n])


def layer_of(label: str) -> int:
    """The layer number of a row label: "layer 2 ←" -> 2."""
    return int(label.split(" ")[1])


def layer_gradient(depth_map: np.ndarray, labels, steps) -> np.ndarray:
    """(L,) mean over `steps` of ‖∂L/∂y_t‖ for each layer's output y_t = [h→_t, h←_t]:
    its directions' rows combined as √(Σ row²), which is the RMS over the batch of the
    norm of both directions' gradients together. Layer 1 first."""
    rows = np.asarray(depth_map, np.float64)
    layers = sorted({layer_of(label) for label in labels})
    joint = [np.sqrt(np.sum(rows[[i for i, label in enumerate(labels) if layer_of(label) == k]]
                            ** 2, axis=0)) for k in layers]
    return np.array([j[steps].mean() for j in joint])


def depth_sentence(result: "DeepResult") -> str:
    """What the depth × time map shows about depth, computed from it: which layer receives
    the most and the least gradient at the steps farthest from where the loss reads, by
    what factor, and whether it fades with depth (each layer less than the one above it)."""
    labels = [p.label for p in result.profiles]
    T = result.depth_map.shape[1]
    if len({layer_of(label) for label in labels}) < 2:
        return "With one layer there is no depth to compare: only time, along the row."
    steps = far_steps(result.read_steps, T)
    where = ("on average over every step" if steps.size == T else
             f"at the steps farthest from where the loss reads ({claims.step_ranges(steps)})")
    v = layer_gradient(result.depth_map, labels, steps)
    if not np.isfinite(v).all():
        return ("The gradient overflowed float32 (inf/NaN) in some layer: the layers cannot "
                "be compared.")
    most, least = int(np.argmax(v)), int(np.argmin(v))
    if v[most] == 0:
        return f"{where[0].upper()}{where[1:]}, no layer receives any gradient (exactly 0)."
    amount = ("none (exactly 0)" if v[least] == 0 else
              f"{claims.format_value(v[least])}: {claims.format_factor(v[most] / v[least])}× "
              "less")
    both = " (its two directions together)" if any("←" in label for label in labels) else ""
    going_down = np.diff(v[::-1])  # from the top layer down to layer 1
    if (going_down < 0).all():
        trend = ("Here the gradient fades with depth: each layer receives less than the "
                 "one above it.")
    elif (going_down > 0).all():
        trend = ("Here the gradient does not fade with depth: each layer receives more than "
                 "the one above it.")
    else:
        trend = ("Here the gradient neither fades nor grows steadily with depth: the layers "
                 "are not in order.")
    return (f"{where[0].upper()}{where[1:]}, layer {most + 1} receives the most gradient, "
            f"‖∂L/∂h_t‖ = {claims.format_value(v[most])} on average{both}, and layer "
            f"{least + 1} the least ({amount}). {trend}")


def deep_flow(c: DeepConfig, params=None, xs=None, mask=None) -> DeepResult:
    """∂L/∂h_t of every layer and direction, in one reverse pass (bptt.flow).

    Args:
      params, xs: the network and its padded inputs (the page's own from `c` if None); any
        cells.Network, mixed ones too (Keras's Bidirectional under a one-way layer): one
        profile and map row per layer and direction, labelled "layer 1 →", "layer 1 ←",
        "layer 2".
      mask: where the loss reads, (padded,) or per direction (padded, D_top) (see
        `masked_readout_loss`); None: `read_mask(c.read, …)`. `model_flow` passes an
        uploaded model's own reading.
    """
    if params is None and xs is None and mask is None:  # the page's own: padded program
        ys, g = page_flow(c)
        mask = read_mask(c.read, c.T, c.T)
    else:  # any other network (an uploaded one) or reading: at its own shapes
        params = make_params(c) if params is None else params
        xs = inputs(c) if xs is None else xs
        mask = (read_mask(c.read, c.T, xs.shape[0]) if mask is None
                else np.asarray(mask, np.float32))
        ys, g = _network_flow(c.cell, params, xs, mask, c.T)
    # (D_k, T) per layer, whatever the network's form (one layer, uniform, mixed)
    norms = network_norms(tuple(np.asarray(a)[:, : c.T] for a in per_layer_arrays(g)))
    steps = sorted({int(t) for t in np.nonzero(mask[: c.T])[0]}) if c.read != "all" else []
    return DeepResult(network_profiles(norms), np.concatenate(norms, axis=0), steps,
                      first_nonfinite(np.asarray(ys)[: c.T]))


def network_profiles(norms: tuple) -> tuple:
    """LayerProfiles of a network's norms given per layer, an L-tuple of (D_k, T), as
    `describe_layers` says them, each labelled with its layer's own directions: a mixed
    Keras stack's rows read "layer 1 →", "layer 1 ←", "layer 2"."""
    if len({n.shape for n in norms}) == 1:
        return describe_layers(np.stack(norms))
    out = []
    for k, n in enumerate(norms):
        for d, curve in enumerate(n):
            label = layer_label(k, d, n.shape[0])
            facts, text = layer_sentence(label, curve, backward=d == 1)
            out.append(LayerProfile(label, curve, facts, text))
    return tuple(out)


@dataclass(frozen=True)
class TwoSidedResult:
    """Connectivity ‖∂y_t/∂x_s‖ of the network as set and of its unidirectional twin."""

    steps: np.ndarray  # (n,) sampled steps, both axes
    bidirectional: np.ndarray  # (n, n) log10 map of the network as set (D = 2)
    unidirectional: np.ndarray  # (n, n) log10 map with the same layers, D = 1
    future_share: float  # bidirectional: mean over t of the share of Σ_s ‖·‖ from s > t


def map_stride(T: int) -> int:
    return max(1, int(np.ceil(T / MAX_MAP_STEPS)))


def two_sided(c: DeepConfig) -> TwoSidedResult:
    """Both connectivity maps on the same inputs: what y_t hears of x_s, s on either side.

    One program per cell and width for both maps and every depth, length and stride
    (`page_connectivity`): the inputs padded to PADDED_T steps, which the maps skip, and
    MAX_MAP_STEPS sampled steps, the unused ones empty."""
    xs = inputs(c, padded=PADDED_T)[:, :CONNECTIVITY_SEQUENCES]
    stride = map_stride(c.T)
    maps = {bi: page_connectivity(replace(c, bidirectional=bi), xs=xs, stride=stride)
            for bi in (True, False)}
    steps = jacobians.sampled_steps(c.T, stride)
    return TwoSidedResult(steps, maps[True], maps[False], future_share(maps[True], steps))


def page_connectivity(c: DeepConfig, params=None, xs=None,
                      stride: int | None = None) -> np.ndarray:
    """`jacobians.connectivity` of the page's network (log10 (n, n) float32, NaN above the
    diagonal for one direction) from the padded program: what the unpadded one gives for
    the network at its real shape on the first CONNECTIVITY_SEQUENCES sequences, sampled
    every `stride` steps (`map_stride(c.T)` if None; at most MAX_MAP_STEPS steps)."""
    stride = map_stride(c.T) if stride is None else stride
    params = make_params(c) if params is None else params
    xs = inputs(c, padded=PADDED_T)[:, :CONNECTIVITY_SEQUENCES] if xs is None else xs
    rows = _padded_connectivity(*_connectivity_arguments(c, params, xs, stride))
    n = len(jacobians.sampled_steps(c.T, stride))
    logs = jacobians._rms_log10(rows, axis=2)[:n, :n]
    if not c.bidirectional:  # causal: s > t never computed (the map leaves them blank)
        logs[np.triu_indices(n, k=1)] = np.nan
    return logs.astype(np.float32)


def _connectivity_arguments(c: DeepConfig, params, xs, stride: int) -> tuple:
    """The padded connectivity program's arguments for the page's settings `c` (also for the
    catalogue's zeros, so that both are one program)."""
    return (c.cell, pad_network(c.cell, params, padded_width(c.H)),
            np.asarray(xs, np.float32)[:PADDED_T],
            jacobians._sampled_slots(c.T, stride, MAX_MAP_STEPS), np.int32(c.T), *_live(c))


@programs.jit(static_argnames=("cell",))
def _padded_connectivity(cell, params, xs, steps, length, top, two_way):
    """`jacobians._connectivity_forward` of a network padded by `pad_network`, its output
    read at layer `top`: (n, n, B) log10 ‖∂y_t/∂x_s‖ at the source steps `steps`.

    No autodiff runs here, so a part that is not live (a layer above `top`, the backward
    direction of a one-way network) is skipped by `lax.cond` and costs nothing; its
    tangents are exactly 0, as the padded part's would be. Same arithmetic as
    `jacobians._connectivity_forward` on every live part, hence the same numbers."""
    net, step = params, STEPS[cell]
    T, B, I = xs.shape
    live = (top, two_way)
    carries0 = _carries0(cell, net, xs)
    outs = _network_scan(cell, net, xs, carries0, length=length, live=live).outs
    reads = [xs] + [_join_directions([row[0]["h"], jnp.where(two_way, row[1]["h"], 0.0)])
                    for row in outs[:-1]]  # what each layer reads (layers > top: not used)
    prev = [[jacobians._prev_states(carries0[k][d], jacobians._states(cell, o), reverse=d == 1)
             for d, o in enumerate(row)] for k, row in enumerate(outs)]
    ok = _padded_ok(cell, carries0, outs, length, two_way)

    def layer(k, src, du):  # layer k's [forward, backward] tangents, the backward zeros one way
        def backward(_):
            return jacobians._tangent_scan(step, net.layers[k][1], reads[k], prev[k][1], src,
                                           du, reverse=True, length=length, norms=False)

        def one_way(_):
            H = prev[k][1][0].shape[-1]
            return (jnp.zeros((T, src.shape[0], I, B, H), xs.dtype),
                    jnp.zeros((T, src.shape[0], B), xs.dtype))

        # Before the chunk's first source nothing reaches layer 0's forward direction,
        # nor a forward direction above one-way layers: those steps are skipped.
        start = src[0] if k == 0 else jnp.where(two_way, 0, src[0])
        fwd = jacobians._tangent_scan(step, net.layers[k][0], reads[k], prev[k][0], src, du,
                                      length=length, norms=False, start=start)
        return fwd, jax.lax.cond(two_way, backward, one_way, None)

    def top_rows(parts):  # (T, n, B) log10 ‖∂y_t/∂x_s‖ of a layer's output y_t
        norms = [log + jacobians._log10_fro(q, (2, 4)) for q, log in parts]
        return jnp.where(two_way, jacobians._log10_hypot(norms), norms[0])

    def rows_for(src):  # (T, n, B) at layer `top`; the layers above it are skipped
        parts = layer(0, src, None)
        rows = top_rows(parts)
        for k in range(1, net.num_layers):
            def above(carry, k=k):  # layer k reads layer k − 1's tangents
                parts, rows = carry
                parts = layer(k, src, jax.lax.cond(two_way, jacobians._join_tangents,
                                                   _join_one_way, parts))
                return parts, jax.lax.cond(k == top, top_rows, lambda _: rows, parts)

            parts, rows = jax.lax.cond(k <= top, above, lambda carry: carry, (parts, rows))
        return rows

    per_source = T * I * B * 2 * net.hidden_size * xs.dtype.itemsize
    # All sources in one chunk where the bytes allow: the two-way map cannot skip the steps
    # before a chunk's first source, and every chunk pays L·D scans (measured: 4 layers
    # both ways, T = 400, H = 64: 0.85 s in chunks of 16, 0.50 s in one).
    rows = jacobians.chunked_rows(rows_for, steps, per_source, T, B, xs.dtype,
                                  most=MAX_MAP_STEPS)
    at = jnp.maximum(steps, 0)
    return jnp.where(ok[at, None, :], rows[at], jnp.nan)


def _join_one_way(parts):
    """`jacobians._join_tangents` of [forward, backward] tangents whose backward ones are all
    zero (a one-way layer): the forward ones at their own scale beside the zeros. The same
    values (its common scale is the forward's wherever they are nonzero), without its work
    on every padded step (measured: a one-way map at the defaults 95 → 78 ms)."""
    (q, scale), (zeros, _) = parts
    return jnp.concatenate([q, zeros], axis=-1), scale


def _padded_ok(cell, carries0, outs, length, two_way):
    """(T, B) True where every state output step t depends on is finite, as
    `jacobians._network_trajectory` says it for the real network: every real step's once a
    backward direction reads the whole sequence, else every step ≤ t. The parts that are
    not live are exactly 0 (finite), so they change nothing."""
    finite = jnp.all(jnp.stack([
        jacobians._finite_steps(carries0[k][d], jacobians._states(cell, o))
        for k, row in enumerate(outs) for d, o in enumerate(row)]), axis=0)
    T = finite.shape[0]
    one_way = jax.lax.cummin(finite.astype(jnp.int32), axis=0).astype(bool)
    real = jnp.arange(T)[:, None] < length
    two = jnp.broadcast_to(jnp.all(finite | ~real, axis=0), finite.shape)
    return jnp.where(two_way, two, one_way)


def future_share(log10_map: np.ndarray, steps: np.ndarray) -> float:
    """Mean over output steps t of the fraction of Σ_s ‖∂y_t/∂x_s‖ that comes from s > t."""
    v = np.power(10.0, np.asarray(log10_map, np.float64))
    v = np.where(np.isfinite(v), v, 0.0)
    later = steps[None, :] > steps[:, None]
    total = v.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(total > 0, (v * later).sum(axis=1) / total, np.nan)
    return float(np.nanmean(share)) if np.isfinite(share).any() else float("nan")


def two_sided_sentence(r: TwoSidedResult) -> str:
    """What the pair of maps says about reading a sentence, from the bidirectional map."""
    share = r.future_share
    if not np.isfinite(share):
        return "Nothing resolvable to compare (the forward pass overflowed)."
    return (f"With two directions, on average {share:.0%} of what output y_t depends on comes "
            "from inputs after step t; with one direction none of it can. Reading a sentence, "
            "a bidirectional layer's word t hears context from both sides: the words before "
            "it and the words after it.")


def model_config(model, c: DeepConfig) -> DeepConfig:
    """The page's settings with the shape of an uploaded model (cell, layers, directions,
    H) in place of the drawn one's; H may lie outside the menu of drawn sizes. For a mixed
    Keras stack `bidirectional` says that some layer reads backwards and H is the first
    layer's: `model.directions` and `model.hidden_sizes` say each layer's, and the results
    (`model_flow`) come from the model's own weights whatever these say."""
    return replace(c, cell=model.cell, layers=model.layers, bidirectional=model.bidirectional,
                   H=model.hidden_size)


def model_inputs(model, c: DeepConfig) -> np.ndarray:
    """Inputs for an uploaded model, (bucket(T), BATCH, I): Gaussian noise at its input size,
    or random token ids through its Embedding (a Keras model that reads words)."""
    rng = np.random.default_rng(c.seed)
    shape = (one_layer.bucket(c.T), one_layer.BATCH)
    if model.embedding is not None:
        tokens = rng.integers(0, model.embedding.shape[0], size=shape)
        return model.embedding[tokens].astype(np.float32)
    return rng.standard_normal(shape + (model.input_size,)).astype(np.float32)


# ---------------------------------------------------------------------------------------
# An uploaded model, read as its framework reads it


def model_read_mask(model, read: str, T: int, padded: int) -> np.ndarray:
    """Where the loss reads an uploaded model's top layer, as `masked_readout_loss` takes it.

    "last" reads what the framework outputs: a Keras Bidirectional top layer with
    return_sequences=False outputs [forward state after x_{T−1}, backward state after x_0]
    (each direction's final state), so the mask is per direction (padded, 2), forward at
    T − 1 and backward at 0. Every other case reads the pair [forward_t, backward_t] at the
    steps of `read_mask` (padded,): torch's output[t] and Keras return_sequences=True at
    each step read, and for a return_sequences=False model the states a loss at those
    steps would read (the model itself outputs only its final states).
    """
    mask = read_mask(read, T, padded)
    if read != "last" or not model.reads_final_states:
        return mask
    both = np.zeros((padded, 2), np.float32)
    both[T - 1, 0] = 1.0  # forward: its state after the last step
    both[0, 1] = 1.0  # backward: its state after x_0, the last one it reaches
    return both


def model_output(model, xs, T: int | None = None) -> np.ndarray:
    """What the framework outputs from the model's top recurrent layer, computed by rnnviz.

    Args:
      xs: (padded, B, I) inputs (embedding vectors for an Embedding model), time-major.
      T: number of real steps (all of xs if None).
    Returns:
      (T, B, D·H) every step's [forward_t, backward_t] when the model returns sequences
      (torch's output, Keras return_sequences=True), else (B, D·H): the vector the loss
      reads with "last" (`model_read_mask`), for a Keras Bidirectional layer [forward after
      x_{T−1}, backward after x_0]. Transpose to compare with Keras's batch-major output.
    """
    xs = np.asarray(xs, np.float32)
    T = xs.shape[0] if T is None else T
    hs = np.asarray(unroll(model.cell, model.params, xs, length=T)[0])[:T]
    if model.returns_sequences:
        return hs
    mask = model_read_mask(model, "last", T, T)
    if mask.ndim == 1:
        return np.tensordot(mask, hs, axes=1)
    halves = np.split(hs, mask.shape[1], axis=-1)  # [forward, backward], (T, B, H) each
    return np.concatenate([np.tensordot(mask[:, d], h, axes=1) for d, h in enumerate(halves)],
                          axis=-1)


def model_flow(model, c: DeepConfig) -> DeepResult:
    """`deep_flow` of an uploaded model (model_files.LoadedModel) on its own inputs
    (`model_inputs`), the loss reading what its framework outputs (`model_read_mask`)."""
    c = model_config(model, c)
    xs = model_inputs(model, c)
    return deep_flow(c, model.params, xs, model_read_mask(model, c.read, c.T, xs.shape[0]))


def model_read_sentence(model, read: str) -> str:
    """What the loss reads of an uploaded model, in words, for the page."""
    top = model.directions[-1] if model.directions else (2 if model.bidirectional else 1)
    keras = model.framework == "keras"
    if read == "last" and model.reads_final_states:
        return ("The loss reads what Keras's Bidirectional layer outputs (return_sequences="
                "False): the forward state after the last step and the backward state after "
                "x₀, the final state of each direction, through a readout of norm 1.")
    where = READ_LABELS[read]
    if top == 1:
        text = f"The loss reads the top layer's state at {where} through a readout of norm 1."
        if not model.returns_sequences and read != "last":
            text += (" Your model outputs only its state after the last step "
                     "(return_sequences=False); this shows what a loss there would do.")
        return text
    text = (f"The loss reads the top layer's [forward, backward] pair at {where} through a "
            "readout of norm 1")
    if keras and not model.returns_sequences:
        return text + (": a pair your model does not output (it outputs each direction's "
                       "final state, read with \"the last step\"); this shows what a loss "
                       "there would do.")
    if keras:
        return text + ", as Keras's Bidirectional outputs it with return_sequences=True."
    return text + (", as PyTorch's output[t] holds it. A head on h_n instead would read the "
                   "backward state after x₀: the file does not say which your model used.")


@dataclass(frozen=True)
class ModelConnectivity:
    """Connectivity ‖∂y_t/∂x_s‖ of an uploaded model's top output (every step's [forward_t,
    backward_t], what return_sequences=True or torch's output gives), x_s the vector the
    first recurrent layer reads at step s (the embedding vector for an Embedding model)."""

    steps: np.ndarray  # (n,) sampled steps, both axes
    log10_map: np.ndarray  # (n, n) log10, NaN where s > t cannot be reached (one way only)
    two_sided: bool  # some layer reads backwards: both triangles filled
    future_share: float  # mean over t of the share of Σ_s ‖·‖ from s > t (0 one way)


# Forward-mode connectivity carries (sampled steps × input size) tangents. An uploaded
# model's map samples up to 64 steps; its inputs may be 100 wide (an Embedding): it gets
# fewer sampled steps so that the work stays about that of 64 steps at I = 16. (Its own
# programs, for its session only: the class's shared load is the page's own maps.)
MODEL_MAP_STEPS = 64
MODEL_MAP_TANGENTS = MODEL_MAP_STEPS * 16
MIN_MODEL_MAP_STEPS = 16


def model_map_slots(model) -> int:
    """Sampled steps on each axis of an uploaded model's connectivity map."""
    return int(np.clip(MODEL_MAP_TANGENTS // max(model.input_size, 1), MIN_MODEL_MAP_STEPS,
                       MODEL_MAP_STEPS))


def model_connectivity(model, c: DeepConfig) -> ModelConnectivity:
    """‖∂y_t/∂x_s‖ of an uploaded model (uniform or mixed stack) on its own inputs
    (`model_inputs`, the first CONNECTIVITY_SEQUENCES sequences), sampled at up to
    `model_map_slots(model)` steps per axis."""
    c = model_config(model, c)
    xs = model_inputs(model, c)[:, :CONNECTIVITY_SEQUENCES]
    slots = model_map_slots(model)
    stride = max(1, int(np.ceil(c.T / slots)))
    log10_map = jacobians.connectivity(model.cell, model.params, xs, length=c.T, stride=stride,
                                       slots=slots).astype(np.float32)
    steps = jacobians.sampled_steps(c.T, stride)
    two = model.bidirectional
    return ModelConnectivity(steps, log10_map, two,
                             future_share(log10_map, steps) if two else 0.0)


def model_connectivity_sentence(r: ModelConnectivity) -> str:
    """What the uploaded model's map says about which inputs each output hears."""
    share = r.future_share
    if not r.two_sided:
        return ("Your model reads one way: output y_t depends only on inputs up to step t, "
                "so the map's upper triangle (s > t) is blank.")
    if not np.isfinite(share):
        return "Nothing resolvable to read off the map (the forward pass overflowed)."
    return (f"Your model reads both ways: on average {share:.0%} of what output y_t depends on "
            "comes from inputs after step t, heard through its backward direction.")


# ---------------------------------------------------------------------------------------
# The page's programs


def _catalogue_config(cell: str, width: int) -> DeepConfig:
    """Settings that run the programs of (cell, width) at their padded shapes."""
    return DeepConfig(cell=cell, H=width, T=PADDED_T, layers=MAX_LAYERS, bidirectional=True)


def _zero_network(c: DeepConfig) -> Network:
    """Zero weights of the real network of `c` (np.zeros: compiling the program needs none
    drawn)."""
    G, layers, width = GATE_BLOCKS[c.cell], [], one_layer.INPUT_SIZE
    for _ in range(c.layers):
        layers.append(tuple(CellParams(np.zeros((G * c.H, width), np.float32),
                                       np.zeros((G * c.H, c.H), np.float32),
                                       np.zeros(G * c.H, np.float32),
                                       np.zeros(G * c.H, np.float32))
                            for _ in range(c.directions)))
        width = c.directions * c.H
    return Network(tuple(layers))


def _first_programs() -> set:
    """(cell, width) of the page's defaults and of its presets: a visitor's first views."""
    configs = [DeepConfig()] + [DeepConfig.from_query(p.query)[0] for p in presets.PRESETS
                                if p.page == presets.DEEP]
    return {(c.cell, padded_width(c.H)) for c in configs}


def catalogue() -> list[Program]:
    """The page's programs: per cell and padded width, the gradient flow (`_padded_flow`)
    and the connectivity maps (`_padded_connectivity`), which serve every depth, both
    directions settings, every length, stride and loss position. Uploaded models run at
    their own shapes and are not listed."""
    first = _first_programs()
    out = []
    for cell in CELLS:
        for width in PADDED_WIDTHS:
            c = _catalogue_config(cell, width)
            net, xs = _zero_network(c), np.zeros((PADDED_T, one_layer.BATCH,
                                                  one_layer.INPUT_SIZE), np.float32)
            label = f"{cell}, ≤ {MAX_LAYERS} layers × 2 directions, T ≤ {PADDED_T}, H ≤ {width}"
            out.append(Program("deep flow", label,
                               lambda c=c, net=net, xs=xs: _padded_flow(
                                   *_flow_arguments(c, net, xs)),
                               (cell, width) in first))
            out.append(Program("deep connectivity", label,
                               lambda c=c, net=net, xs=xs: _padded_connectivity(
                                   *_connectivity_arguments(
                                       c, net, xs[:, :CONNECTIVITY_SEQUENCES],
                                       map_stride(c.T))),
                               (cell, width) in first))
    return out
