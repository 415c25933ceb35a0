"""Train a cell and readout on a synthetic task with optax, yielding gradient-flow snapshots.

One jitted ``lax.scan`` runs k optimiser steps; after each chunk, ‖∂ℓ/∂h_t‖ on a fixed probe
batch is measured, so the snapshots make a (training step × time step) map.
"""
import dataclasses
import math
import numbers
from functools import partial
from typing import Iterator, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from rnnviz import config as cfg
from rnnviz import programs
from rnnviz.cells import CELLS, CellParams, check_cell
from rnnviz.flow import _carry0, _scan, flow, per_step_norms
from rnnviz.init import RADIUS_KINDS, SCHEMES, init_params
from rnnviz.tasks import TASKS, Task, check_task

# Bounds the UI can show next to its controls (inclusive). Sized for a shared CPU.
T_MIN, T_MAX = 2, 200
HIDDEN_MIN, HIDDEN_MAX = 1, 128
BATCH_MIN, BATCH_MAX = 1, 128
STEPS_MIN, STEPS_MAX = 1, 2000
# A run in the app stops after this long, checked between chunks of at most
# MAX_CHUNK steps (about 15 s at the largest settings), so no request holds the server.
WALL_CLOCK_LIMIT_S = 120.0
MAX_CHUNK = 50
LR_MIN, LR_MAX = 1e-5, 10.0
CLIP_MIN, CLIP_MAX = 1e-3, 1e3
SEED_MIN, SEED_MAX = 0, 2**31 - 1
BOUNDS = {
    "T": (T_MIN, T_MAX),
    "hidden_size": (HIDDEN_MIN, HIDDEN_MAX),
    "batch_size": (BATCH_MIN, BATCH_MAX),
    "steps": (STEPS_MIN, STEPS_MAX),
    "snapshot_every": (1, STEPS_MAX),
    "learning_rate": (LR_MIN, LR_MAX),
    "clip": (CLIP_MIN, CLIP_MAX),
    "seed": (SEED_MIN, SEED_MAX),
    "gain": (0.0, 10.0),
    "spectral_radius": (0.0, 10.0),
    "forget_bias": (-10.0, 10.0),
    "chrono_tmax": (3.0, 1000.0),
    "update_bias": (-10.0, 10.0),
}

OPTIMIZERS = ("adam", "sgd", "rmsprop")
OPTIMIZER_LABELS = {"adam": "Adam", "sgd": "SGD with momentum 0.9", "rmsprop": "RMSProp"}
SGD_MOMENTUM = 0.9
PROBE_BATCH = 32  # sequences in the fixed probe batch the profiles are measured on
COMPARE_CELLS = ("rnn", "lstm", "gru")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Every knob of a training run; hashable, so it can key a cache.

    The init fields have the names and meaning of `rnnviz.init.init_params`. ``T`` is the
    task's length parameter: the sequence length for "adding" and "sine", the delay for
    "copy" (whose sequences are T + 20 long). ``clip`` is the threshold θ of gradient-norm
    clipping (Pascanu et al. 2013, Algorithm 1), or None for no clipping. A snapshot is
    taken every ``snapshot_every`` steps and after the last. Values outside `BOUNDS` raise
    a ValueError that names the bound; `TrainConfig.from_query` clamps instead.
    """

    # The defaults are the classroom demo: on the adding problem the LSTM (chrono init,
    # Tallec & Ollivier 2018) leaves the 1/6 plateau within 700 steps, the tanh RNN does not.
    task: str = "adding"
    T: int = 50
    cell: str = "lstm"
    hidden_size: int = 32
    scheme: str = "pytorch"
    gain: float = 1.0
    spectral_radius: float | None = None
    radius_kind: str = "eigen"
    forget_bias: float | None = None
    chrono_tmax: float | None = 50.0
    update_bias: float | None = None
    optimizer: str = "adam"
    learning_rate: float = 2e-2
    clip: float | None = None
    batch_size: int = 64
    steps: int = 700
    seed: int = 0
    snapshot_every: int = 25

    def __post_init__(self):
        check_task(self.task)
        check_cell(self.cell)
        _choice("scheme", self.scheme, SCHEMES)
        _choice("radius_kind", self.radius_kind, RADIUS_KINDS)
        _choice("optimizer", self.optimizer, OPTIMIZERS)
        for name, (lo, hi) in BOUNDS.items():
            value = getattr(self, name)
            if value is None and name in _OPTIONAL:
                continue
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                raise ValueError(f"{name} must be a number, got {value!r}")
            if not lo <= value <= hi:
                raise ValueError(f"{name} = {value} is outside [{lo}, {hi}]")
            # Slider values may arrive as numpy ints or whole floats.
            if name in _INTEGER and not float(value).is_integer():
                raise ValueError(f"{name} must be a whole number, got {value!r}")
            # Plain Python numbers, so that equal configs hash equal and jit sees ints.
            object.__setattr__(self, name, int(value) if name in _INTEGER else float(value))

    def init_kwargs(self) -> dict:
        """The keyword arguments of `init_params` this config sets."""
        names = ("scheme", "gain", "spectral_radius", "radius_kind", "forget_bias",
                 "chrono_tmax", "update_bias")
        return {n: getattr(self, n) for n in names}


def _choice(name, value, options):
    if value not in options:
        raise ValueError(f"unknown {name} {value!r}; choose one of {', '.join(options)}")


_OPTIONAL = {"spectral_radius", "forget_bias", "chrono_tmax", "update_bias", "clip"}
_INTEGER = {"T", "hidden_size", "batch_size", "steps", "seed", "snapshot_every"}
_SNAPSHOTS = 40  # snapshots per run when built from a query: the map's resolution


def _fields() -> tuple:
    """The URL form of TrainConfig: one validated Field per user-settable knob."""
    d = TrainConfig()
    number = lambda name, kind, default=None, optional=False: cfg.Field(  # noqa: E731
        name, getattr(d, name) if default is None else default, kind, *BOUNDS[name],
        optional=optional)
    return (
        cfg.Field("task", d.task, str, choices=tuple(TASKS)),
        number("T", int),
        cfg.Field("cell", d.cell, str, choices=CELLS),
        number("hidden_size", int),
        cfg.Field("scheme", d.scheme, str, choices=SCHEMES),
        number("gain", float),
        number("spectral_radius", float, optional=True),
        cfg.Field("radius_kind", d.radius_kind, str, choices=RADIUS_KINDS),
        number("forget_bias", float, optional=True),
        number("chrono_tmax", float, optional=True),
        number("update_bias", float, optional=True),
        cfg.Field("optimizer", d.optimizer, str, choices=OPTIMIZERS),
        number("learning_rate", float),
        number("clip", float, optional=True),
        number("batch_size", int),
        number("steps", int),
        number("seed", int),
    )


FIELDS = _fields()


def config_from_query(raw) -> tuple[TrainConfig, list[str]]:
    """A valid TrainConfig from raw values (URL parameters), with a notice per replaced one.

    Never raises. Snapshots are spread evenly: about 40 per run, and at most MAX_CHUNK
    steps apart.
    """
    values, notices = cfg.parse(FIELDS, raw)
    values["snapshot_every"] = min(MAX_CHUNK, max(1, values["steps"] // _SNAPSHOTS))
    return TrainConfig(**values), notices


def config_to_query(config: TrainConfig) -> dict[str, str]:
    return cfg.to_query(FIELDS, dataclasses.asdict(config))


# --- Model: a recurrent cell with a linear readout --------------------------------------


class Readout(NamedTuple):
    """Linear map from h to the task's outputs (regression values or class logits)."""

    w: jax.Array  # (O, H)
    b: jax.Array  # (O,)


class Model(NamedTuple):
    """Everything that trains: the cell's weights and the readout."""

    cell: CellParams
    readout: Readout


class TrainState(NamedTuple):
    """The whole state of a run between chunks; a pytree, so it passes through jit."""

    params: Model
    opt_state: optax.OptState
    step: jax.Array  # () int32: optimiser updates applied so far
    key: jax.Array  # PRNG key of the training data stream


@programs.jit(static_argnames=("hidden_size", "output_size"), quick_compile=True)
def init_readout(key, hidden_size: int, output_size: int) -> Readout:
    """PyTorch ``nn.Linear``'s default: weights and bias ~ U(±1/√H)."""
    k_w, k_b = jax.random.split(key)
    bound = 1.0 / math.sqrt(hidden_size)
    w = jax.random.uniform(k_w, (output_size, hidden_size), jnp.float32, -bound, bound)
    b = jax.random.uniform(k_b, (output_size,), jnp.float32, -bound, bound)
    return Readout(w, b)


def init_model(key, config: TrainConfig) -> Model:
    """Cell weights from `init_params` with the config's scheme, and a fresh readout."""
    task = TASKS[config.task]
    k_cell, k_out = jax.random.split(key)
    cell = init_params(k_cell, config.cell, task.input_size, config.hidden_size,
                       dtype=jnp.float32, **config.init_kwargs())
    return Model(cell, init_readout(k_out, config.hidden_size, task.output_size))


def hidden_states(cell: str, params: CellParams, xs) -> jax.Array:
    """hs (L, B, H) of `cell` run over xs (L, B, I) from a zero state; traceable (the
    engine's one scan, flow._scan)."""
    return _scan(cell, params, xs, _carry0(cell, params, xs))["h"]


def predict(task: Task, readout: Readout, hs) -> jax.Array:
    """The readout where the task is scored: (B, O) at the last step, or (L, B, O) at all."""
    if task.placement == "last":
        hs = hs[-1]
    return hs @ readout.w.T + readout.b


def sequence_losses(task: Task, preds, ys) -> jax.Array:
    """The loss of each sequence, (B,): MSE averaged over outputs (and steps if scored at
    every step), or softmax cross-entropy averaged over steps."""
    if task.loss == "xent":
        nll = optax.softmax_cross_entropy_with_integer_labels(preds, ys)  # (L, B)
        return jnp.mean(nll, axis=0)
    sq = (preds - ys) ** 2
    return jnp.mean(sq, axis=-1) if task.placement == "last" else jnp.mean(sq, axis=(0, 2))


def model_loss(cell: str, task: Task, params: Model, xs, ys) -> jax.Array:
    """Mean loss over the batch; the training objective."""
    hs = hidden_states(cell, params.cell, xs)
    return jnp.mean(sequence_losses(task, predict(task, params.readout, hs), ys))


def global_norm(tree) -> jax.Array:
    """‖g‖ over every leaf, scaled by the largest |entry| first so it cannot overflow.

    `optax.tree.norm` squares float32 entries directly, so any gradient whose norm passes
    √(3.4e38) ≈ 1.8e19 comes out inf although every entry is finite: exactly the regime an
    exploding-gradient demo reaches. Here the result is exact up to float32's max (and inf
    or NaN only if an entry is).
    """
    leaves = jax.tree.leaves(tree)
    m = jnp.max(jnp.stack([jnp.max(jnp.abs(x)) for x in leaves]))
    safe = jnp.where((m > 0) & jnp.isfinite(m), m, 1.0)
    total = sum(jnp.sum(jnp.square(x / safe)) for x in leaves)
    return jnp.where(jnp.isfinite(m), safe * jnp.sqrt(total), m + total)


def clip_by_global_norm(max_norm) -> optax.GradientTransformation:
    """Algorithm 1 of Pascanu, Mikolov & Bengio 2013: if ‖g‖ ≥ θ then g ← θ·g/‖g‖.

    Same rule and same trigger (‖g‖ < θ passes g through bit for bit) as
    `optax.clip_by_global_norm`, but the norm comes from `global_norm`, so gradients
    beyond 1.8e19 are rescaled to θ instead of being multiplied by θ/inf = 0.
    """

    def update_fn(updates, state, params=None):
        del params
        g_norm = global_norm(updates)
        trigger = g_norm < max_norm
        return jax.tree.map(lambda t: jnp.where(trigger, t, (t / g_norm) * max_norm),
                            updates), state

    return optax.GradientTransformation(optax.init_empty_state, update_fn)


def make_optimizer(name: str, learning_rate, clip=None, momentum: float = SGD_MOMENTUM):
    """The optax chain: global-norm clipping, then the optimiser.

    Clipping is Algorithm 1 of Pascanu, Mikolov & Bengio 2013 ("On the difficulty of
    training recurrent neural networks"): if ‖g‖ ≥ θ then g ← θ·g/‖g‖, over all parameters
    at once (`clip_by_global_norm`, = `optax.clip_by_global_norm` without its float32
    overflow). ``clip=None`` means θ = ∞, which passes every finite gradient through
    unchanged; the chain has the same state either way, so one compiled program serves
    both settings.

    Args:
      name: "adam", "sgd" (heavy-ball momentum ``momentum``; 0 or None for plain SGD) or
        "rmsprop".
      learning_rate: float or traced scalar.
      clip: θ, or None.
    """
    _choice("optimizer", name, OPTIMIZERS)
    theta = jnp.inf if clip is None else clip
    if name == "adam":
        base = optax.adam(learning_rate)
    elif name == "sgd":
        base = optax.sgd(learning_rate, momentum=momentum or None)
    else:
        base = optax.rmsprop(learning_rate)
    return optax.chain(clip_by_global_norm(theta), base)


# --- The jitted programs: one per (cell, task, optimiser, shapes), defined once here ------


class ChunkRecord(NamedTuple):
    """What one chunk recorded, one entry per step of k; steps not run hold NaN and False."""

    losses: jax.Array  # (k,) training-batch loss before the update
    grad_norms: jax.Array  # (k,) global gradient norm before clipping
    clipped: jax.Array  # (k,) bool: clipping fired (‖g‖ ≥ θ)
    bad: jax.Array  # (k,) bool: the step where loss, gradient or update went non-finite


@programs.jit(static_argnames=("cell", "task", "optimizer", "T", "B", "k"))
def _train_chunk(state, n, learning_rate, theta, *, cell, task, optimizer, T, B, k):
    """n <= k optimiser steps in one `lax.scan` compiled for k; steps i >= n are skipped.

    A step whose loss, gradient norm or update is inf/NaN is not applied, and every later
    step is frozen too, so the state stays the last finite one.
    """
    tk = TASKS[task]
    opt = make_optimizer(optimizer, learning_rate, theta)
    loss_and_grad = jax.value_and_grad(partial(model_loss, cell, tk))

    def step(state):
        key, k_batch = jax.random.split(state.key)
        xs, ys = tk.sample(k_batch, T, B)
        loss, grads = loss_and_grad(state.params, xs, ys)
        g_norm = global_norm(grads)
        updates, opt_state = opt.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        ok = jnp.isfinite(loss) & jnp.isfinite(g_norm) & jnp.isfinite(global_norm(updates))
        keep = lambda new, old: jax.tree.map(lambda a, b: jnp.where(ok, a, b), new, old)  # noqa: E731
        new_state = TrainState(keep(params, state.params), keep(opt_state, state.opt_state),
                               state.step + ok.astype(jnp.int32), key)
        return new_state, ChunkRecord(loss, g_norm, g_norm >= theta, ~ok)

    def idle(state):
        nan = jnp.full((), jnp.nan, jnp.float32)
        return state, ChunkRecord(nan, nan, jnp.array(False), jnp.array(False))

    def body(carry, i):
        state, stopped = carry
        # A real branch: steps past n, or after a failure, cost nothing.
        state, record = jax.lax.cond((i < n) & ~stopped, step, idle, state)
        return (state, stopped | record.bad), record

    (state, _), record = jax.lax.scan(body, (state, jnp.array(False)), jnp.arange(k))
    return state, record


@programs.jit(static_argnames=("cell", "task"))
def _probe(params: Model, xs, ys, *, cell, task):
    """Loss, ‖∂L/∂θ‖ and ∂ℓ_b/∂h_t (L, B, H) on the probe batch (the last from rnnviz.flow).

    The loss summed over sequences is differentiated, so each sequence's row is the
    gradient of its own loss ℓ_b, independent of the probe batch size.
    """
    tk = TASKS[task]

    def loss_fn(hs):
        return jnp.sum(sequence_losses(tk, predict(tk, params.readout, hs), ys))

    total, _, _, grads = flow(cell, params.cell, xs, loss_fn)
    g_params = jax.grad(partial(model_loss, cell, tk))(params, xs, ys)
    return total / xs.shape[1], global_norm(g_params), grads["h"]


# --- The generator API ----------------------------------------------------------------


class Snapshot(NamedTuple):
    """Metrics after `step` training steps; numpy and Python values only.

    ``losses``, ``grad_norms`` and ``clipped`` hold one entry per step of the chunk that
    ended here: entry i belongs to step ``step - len(losses) + 1 + i``. The snapshot at
    step 0 (the initial weights) has empty chunk arrays; its ``loss_mean``, ``loss_last``
    and ``grad_norm`` describe the probe batch instead.
    """

    step: int
    losses: np.ndarray  # (n,) float64
    grad_norms: np.ndarray  # (n,) float64, before clipping
    clipped: np.ndarray  # (n,) bool
    loss_mean: float  # mean over the chunk's finite losses
    loss_last: float
    grad_norm: float  # of the chunk's last step, before clipping
    clip_count: int
    probe_loss: float  # mean loss of the current weights on the fixed probe batch
    probe_grad_norm: float  # ‖∂L/∂θ‖ of that loss, all parameters
    profile: np.ndarray  # (L,) float64: ‖∂ℓ/∂h_t‖, root-mean-square over the probe batch
    diverged: bool = False
    message: str | None = None
    params: object = None  # the last snapshot carries the trained Model (numpy arrays)


def init_state(config: TrainConfig) -> tuple[TrainState, tuple]:
    """The initial TrainState and the fixed probe batch (xs, ys) of a config.

    The seed's key is split three ways: weights, training data, probe batch. The data and
    the probe do not depend on the cell, so runs that differ only in the cell see the same
    sequences in the same order.
    """
    task = TASKS[config.task]
    k_init, k_data, k_probe = jax.random.split(jax.random.PRNGKey(config.seed), 3)
    params = init_model(k_init, config)
    state = TrainState(params, _init_optimizer(params, optimizer=config.optimizer),
                       jnp.zeros((), jnp.int32), k_data)
    return state, _sample(k_probe, task=config.task, T=config.T, B=PROBE_BATCH)


# One compiled program each (eagerly, every array of the state would compile its own
# small program per shape, and keep it).
@programs.jit(static_argnames=("optimizer",), quick_compile=True)
def _init_optimizer(params, *, optimizer):
    # The state's shape depends on the optimiser only, not on the rate or the threshold.
    return make_optimizer(optimizer, 1.0, None).init(params)


@programs.jit(static_argnames=("task", "T", "B"), quick_compile=True)
def _sample(key, *, task, T, B):
    return TASKS[task].sample(key, T, B)


def train_chunk(config: TrainConfig, state: TrainState, n: int, k: int | None = None):
    """Run n steps (n <= k) through the compiled chunk of length k (default snapshot_every).

    Returns:
      (state, ChunkRecord) with the record's arrays of length k.
    """
    k = config.snapshot_every if k is None else k
    return _train_chunk(
        state, jnp.int32(n), jnp.float32(config.learning_rate),
        jnp.float32(jnp.inf if config.clip is None else config.clip),
        cell=config.cell, task=config.task, optimizer=config.optimizer,
        T=config.T, B=config.batch_size, k=k)


def probe_profile(config: TrainConfig, params: Model, probe) -> tuple[float, float, np.ndarray]:
    """(loss, ‖∂L/∂θ‖, ‖∂ℓ/∂h_t‖ (L,)) of the weights on the probe batch; inf/NaN kept."""
    loss, g_norm, g = _probe(params, *probe, cell=config.cell, task=config.task)
    return float(loss), float(g_norm), per_step_norms(g)


def divergence_message(step: int, loss: float, grad_norm: float, last_norm: float | None,
                       clip: float | None) -> str:
    """Say in words at which step and how a run blew up, and what to try.

    Args:
      step: the first step whose loss, gradient or update was inf/NaN.
      loss, grad_norm: that step's values.
      last_norm: the gradient norm of the step before (None at step 1).
      clip: the clipping threshold, or None.
    """
    if clip is None:
        hint = "try clipping the gradient norm (Pascanu et al. 2013) or a smaller learning rate"
    else:
        hint = (f"clipping at θ = {clip:g} bounds each step but not the forward pass; "
                "try a smaller learning rate or a smaller initial gain")
    if step <= 1 and not math.isfinite(loss):
        return (f"The loss was already {_word(loss)} at step 1, from the initial weights: "
                "the forward pass overflowed. Try a smaller gain or spectral radius.")
    before = "" if last_norm is None else f"; the gradient norm was {last_norm:.3g} at step {step - 1}"
    if not math.isfinite(loss):
        what = f"The loss became {_word(loss)} at step {step}"
    elif not math.isfinite(grad_norm):
        what = f"The gradient norm became {_word(grad_norm)} at step {step} (loss {loss:.3g})"
    else:
        what = (f"The update overflowed at step {step} (gradient norm {grad_norm:.3g} before "
                "clipping)")
    return f"{what}{before}. Training stopped there; {hint}."


def _word(x: float) -> str:
    return "NaN" if math.isnan(x) else "inf"


def train(config: TrainConfig) -> Iterator[Snapshot]:
    """Train and yield a Snapshot at step 0, every `snapshot_every` steps, and at the end.

    Never raises on divergence: when a loss, gradient or update becomes inf/NaN, the
    offending step is not applied, a last snapshot with ``diverged=True`` and a message is
    yielded (its ``step`` is the step that failed; its profile is of the weights it started
    from), and the generator ends.
    """
    state, probe_batch = init_state(config)
    probe = probe_profile(config, state.params, probe_batch)
    empty = np.zeros(0)
    yield Snapshot(0, empty, empty, np.zeros(0, bool), probe[0], probe[0], probe[1], 0, *probe)
    done, last_norm = 0, None
    while done < config.steps:
        n = min(config.snapshot_every, config.steps - done)
        state, rec = train_chunk(config, state, n)
        rec = jax.tree.map(np.asarray, rec)
        bad = np.flatnonzero(rec.bad[:n])
        m = int(bad[0]) + 1 if bad.size else n  # steps of this chunk to report
        losses = rec.losses[:m].astype(np.float64)
        norms = rec.grad_norms[:m].astype(np.float64)
        clipped = rec.clipped[:m].astype(bool)
        probe = probe_profile(config, state.params, probe_batch)
        finite = losses[np.isfinite(losses)]
        snap = Snapshot(
            done + m, losses, norms, clipped,
            float(finite.mean()) if finite.size else float("nan"),
            float(losses[-1]), float(norms[-1]), int(clipped.sum()), *probe)
        if bad.size:
            prev = norms[m - 2] if m >= 2 else last_norm
            msg = divergence_message(done + m, float(losses[-1]), float(norms[-1]),
                                     None if prev is None else float(prev), config.clip)
            yield snap._replace(diverged=True, message=msg, params=_numpy(state.params))
            return
        last_norm = float(norms[-1])
        done += n
        yield snap._replace(params=_numpy(state.params)) if done >= config.steps else snap


def _numpy(tree):
    return jax.tree.map(np.asarray, tree)


class History(NamedTuple):
    """A whole run, stacked: the (training step × time step) map and the curves."""

    config: TrainConfig
    baseline: float  # the task's no-memory loss at this T
    snapshot_steps: np.ndarray  # (S,) int
    profiles: np.ndarray  # (S, L) float64: ‖∂ℓ/∂h_t‖ at each snapshot
    probe_losses: np.ndarray  # (S,)
    steps: np.ndarray  # (N,) int: training steps 1..N
    losses: np.ndarray  # (N,)
    grad_norms: np.ndarray  # (N,) before clipping
    clipped: np.ndarray  # (N,) bool
    diverged: bool
    message: str | None


def collect(config: TrainConfig, snapshots) -> History:
    """Stack the snapshots of `train(config)` into a History."""
    snaps = list(snapshots)
    last = snaps[-1]
    losses = np.concatenate([s.losses for s in snaps])
    return History(
        config, TASKS[config.task].baseline(config.T),
        np.array([s.step for s in snaps]), np.stack([s.profile for s in snaps]),
        np.array([s.probe_loss for s in snaps]), np.arange(1, losses.size + 1), losses,
        np.concatenate([s.grad_norms for s in snaps]),
        np.concatenate([s.clipped for s in snaps]), last.diverged, last.message)


def run(config: TrainConfig) -> History:
    """Train to the end (or to divergence) and return the stacked History."""
    return collect(config, train(config))


def compare_cells(config: TrainConfig, cells=COMPARE_CELLS) -> dict[str, History]:
    """The same task, seed, data stream, optimiser and budget for each cell in `cells`."""
    return {c: run(dataclasses.replace(config, cell=c)) for c in cells}


# Settings whose outcome the test suite checks (tests/test_train.py), for pages to offer.
PRESETS = {
    # With compare_cells: the LSTM (chrono init, Tallec & Ollivier 2018, T_max = T) leaves
    # the 1/6 plateau by step ~250-450 and ends near 1e-3; the tanh RNN stays at ~0.17.
    "adding_lstm_vs_rnn": TrainConfig(
        task="adding", T=50, cell="lstm", hidden_size=32, chrono_tmax=50.0,
        learning_rate=0.02, batch_size=64, steps=700, snapshot_every=50),
    # Every cell gets well below the persistence baseline within 200 steps.
    "sine_every_cell": TrainConfig(
        task="sine", T=30, cell="rnn", hidden_size=16, learning_rate=0.01, batch_size=64,
        steps=200, snapshot_every=50),
    # IRNN (Le et al. 2015) at gain 2 over 30 steps: gradients ~1e17 at once, the loss
    # overflows at step 2.
    "irnn_explodes": TrainConfig(
        task="sine", T=30, cell="rnn_relu", hidden_size=16, scheme="identity", gain=2.0,
        optimizer="sgd", learning_rate=1.0, steps=50, snapshot_every=1),
    # Plain IRNN with SGD at lr 0.13: without clipping the loss shoots to ~1e17 at step 2
    # and never recovers; with clip=1.0 (Pascanu et al. 2013) it beats the baseline.
    "clipping_rescues": TrainConfig(
        task="sine", T=30, cell="rnn_relu", hidden_size=16, scheme="identity",
        optimizer="sgd", learning_rate=0.13, clip=1.0, steps=300, snapshot_every=50),
}


def gates_before_after(config: TrainConfig, trained: Model) -> tuple[dict, dict]:
    """Gate activations on the probe batch at initialisation and with trained weights.

    Returns:
      (initial, trained): dicts gate name -> (L, B, H) numpy arrays (empty for vanilla cells).
    """
    from rnnviz.flow import unroll

    state, (xs, _) = init_state(config)
    before = unroll(config.cell, state.params.cell, xs)[1]
    after = unroll(config.cell, trained.cell, xs)[1]
    return ({k: np.asarray(v) for k, v in before.items()},
            {k: np.asarray(v) for k, v in after.items()})
