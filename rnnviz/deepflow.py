"""The deep & bidirectional experiment: a stack of layers, one or two directions, and where
the loss reads. Built on the same network code, one-pass gradients and connectivity as the
single-layer pages (flow.py, analysis.py); the loss position is data (a mask), so moving
it never recompiles.
"""
from dataclasses import asdict, dataclass, replace

import jax
import jax.numpy as jnp
import numpy as np

from rnnviz import analysis, claims, programs
from rnnviz import config as cfg
from rnnviz import gradflow
from rnnviz.flow import FLOOR, first_nonfinite, flow, layer_norms
from rnnviz.init import init_params

MAX_LAYERS = 4
MAX_T = 400  # layers × directions × T × H is what a shared server pays for
HIDDEN_SIZES = (8, 16, 32, 64)
READS = ("last", "first", "middle", "all")
READ_LABELS = {"last": "the last step", "first": "the first step",
               "middle": "the middle step", "all": "every step (summed)"}
CONNECTIVITY_SEQUENCES = 2
MAX_MAP_STEPS = 64

# Gradient flow's settings with this page's own bounds and defaults, and three more.
_OWN = {"cell": dict(default="lstm"), "T": dict(hi=MAX_T),
        "H": dict(default=16, choices=HIDDEN_SIZES)}
FIELDS = tuple(replace(f, **_OWN.get(f.key, {})) for f in gradflow.FIELDS if f.key != "loss") + (
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


def masked_readout_loss(ys, mask):
    """L = Σ_t mask_t Σ_b vᵀy_t with v = (1,…,1)/√(D·H): unit-norm readout where mask ≠ 0."""
    readout = ys.sum(axis=-1) / jnp.sqrt(ys.shape[-1])  # (T, B)
    return jnp.sum(mask[:, None] * readout)


@programs.jit(static_argnames=("cell",))
def _network_flow(cell, params, xs, mask, length):
    def loss_fn(ys):
        return masked_readout_loss(ys, mask)

    loss, ys, _, grads = flow(cell, params, xs, loss_fn, length=length)
    return ys, grads["h"]


def make_params(c: DeepConfig, input_size: int = gradflow.INPUT_SIZE):
    return init_params(
        jax.random.PRNGKey(c.seed), c.cell, input_size, c.H, scheme=c.init, gain=c.gain,
        spectral_radius=c.radius, radius_kind=c.radius_kind, forget_bias=c.forget_bias,
        chrono_tmax=c.chrono, update_bias=c.update_bias, layers=c.layers,
        bidirectional=c.bidirectional)


def inputs(c: DeepConfig, padded: int | None = None) -> np.ndarray:
    """The inputs (padded, BATCH, 2), padded to bucket(T) steps unless `padded` says
    otherwise: the same sequences as Gradient flow's."""
    return gradflow.params_and_inputs(gradflow.FlowConfig(
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
    read_steps: list
    state_blowup_step: int | None


def layer_label(k: int, d: int, D: int) -> str:
    return f"layer {k + 1}" + ("" if D == 1 else (" →" if d == 0 else " ←"))


def describe_layers(norms: np.ndarray) -> tuple:
    """LayerProfiles of (L, D, T) norms. Each profile is described going back from its
    largest value along its own direction: toward earlier steps for the forward direction,
    toward later steps for the backward one (it read the sequence from the end)."""
    L, D, T = norms.shape
    out = []
    for k in range(L):
        for d in range(D):
            label = layer_label(k, d, D)
            curve = norms[k, d]
            finite = np.where(np.isfinite(curve), curve, -np.inf)
            peak = int(np.argmax(finite)) if np.isfinite(finite).any() else T - 1
            if d == 0:
                segment, step_of = curve[: peak + 1], None
                lead = f"Going back in time from step {peak}, "
            else:
                segment = curve[peak:][::-1]
                step_of = lambda i, T=T: T - 1 - i  # noqa: E731
                lead = f"Going back along its reading (to later steps) from step {peak}, "
            facts = claims.profile_facts(segment)
            if segment.size < 2:
                text = (f"{label}'s ‖∂L/∂h_t‖ is largest at step {peak}, where its own "
                        "reading starts: no step lies behind it in its direction.")
            else:
                text = claims.profile_headline(facts, f"{label}'s ‖∂L/∂h_t‖", lead=lead,
                                               step_of=step_of)
            out.append(LayerProfile(label, curve, facts, text))
    return tuple(out)


def deep_flow(c: DeepConfig, params=None, xs=None) -> DeepResult:
    """∂L/∂h_t of every layer and direction, in one reverse pass (flow.flow)."""
    params = make_params(c) if params is None else params
    xs = inputs(c) if xs is None else xs
    mask = read_mask(c.read, c.T, xs.shape[0])
    ys, g = _network_flow(c.cell, params, xs, mask, c.T)
    g = np.asarray(g)
    if g.ndim == 3:  # one unidirectional layer
        g = g[None, None]
    norms = layer_norms(g[:, :, : c.T])  # (L, D, T)
    profiles = describe_layers(norms)
    return DeepResult(profiles, norms.reshape(-1, c.T), read_steps(c.read, c.T),
                      first_nonfinite(np.asarray(ys)[: c.T]))


@dataclass(frozen=True)
class TwoSidedResult:
    """Connectivity ‖∂y_t/∂x_s‖ of the network as set and of its unidirectional twin."""

    steps: np.ndarray  # (n,) sampled steps, both axes
    bidirectional: np.ndarray  # (n, n) log10 map of the network as set (D = 2)
    unidirectional: np.ndarray  # (n, n) log10 map with the same layers, D = 1
    future_share: float  # bidirectional: mean over t of the share of Σ_s ‖·‖ from s > t


def map_stride(T: int) -> int:
    return max(1, int(np.ceil(gradflow.bucket(T) / MAX_MAP_STEPS)))


def two_sided(c: DeepConfig) -> TwoSidedResult:
    """Both connectivity maps on the same inputs: what y_t hears of x_s, s on either side.

    One program per network shape for every length and stride: the inputs padded to the
    page's longest bucket, whose padded steps the maps skip, and MAX_MAP_STEPS sampled
    steps, the unused ones empty."""
    xs = inputs(c, padded=gradflow.bucket(MAX_T))[:, :CONNECTIVITY_SEQUENCES]
    stride = map_stride(c.T)
    maps = {}
    for bi in (True, False):
        config = replace(c, bidirectional=bi)
        maps[bi] = analysis.connectivity(c.cell, make_params(config), xs, length=c.T,
                                         stride=stride, slots=MAX_MAP_STEPS).astype(np.float32)
    steps = analysis.sampled_steps(c.T, stride)
    return TwoSidedResult(steps, maps[True], maps[False], future_share(maps[True], steps))


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
    H) in place of the drawn one's; H may lie outside the menu of drawn sizes."""
    return replace(c, cell=model.cell, layers=model.layers, bidirectional=model.bidirectional,
                   H=model.hidden_size)


def model_inputs(model, c: DeepConfig) -> np.ndarray:
    """Inputs for an uploaded model, (bucket(T), BATCH, I): Gaussian noise at its input size,
    or random token ids through its Embedding (a Keras model that reads words)."""
    rng = np.random.default_rng(c.seed)
    shape = (gradflow.bucket(c.T), gradflow.BATCH)
    if model.embedding is not None:
        tokens = rng.integers(0, model.embedding.shape[0], size=shape)
        return model.embedding[tokens].astype(np.float32)
    return rng.standard_normal(shape + (model.input_size,)).astype(np.float32)
