"""The one trainer: optax steps for every model rnnviz trains, yielding snapshots.

`_optimizer_steps` is the training loop (up to CHUNK_STEPS optimiser steps in one
``lax.scan``: the optimiser as data, clipping, masks of the padded entries, a step that goes
non-finite frozen); a model brings its own loss and gradient to it:

- the Training lab's cell and readout on a synthetic task (`TrainConfig`, `train`): its
  program then measures ‖∂ℓ/∂h_t‖ on a fixed probe batch, so the snapshots make a
  (training step × time step) map; one program per cell, padded sequence length and padded
  hidden width (`catalogue`);
- a word model, embedding → cell → a sigmoid at the last real word, on the agreement task
  (`WordsConfig`, `train_words`): its program then measures a held-out set; one program
  per cell (`words_catalogue`).

Every setting a student can change is data of these programs, not their shape, so a new
setting compiles nothing. The recurrence is the engine's own scan (`rnnviz.engine.bptt._scan`
over `rnnviz.engine.cells.STEPS`), differentiated by jax.
"""
import dataclasses
import math
import numbers
import threading
from functools import partial
from typing import Iterator, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from rnnviz.engine import config as cfg
from rnnviz.engine import language, programs
from rnnviz.engine.bptt import _carry0, _scan, per_step_norms
from rnnviz.engine.cells import CELLS, GATE_BLOCKS, STEPS, CellParams, check_cell
from rnnviz.engine.init import (
    DRAW_LENGTH,
    DRAW_ROWS,
    RADIUS_KINDS,
    SCHEMES,
    _cuts,
    _flat,
    _raw_key,
    init_params,
    uniform,
)
from rnnviz.engine.programs import Program
from rnnviz.engine.tasks import COPY_LENGTH, TASKS, Task, check_task, sequence_keys

# Bounds the UI can show next to its controls (inclusive). Sized for a shared CPU.
T_MIN, T_MAX = 2, 200
HIDDEN_MIN, HIDDEN_MAX = 1, 128
BATCH_MIN, BATCH_MAX = 1, 128
STEPS_MIN, STEPS_MAX = 1, 2000
# A run in the app stops after this long, checked between snapshots of at most
# MAX_CHUNK steps (program calls of CHUNK_STEPS), so no request holds the server.
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
    "truncate": (1, T_MAX + 2 * COPY_LENGTH),  # any task's longest sequence (copy at T_MAX)
}

OPTIMIZERS = ("adam", "sgd", "rmsprop")
OPTIMIZER_LABELS = {"adam": "Adam", "sgd": "SGD with momentum 0.9", "rmsprop": "RMSProp"}
SGD_MOMENTUM = 0.9
PROBE_BATCH = 32  # sequences in the fixed probe batch the profiles are measured on
COMPARE_CELLS = ("rnn", "lstm", "gru")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Every knob of a training run; hashable, so it can key a cache.

    The init fields have the names and meaning of `rnnviz.engine.init.init_params`. ``T`` is the
    task's length parameter: the sequence length for "adding" and "sine", the delay for
    "copy" (whose sequences are T + 20 long). ``clip`` is the threshold θ of gradient-norm
    clipping (Pascanu et al. 2013, Algorithm 1), or None for no clipping. A snapshot is
    taken every ``snapshot_every`` steps and after the last. ``truncate`` is k of truncated
    backpropagation through time (the carry detached every k steps, `rnnviz.hidden_grads`),
    or None for full BPTT; k ≥ the sequence's length is full BPTT. Values outside `BOUNDS` raise
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
    truncate: int | None = None
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
        _check_bounds(self, BOUNDS, _OPTIONAL, _INTEGER)

    def init_kwargs(self) -> dict:
        """The keyword arguments of `init_params` this config sets."""
        names = ("scheme", "gain", "spectral_radius", "radius_kind", "forget_bias",
                 "chrono_tmax", "update_bias")
        return {n: getattr(self, n) for n in names}


def _check_bounds(config, bounds: dict, optional: set, integer: set) -> None:
    """Check a frozen config's numbers against `bounds` (name -> (lo, hi)); None is allowed
    for the `optional` ones. Each becomes a plain Python int (`integer`) or float, so that
    equal configs hash equal and jit sees ints (slider values may arrive as numpy ints or
    whole floats)."""
    for name, (lo, hi) in bounds.items():
        value = getattr(config, name)
        if value is None and name in optional:
            continue
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise ValueError(f"{name} must be a number, got {value!r}")
        if not lo <= value <= hi:
            raise ValueError(f"{name} = {value} is outside [{lo}, {hi}]")
        if name in integer and not float(value).is_integer():
            raise ValueError(f"{name} must be a whole number, got {value!r}")
        object.__setattr__(config, name, int(value) if name in integer else float(value))


def _choice(name, value, options):
    if value not in options:
        raise ValueError(f"unknown {name} {value!r}; choose one of {', '.join(options)}")


_OPTIONAL = {"spectral_radius", "forget_bias", "chrono_tmax", "update_bias", "clip", "truncate"}
_INTEGER = {"T", "hidden_size", "batch_size", "steps", "seed", "snapshot_every", "truncate"}
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
        number("truncate", int, optional=True),
        number("batch_size", int),
        number("steps", int),
        number("seed", int),
    )


FIELDS = _fields()
# The Training lab's one setting beyond a run's: train the three cells side by side.
COMPARE_FIELD = cfg.Field("compare", True, bool)


def config_from_query(raw) -> tuple[TrainConfig, list[str]]:
    """A valid TrainConfig from raw values (URL parameters), with a notice per replaced one.

    Never raises. Snapshots are spread evenly: about 40 per run, and at most MAX_CHUNK
    steps apart.
    """
    values, notices = cfg.parse(FIELDS, raw)
    values["snapshot_every"] = min(MAX_CHUNK, max(1, values["steps"] // _SNAPSHOTS))
    return TrainConfig(**values), notices


def lab_from_query(raw) -> tuple[tuple[TrainConfig, bool], list[str]]:
    """The Training lab's settings from raw values: ((config, compare), notices)."""
    config, notices = config_from_query(raw)
    compare, notice = cfg.parse_value(COMPARE_FIELD, raw.get("compare"))
    return (config, compare), notices + ([notice] if notice else [])


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
    """The whole state of a run between chunks; a pytree, so it passes through jit.

    The params are padded (see "Shapes" below); ``opt_state`` holds the state of every
    optimiser in OPTIMIZERS, of which the run's own is the one that changes.
    """

    params: Model
    opt_state: tuple
    step: jax.Array  # () int32: optimiser updates applied so far
    key: jax.Array  # PRNG key of the training data stream
    # A stateful run's recurrent state, carried from one optimiser step to the next (the
    # text generator's streams, rnnviz/engine/chars.py); None for the others.
    carry: tuple | None = None


def init_readout(keys, hidden_size: int, output_size: int) -> Readout:
    """PyTorch ``nn.Linear``'s default: weights and bias ~ U(±1/√H), drawn from keys
    (k_w, k_b) on the host from the shared uniform draw (`rnnviz.engine.init.uniform`: no program
    per size), as numpy arrays."""
    k_w, k_b = keys
    bound = 1.0 / math.sqrt(hidden_size)
    return Readout(uniform(k_w, (output_size, hidden_size), -bound, bound),
                   uniform(k_b, (output_size,), -bound, bound))


@programs.jit(quick_compile=True, light=True)
def _run_keys(seed):
    """A run's keys, one small program for every seed: PRNGKey(seed) split three ways
    (weights, training data, probe batch), and the weights' key into the cell's and the
    readout's, the readout's into its weight's and bias's."""
    k_init, k_data, k_probe = jax.random.split(jax.random.PRNGKey(seed), 3)
    k_cell, k_out = jax.random.split(k_init)
    return k_cell, jax.random.split(k_out), k_data, k_probe


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


# --- Shapes: every setting is data, so the lab is a few compiled programs -----------------
#
# The compiled chunk is static in the cell, its padded width and its padded length only:
# sequences are padded to the first of LENGTHS that holds them, and the scan holds the state
# at zero from the task's length on (`_states`); batches are one or two micro-batches of
# MICRO_BATCH sequences, the task's inputs and outputs are padded to IO_PAD, and the task,
# optimiser, T, batch size, hidden size, learning rate and threshold are numbers the
# program reads (`Setting`). Padded units have zero weights, stay exactly 0, and their
# gradients and updates are masked to 0.

CHUNK_STEPS = 25  # optimiser steps per program call (fewer are skipped, not compiled)
LENGTH_PAD = T_MAX + 2 * COPY_LENGTH  # 220: the longest task sequence (copy at T_MAX)
# A padded step costs what a real one does (the scan runs every step), so the length is
# part of the program: the classroom settings (T ≤ 64, copy T ≤ 44) run at 64 steps, and
# only longer ones pay for all 220.
LENGTHS = (64, LENGTH_PAD)
WIDTHS = (32, 128)  # hidden sizes are padded to the next of these
IO_PAD = max(max(t.input_size, t.output_size) for t in TASKS.values())  # 10, copy's
# A batch of up to BATCH_MAX sequences runs as up to MICRO_BATCHES micro-batches of
# MICRO_BATCH, those holding no real sequence skipped: a batch of 64 costs what it did.
MICRO_BATCH = 64
MICRO_BATCHES = -(-BATCH_MAX // MICRO_BATCH)
TASK_ORDER = tuple(TASKS)  # Setting.task indexes this


class Shape(NamedTuple):
    """The static shape of a chunk program besides the cell and the params' widths."""

    length: int  # steps every sequence is padded to
    micro: int  # sequences per micro-batch
    micros: int  # micro-batches per step (those past the batch size are skipped)


def padded_length(length: int) -> int:
    """The padded length a sequence of `length` steps runs at."""
    return next(n for n in LENGTHS if n >= length)


def padded_shape(config: TrainConfig) -> Shape:
    """The shape of the program a config runs on (chosen here, on the host)."""
    return Shape(padded_length(TASKS[config.task].length(config.T)), MICRO_BATCH,
                 MICRO_BATCHES)


def exact_shape(config: TrainConfig) -> Shape:
    """The unpadded shape of a config: what the padded program must equal (tests)."""
    L = TASKS[config.task].length(config.T)
    return Shape(L, config.batch_size, 1)


def width(hidden_size: int) -> int:
    """The padded width a hidden size runs at."""
    return next(w for w in WIDTHS if w >= hidden_size)


class Setting(NamedTuple):
    """Everything about a run that the compiled chunk reads as data (numpy scalars)."""

    task: np.ndarray  # int32 index into TASK_ORDER
    T: np.ndarray  # int32, the task's length parameter
    length: np.ndarray  # int32 L, real steps of every sequence
    inputs: np.ndarray  # int32 I
    outputs: np.ndarray  # int32 O
    hidden: np.ndarray  # int32 H
    last: np.ndarray  # bool: scored at step L − 1 only (else the mean over every step)
    xent: np.ndarray  # bool: softmax cross-entropy (else MSE)
    batch: np.ndarray  # int32 B
    optimizer: np.ndarray  # int32 index into OPTIMIZERS
    learning_rate: np.ndarray  # float32
    theta: np.ndarray  # float32 clipping threshold, inf for none
    truncate: np.ndarray  # int32 k of truncated BPTT; past the padded length for full BPTT


def setting(config: TrainConfig) -> Setting:
    task = TASKS[config.task]
    i32 = np.int32
    return Setting(
        i32(TASK_ORDER.index(config.task)), i32(config.T), i32(task.length(config.T)),
        i32(task.input_size), i32(task.output_size), i32(config.hidden_size),
        np.bool_(task.placement == "last"), np.bool_(task.loss == "xent"),
        i32(config.batch_size), i32(OPTIMIZERS.index(config.optimizer)),
        np.float32(config.learning_rate),
        np.float32(np.inf if config.clip is None else config.clip),
        i32(LENGTH_PAD + 1 if config.truncate is None else config.truncate))


def _resize(a: np.ndarray, axis: int, real: int, padded: int, blocks: int = 1) -> np.ndarray:
    """`a` along `axis` from `blocks` blocks of `real` entries to blocks of `padded` (zeros
    after each block's real entries), or back (cut); unchanged if it already has the
    target size."""
    size = a.shape[axis]
    if size == blocks * padded:
        return a
    if size != blocks * real:
        raise ValueError(f"axis {axis} has {size} entries, expected {blocks}×{real}")
    a = np.moveaxis(np.asarray(a), axis, 0)
    a = a.reshape((blocks, real) + a.shape[1:])
    if padded < real:
        out = a[:, :padded]
    else:
        out = np.zeros((blocks, padded) + a.shape[2:], a.dtype)
        out[:, :real] = a
    return np.moveaxis(out.reshape((blocks * padded,) + a.shape[2:]), 0, axis)


def _resize_model(model: Model, cell: str, sizes: tuple, to: tuple) -> Model:
    """`model` with its (H, I, O) `sizes` zero-padded or cut to `to`, H within every gate
    block (numpy arrays); unchanged where a size already is the target."""
    (H, I, O), (H2, I2, O2) = sizes, to
    c, r = jax.tree.map(np.asarray, model)
    rows = lambda a: _resize(a, 0, H, H2, GATE_BLOCKS[cell])  # noqa: E731
    return Model(
        CellParams(_resize(rows(c.w_ih), 1, I, I2), _resize(rows(c.w_hh), 1, H, H2),
                   rows(c.b_ih), rows(c.b_hh)),
        Readout(_resize(_resize(r.w, 0, O, O2), 1, H, H2), _resize(r.b, 0, O, O2)))


def pad_model(model: Model, cell: str, hidden: int, inputs: int, outputs: int) -> Model:
    """A real-size Model (H units, I inputs, O outputs) at its padded shapes: H to
    width(H) within every gate block, I and O to IO_PAD, all with zeros; a padded Model as
    it is. Numpy arrays."""
    return _resize_model(model, cell, (hidden, inputs, outputs),
                         (width(hidden), IO_PAD, IO_PAD))


def unpad_model(model: Model, cell: str, hidden: int, inputs: int, outputs: int) -> Model:
    """The real-size Model inside a padded one (numpy arrays)."""
    return _resize_model(model, cell, (width(hidden), IO_PAD, IO_PAD),
                         (hidden, inputs, outputs))


def _padded(config: TrainConfig, model: Model) -> Model:
    task = TASKS[config.task]
    return pad_model(model, config.cell, config.hidden_size,
                     task.input_size, task.output_size)


def optimizer_states(params: Model) -> tuple:
    """The initial state of every optimiser in OPTIMIZERS for `params`: all zeros (optax's
    init, built on the host: eager jax would compile a program per shape)."""
    shapes = jax.eval_shape(
        lambda p: tuple(make_optimizer(name, 1.0).init(p) for name in OPTIMIZERS), params)
    return jax.tree.map(lambda s: np.zeros(s.shape, s.dtype), shapes)


def _state(params: Model, key) -> TrainState:
    return TrainState(params, optimizer_states(params), np.int32(0), np.asarray(key, np.uint32))


# --- Inside the program: masks, sequences, the scan, losses, updates --------------------


def _real_entries(cell: str, s: Setting, params: Model) -> Model:
    """Booleans shaped like `params`: True on the real units', inputs' and outputs' entries."""
    return _real_units(cell, s.hidden, s.inputs, s.outputs, params)


def _real_units(cell: str, hidden, inputs, outputs, params: Model) -> Model:
    """Booleans shaped like a padded cell and readout (`params`): True on the entries of the
    first `hidden` units (in every gate block), `inputs` inputs and `outputs` outputs."""
    Hp = params.cell.w_hh.shape[1]
    unit = jnp.arange(Hp) < hidden
    rows = jnp.tile(unit, GATE_BLOCKS[cell])
    real_inputs = jnp.arange(params.cell.w_ih.shape[1]) < inputs
    real_outputs = jnp.arange(params.readout.b.shape[0]) < outputs
    return Model(CellParams(rows[:, None] & real_inputs, rows[:, None] & unit, rows, rows),
                 Readout(real_outputs[:, None] & unit, real_outputs))


def _masked(tree, masks):
    return jax.tree.map(lambda a, m: jnp.where(m, a, jnp.zeros((), a.dtype)), tree, masks)


def _fit(a, size: int):
    """The last axis cut or zero-padded to `size` (a task's channels to the padded width)."""
    n = a.shape[-1]
    if n >= size:
        return a[..., :size]
    return jnp.concatenate([a, jnp.zeros(a.shape[:-1] + (size - n,), a.dtype)], axis=-1)


def _sequences(s: Setting, key, first, count: int, length: int, inputs: int, outputs: int):
    """Sequences first, …, first + count − 1 of the task's batch from `key`, time-major:
    xs (length, count, inputs) and ys (length, count, outputs); only the run's task is
    drawn (a switch on s.task)."""
    keys = sequence_keys(key, first, count)

    def drawer(name):
        def one(k):
            x, y = TASKS[name].sequence(k, s.T, length)
            return _fit(x, inputs), _fit(y, outputs)
        return jax.vmap(one, out_axes=1)  # time-major as drawn

    return jax.lax.switch(s.task, [drawer(name) for name in TASK_ORDER], keys)


def _states(cell: str, params: CellParams, xs, length, eps=None, truncate=None) -> dict:
    """The engine's scan (`rnnviz.engine.bptt._scan`) of `cell` over xs (Lp, B, I) from a zero
    state: "h" and the gates, each (Lp, B, H). eps: None, or zeros shaped like the carry
    per step, added to each new state as `rnnviz.engine.bptt.flow` adds them, so that their
    gradient is ∂L/∂h_t (and ∂L/∂c_t).

    From step `length` on the state is held at zero (the scan's `length`, a select per
    step, not a branch). No loss reads those steps, but a state left to run on through the
    padding can overflow where the real steps do not (a relu RNN growing 4.5× per step is
    ~1e12 at step 20 and inf by step 60), and the backward pass would then multiply the
    zero cotangent by inf: a NaN gradient that the same run at its real length never has.

    truncate: k of truncated BPTT (data; see `rnnviz.engine.bptt._scan`), or None.
    """
    _, outs = _scan(STEPS[cell], params, xs, _carry0(cell, params, xs), eps, length=length,
                    truncate=truncate)
    return outs


def _step_losses(xent, outputs, preds, ys):
    """Each step's loss (L, B) from preds, ys (L, B, O): MSE over the first `outputs`
    outputs, or softmax cross-entropy over the first `outputs` classes (ys one-hot)."""
    real = jnp.arange(preds.shape[-1]) < outputs

    def mse(_):
        return jnp.sum(jnp.where(real, (preds - ys) ** 2, 0.0), axis=-1) / outputs

    def nll(_):
        logits = jnp.where(real, preds, -jnp.inf)
        return optax.softmax_cross_entropy_with_integer_labels(logits, jnp.argmax(ys, -1))

    return jax.lax.cond(xent, nll, mse, None)


def _sequence_losses(last, xent, length, outputs, preds, ys):
    """The loss of each sequence (B,): the step loss at step length − 1 (`last`), or its
    mean over steps 0..length − 1. Padded steps are selected away, never multiplied by 0,
    so an overflow there cannot turn into NaN."""
    t = jnp.arange(preds.shape[0])[:, None]
    scored = jnp.where(last, t == length - 1, t < length)
    total = jnp.sum(jnp.where(scored, _step_losses(xent, outputs, preds, ys), 0.0), axis=0)
    return total / jnp.where(last, 1, length).astype(preds.dtype)


def _readout_losses(s: Setting, readout: Readout, hs, ys):
    """Each sequence's loss (B,) from the states hs (Lp, B, H): the readout is applied at
    step L − 1 only when that is all the task scores (a padded sequence's other steps
    cost nothing), else at every step."""

    def at_last(_):
        t = s.length - 1
        preds = hs[t] @ readout.w.T + readout.b
        return _step_losses(s.xent, s.outputs, preds[None], ys[t][None])[0]

    def at_every_step(_):
        preds = hs @ readout.w.T + readout.b
        return _sequence_losses(False, s.xent, s.length, s.outputs, preds, ys)

    return jax.lax.cond(s.last, at_last, at_every_step, None)


def sequence_losses(task: Task, preds, ys) -> jax.Array:
    """The loss of each sequence (B,) in a task's own formats, by the trainer's loss: MSE
    averaged over outputs (and steps if scored at every step), or softmax cross-entropy
    (integer ys) at the last step or averaged over steps.

    preds: (B, O) for a task scored at the last step, else (L, B, O); ys as `task.sample`
    gives them.
    """
    preds = jnp.asarray(preds)
    if task.placement == "last":
        preds = preds[None]
        ys = jnp.asarray(ys)[None]
    if task.loss == "xent":
        ys = jax.nn.one_hot(ys, preds.shape[-1], dtype=preds.dtype)
    return _sequence_losses(task.placement == "last", task.loss == "xent", preds.shape[0],
                            preds.shape[-1], preds, ys)


def _micro_loss(cell: str, s: Setting, params: Model, xs, ys, first):
    """Σ ℓ_b / B over the real sequences of one micro-batch (first is its first index)."""
    hs = _states(cell, params.cell, xs, s.length, truncate=s.truncate)["h"]
    losses = _readout_losses(s, params.readout, hs, ys)
    real = first + jnp.arange(xs.shape[1]) < s.batch
    return jnp.sum(jnp.where(real, losses, 0.0)) / s.batch.astype(losses.dtype)


def _batch_loss_and_grad(micro_loss_and_grad, params, batch, micro: int, micros: int):
    """A batch's loss and gradient, summed over `micros` micro-batches of `micro` sequences:
    ``micro_loss_and_grad(params, first)`` gives the (loss, gradient) of the micro-batch that
    starts at sequence `first`, already divided by the batch size. Micro-batches holding no
    real sequence (first ≥ batch) are skipped by a real branch: a batch of 64 costs what it
    did, whatever the most a program takes. Every model's data source runs through this."""

    def body(acc, i):
        first = i * micro

        def run(acc):
            loss, grads = micro_loss_and_grad(params, first)
            return acc[0] + loss, jax.tree.map(jnp.add, acc[1], grads)

        return jax.lax.cond(first < batch, run, lambda acc: acc, acc), None

    zero = (jnp.zeros((), jnp.float32), jax.tree.map(jnp.zeros_like, params))
    (loss, grads), _ = jax.lax.scan(body, zero, jnp.arange(micros))
    return loss, grads


def _loss_and_grad(cell: str, s: Setting, shape: Shape, params: Model, key):
    """The batch's mean loss and its gradient, summed over the micro-batches that hold real
    sequences (the others skipped); the sequences drawn from `key` by the task's sampler."""
    inputs, outputs = params.cell.w_ih.shape[1], params.readout.b.shape[0]
    value_and_grad = jax.value_and_grad(partial(_micro_loss, cell, s), argnums=0)

    def micro(params, first):
        xs, ys = _sequences(s, key, first, shape.micro, shape.length, inputs, outputs)
        return value_and_grad(params, xs, ys, first)

    return _batch_loss_and_grad(micro, params, s.batch, shape.micro, shape.micros)


def _optimizer_update(s: Setting, grads, opt_state: tuple, params):
    """The run's optimiser (s.optimizer) applied through optax's own chain (clipping at
    s.theta, then the optimiser at s.learning_rate): its updates, and `opt_state` with its
    entry advanced. One branch runs."""

    def branch(i, name):
        def update(grads, opt_state, params):
            opt = make_optimizer(name, s.learning_rate, s.theta)
            updates, new = opt.update(grads, opt_state[i], params)
            return updates, opt_state[:i] + (new,) + opt_state[i + 1:]
        return update

    return jax.lax.switch(s.optimizer, [branch(i, n) for i, n in enumerate(OPTIMIZERS)],
                          grads, tuple(opt_state), params)


class ChunkRecord(NamedTuple):
    """What one chunk recorded, one entry per step; steps not run hold NaN and False."""

    losses: jax.Array  # (k,) training-batch loss before the update
    grad_norms: jax.Array  # (k,) global gradient norm before clipping
    clipped: jax.Array  # (k,) bool: clipping fired (‖g‖ ≥ θ)
    bad: jax.Array  # (k,) bool: the step where loss, gradient or update went non-finite


class Probe(NamedTuple):
    """The weights measured on the fixed probe batch of PROBE_BATCH sequences."""

    loss: jax.Array  # () mean loss
    grad_norm: jax.Array  # () ‖∂L/∂θ‖ of that mean, all parameters
    dh: jax.Array  # (Lp, PROBE_BATCH, Hp): ∂ℓ_b/∂h_t, NaN where the loss is not finite
    gates: dict  # gate name -> (Lp, PROBE_BATCH, Hp), as `rnnviz.engine.bptt.unroll` gives them


def _probe(cell: str, s: Setting, shape: Shape, masks: Model, params: Model, key) -> Probe:
    """Loss, ‖∂L/∂θ‖, ∂ℓ_b/∂h_t and the gates on the probe batch drawn from `key`.

    The loss summed over sequences is differentiated, so each sequence's row of ∂ℓ_b/∂h_t
    is the gradient of its own loss, independent of the probe batch size.
    """
    xs, ys = _sequences(s, key, 0, PROBE_BATCH, shape.length, params.cell.w_ih.shape[1],
                        params.readout.b.shape[0])
    # One zero perturbation per state part and step, as rnnviz.engine.bptt.flow makes them: the
    # gradient of eps[0] is ∂L/∂h_t, through every later step.
    eps = jax.tree.map(lambda c: jnp.zeros((shape.length,) + c.shape, c.dtype),
                       _carry0(cell, params.cell, xs))

    def total(params, eps):
        outs = _states(cell, params.cell, xs, s.length, eps, s.truncate)
        return jnp.sum(_readout_losses(s, params.readout, outs["h"], ys)), outs

    # One reverse pass for both: ∂(Σ ℓ_b)/∂θ and ∂(Σ ℓ_b)/∂h_t.
    (loss, outs), (g_params, g_eps) = jax.value_and_grad(total, (0, 1), has_aux=True)(
        params, eps)
    # ∂(Σ ℓ_b)/∂θ / PROBE_BATCH is ∂(mean ℓ)/∂θ exactly: the batch is a power of two.
    g_params = jax.tree.map(lambda a: a / PROBE_BATCH, _masked(g_params, masks))
    # An infinite loss has no derivative (as in rnnviz.engine.bptt.flow): NaN, not a vanished 0.
    dh = jnp.where(jnp.isfinite(loss), g_eps[0], jnp.nan)
    # Measurements, not part of what is differentiated.
    gates = {k: jax.lax.stop_gradient(v) for k, v in outs.items() if k != "h"}
    return Probe(loss / PROBE_BATCH, global_norm(g_params), dh, gates)


def _optimizer_steps(state: TrainState, n, s, masks, loss_and_grad):
    """The one training loop: n <= CHUNK_STEPS optimiser steps in one `lax.scan` (steps
    i >= n are skipped, not compiled), for any model and data source.

    ``loss_and_grad(params, key) -> (loss, grads)`` is the model's and task's own (the
    Training lab's sampled sequences, the word model's sentences); `key` is this step's, split
    from the state's stream. A stateful run (``state.carry`` not None) has
    ``loss_and_grad(params, key, carry, step) -> (loss, grads, carry)``: the recurrent state
    it starts from and ends in, carried to the next step (truncated BPTT across steps). `masks` (booleans shaped like the params) zero the padded
    entries' gradients and updates; `s` holds the optimiser as data (``optimizer``,
    ``learning_rate``, ``theta``). A step whose loss, gradient norm or update is inf/NaN is
    not applied, and every later step is frozen too, so the state stays the last finite one.

    Returns (state, ChunkRecord).
    """

    def step(state):
        key, k_batch = jax.random.split(state.key)
        if state.carry is None:
            (loss, grads), carry = loss_and_grad(state.params, k_batch), None
        else:
            loss, grads, carry = loss_and_grad(state.params, k_batch, state.carry, state.step)
        grads = _masked(grads, masks)
        g_norm = global_norm(grads)
        updates, opt_state = _optimizer_update(s, grads, state.opt_state, state.params)
        updates = _masked(updates, masks)
        params = optax.apply_updates(state.params, updates)
        ok = jnp.isfinite(loss) & jnp.isfinite(g_norm) & jnp.isfinite(global_norm(updates))
        keep = lambda new, old: jax.tree.map(lambda a, b: jnp.where(ok, a, b), new, old)  # noqa: E731
        new_state = TrainState(keep(params, state.params), keep(opt_state, state.opt_state),
                               state.step + ok.astype(jnp.int32), key,
                               keep(carry, state.carry))
        return new_state, ChunkRecord(loss, g_norm, g_norm >= s.theta, ~ok)

    def idle(state):
        nan = jnp.full((), jnp.nan, jnp.float32)
        return state, ChunkRecord(nan, nan, jnp.array(False), jnp.array(False))

    def body(carry, i):
        state, stopped = carry
        # A real branch: steps past n, or after a failure, cost nothing.
        state, record = jax.lax.cond((i < n) & ~stopped, step, idle, state)
        return (state, stopped | record.bad), record

    (state, _), record = jax.lax.scan(body, (state, jnp.array(False)),
                                      jnp.arange(CHUNK_STEPS))
    return state, record


def _measured_if(wanted, measure, *args):
    """measure(*args) if `wanted` (a traced bool), else zeros of its shapes: one branch runs."""
    shapes = jax.eval_shape(measure, *args)
    return jax.lax.cond(
        wanted, measure,
        lambda *_: jax.tree.map(lambda o: jnp.zeros(o.shape, o.dtype), shapes), *args)


@programs.jit(static_argnames=("cell", "shape"))
def _chunk(state: TrainState, n, want_probe, s: Setting, probe_key, *, cell, shape):
    """The Training lab's program: n <= CHUNK_STEPS optimiser steps of `_optimizer_steps` on
    the task's sampled sequences, then, if want_probe, the Probe of the weights reached
    (else zeros)."""
    masks = _real_entries(cell, s, state.params)
    state, record = _optimizer_steps(state, n, s, masks,
                                     partial(_loss_and_grad, cell, s, shape))
    probe = _measured_if(want_probe, partial(_probe, cell, s, shape, masks),
                         state.params, probe_key)
    return state, record, probe


# --- The host side ----------------------------------------------------------------------


def init_state(config: TrainConfig) -> tuple[TrainState, np.ndarray]:
    """The initial TrainState (padded) and the key of the fixed probe batch of a config.

    The seed's key is split three ways: weights, training data, probe batch. The data and
    the probe do not depend on the cell, so runs that differ only in the cell see the same
    sequences in the same order.
    """
    k_cell, k_out, k_data, k_probe = (np.asarray(a) for a in _run_keys(np.int32(config.seed)))
    task = TASKS[config.task]
    cell = init_params(k_cell, config.cell, task.input_size, config.hidden_size,
                       dtype=jnp.float32, **config.init_kwargs())
    model = Model(CellParams(*(np.asarray(a) for a in cell)),
                  init_readout(k_out, config.hidden_size, task.output_size))
    return _state(_padded(config, model), k_data), k_probe


def _call(config: TrainConfig, state: TrainState, n: int, probe_key, want_probe: bool):
    """One run of the config's chunk program: (state, ChunkRecord, Probe)."""
    return _chunk(state, np.int32(n), np.bool_(want_probe), setting(config),
                  np.asarray(probe_key, np.uint32), cell=config.cell,
                  shape=padded_shape(config))


def train_chunk(config: TrainConfig, state: TrainState, n: int):
    """Run n optimiser steps (through ceil(n / CHUNK_STEPS) program calls).

    Returns:
      (state, ChunkRecord) with the record's arrays of length n (numpy); steps after one
      that went non-finite hold NaN and False.
    """
    records = []
    for done in range(0, max(n, 1), CHUNK_STEPS):
        k = min(CHUNK_STEPS, n - done)
        state, record, _ = _call(config, state, k, state.key, False)
        records.append(jax.tree.map(lambda a: np.asarray(a)[:k], record))
    return state, ChunkRecord(*(np.concatenate(parts) for parts in zip(*records)))


def _probe_values(config: TrainConfig, probe: Probe) -> tuple[float, float, np.ndarray]:
    """(loss, ‖∂L/∂θ‖, ‖∂ℓ/∂h_t‖ (L,)) of a Probe, at the real length and units."""
    L = TASKS[config.task].length(config.T)
    dh = np.asarray(probe.dh)[:L, :, :config.hidden_size]
    return float(probe.loss), float(probe.grad_norm), per_step_norms(dh)


def probe_profile(config: TrainConfig, params: Model, probe) -> tuple[float, float, np.ndarray]:
    """(loss, ‖∂L/∂θ‖, ‖∂ℓ/∂h_t‖ (L,)) of the weights (real-size or padded) on the probe
    batch of key `probe`; inf/NaN kept."""
    _, _, measured = _call(config, _state(_padded(config, params), probe), 0, probe, True)
    return _probe_values(config, measured)


def _advance(config: TrainConfig, state: TrainState, probe_key, n: int):
    """n steps in calls of at most CHUNK_STEPS, the probe measured by the last (or after a
    step that went non-finite, where the run stops): (state, ChunkRecord of the steps run
    (numpy), Probe)."""
    return _advance_by(lambda state, k, measure: _call(config, state, k, probe_key, measure),
                       state, n)


def pytorch_uniform(rng: np.random.Generator, shape, fan_in: int) -> np.ndarray:
    """PyTorch's default for recurrent and linear layers, U(±1/√fan_in), float32, drawn on
    the host from a numpy Generator (the sequence models' weights: no program per shape)."""
    bound = 1.0 / math.sqrt(fan_in)
    return rng.uniform(-bound, bound, shape).astype(np.float32)


def pytorch_cell(rng: np.random.Generator, cell: str, inputs: int, hidden: int) -> CellParams:
    """A cell's weights as ``nn.RNN / nn.LSTM / nn.GRU`` draws them by default (w_ih, w_hh,
    b_ih, b_hh in that order), from `rng`."""
    G = GATE_BLOCKS[cell]
    return CellParams(pytorch_uniform(rng, (G * hidden, inputs), hidden),
                      pytorch_uniform(rng, (G * hidden, hidden), hidden),
                      pytorch_uniform(rng, (G * hidden,), hidden),
                      pytorch_uniform(rng, (G * hidden,), hidden))


def all_entries(params):
    """Masks for `_optimizer_steps` that keep every entry (a model with no padded units)."""
    return jax.tree.map(lambda a: jnp.ones(a.shape, bool), params)


def _advance_by(call, state: TrainState, n: int):
    """n steps through ``call(state, k, measure) -> (state, ChunkRecord, measured)``, a chunk
    program of any model run for k <= CHUNK_STEPS steps, measuring (its probe or held-out
    set) when told: calls of at most CHUNK_STEPS steps, the last one measuring, or, when a
    step went non-finite (the run stops there), one more call of 0 steps measuring the
    weights it stopped at. Returns (state, ChunkRecord of the steps run (numpy), measured)."""
    records, left = [], n
    while True:
        k = min(CHUNK_STEPS, left)
        left -= k
        state, record, measured = call(state, k, left == 0)
        record = jax.tree.map(lambda a: np.asarray(a)[:k], record)
        records.append(record)
        if record.bad.any() or left == 0:
            break
    if left > 0:  # stopped early: measure the weights it stopped at
        _, _, measured = call(state, 0, True)
    return state, ChunkRecord(*(np.concatenate(parts) for parts in zip(*records))), measured


class _Interval(NamedTuple):
    """What the steps between two snapshots recorded, up to the first bad one (numpy)."""

    steps: int  # steps reported: all of them, or up to and with the first bad one
    losses: np.ndarray  # (steps,) float64
    grad_norms: np.ndarray  # (steps,) float64, before clipping
    clipped: np.ndarray  # (steps,) bool
    loss_mean: float  # mean of the finite losses (NaN if none)
    diverged: bool


def _interval(record: ChunkRecord, n: int) -> _Interval:
    bad = np.flatnonzero(record.bad)
    m = int(bad[0]) + 1 if bad.size else n  # steps of this interval to report
    losses = record.losses[:m].astype(np.float64)
    finite = losses[np.isfinite(losses)]
    return _Interval(m, losses, record.grad_norms[:m].astype(np.float64),
                     record.clipped[:m].astype(bool),
                     float(finite.mean()) if finite.size else float("nan"), bool(bad.size))


def _interval_divergence(done: int, part: _Interval, last_norm, clip) -> str:
    """The divergence message of an interval that went non-finite at its last step; `done`
    steps came before it, `last_norm` the gradient norm of the step before it (or None)."""
    prev = part.grad_norms[-2] if part.steps >= 2 else last_norm
    return divergence_message(done + part.steps, float(part.losses[-1]),
                              float(part.grad_norms[-1]), None if prev is None else float(prev),
                              clip)


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
    state, probe_key = init_state(config)
    _, _, measured = _call(config, state, 0, probe_key, True)
    probe = _probe_values(config, measured)
    empty = np.zeros(0)
    yield Snapshot(0, empty, empty, np.zeros(0, bool), probe[0], probe[0], probe[1], 0, *probe)
    done, last_norm = 0, None
    while done < config.steps:
        n = min(config.snapshot_every, config.steps - done)
        state, rec, measured = _advance(config, state, probe_key, n)
        probe = _probe_values(config, measured)
        part = _interval(rec, n)
        snap = Snapshot(
            done + part.steps, part.losses, part.grad_norms, part.clipped, part.loss_mean,
            float(part.losses[-1]), float(part.grad_norms[-1]), int(part.clipped.sum()), *probe)
        if part.diverged:
            msg = _interval_divergence(done, part, last_norm, config.clip)
            yield snap._replace(diverged=True, message=msg, params=_trained(config, state))
            return
        last_norm = float(part.grad_norms[-1])
        done += n
        yield snap._replace(params=_trained(config, state)) if done >= config.steps else snap


def _trained(config: TrainConfig, state: TrainState) -> Model:
    """The state's weights at the real sizes, numpy arrays."""
    task = TASKS[config.task]
    return unpad_model(state.params, config.cell, config.hidden_size, task.input_size,
                       task.output_size)


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
    # the 1/6 plateau by step ~200-360 and ends near 5e-4 (seeds 0-3); the tanh RNN stays
    # at ~0.17.
    "adding_lstm_vs_rnn": TrainConfig(
        task="adding", T=50, cell="lstm", hidden_size=32, chrono_tmax=50.0,
        learning_rate=0.02, batch_size=64, steps=700, snapshot_every=50),
    # Every cell gets well below the persistence baseline within 200 steps.
    "sine_every_cell": TrainConfig(
        task="sine", T=30, cell="rnn", hidden_size=16, learning_rate=0.01, batch_size=64,
        steps=200, snapshot_every=50),
    # IRNN (Le et al. 2015) at gain 2 over 30 steps: gradients ~5e16 at once, the loss
    # overflows at step 2.
    "irnn_explodes": TrainConfig(
        task="sine", T=30, cell="rnn_relu", hidden_size=16, scheme="identity", gain=2.0,
        optimizer="sgd", learning_rate=1.0, steps=50, snapshot_every=1),
    # Plain IRNN with SGD at lr 0.13: without clipping the loss shoots to ~6e17 at step 2
    # and never recovers; with clip=1.0 (Pascanu et al. 2013) it beats the baseline.
    "clipping_rescues": TrainConfig(
        task="sine", T=30, cell="rnn_relu", hidden_size=16, scheme="identity",
        optimizer="sgd", learning_rate=0.13, clip=1.0, steps=300, snapshot_every=50),
}


def gates_before_after(config: TrainConfig, trained: Model) -> tuple[dict, dict]:
    """Gate activations on the probe batch at initialisation and with trained weights,
    measured by the config's own chunk program (no steps, the probe only).

    Returns:
      (initial, trained): dicts gate name -> (L, B, H) numpy arrays (empty for vanilla cells).
    """
    state, probe_key = init_state(config)
    L, H = TASKS[config.task].length(config.T), config.hidden_size

    def gates(params):
        _, _, probe = _call(config, _state(_padded(config, params), probe_key), 0, probe_key,
                            True)
        return {k: np.asarray(v)[:L, :, :H] for k, v in probe.gates.items()}

    return gates(state.params), gates(trained)


def catalogue() -> list[Program]:
    """The Training lab's programs: the chunk of every cell at every padded length and
    width, and the seed's keys. Every setting of the lab runs on these
    (tests/test_train_padding.py)."""
    first_shapes = {(padded_shape(c).length, width(c.hidden_size))
                    for c in (TrainConfig(), *PRESETS.values())}

    def chunk(cell, length, w):
        # The copy task fills a padded length exactly: T = length − 20 (44 or 200).
        config = TrainConfig(task="copy", T=length - 2 * COPY_LENGTH, cell=cell, hidden_size=w)
        task = TASKS[config.task]
        zeros = pad_model(Model(
            CellParams(*(np.zeros(s, np.float32) for s in _cell_shapes(cell, w, task))),
            Readout(np.zeros((task.output_size, w), np.float32),
                    np.zeros(task.output_size, np.float32))),
            cell, w, task.input_size, task.output_size)
        key = np.zeros(2, np.uint32)
        return lambda: _call(config, _state(zeros, key), 0, key, True)

    family = "training"
    return [Program(family, "a run's keys", lambda: _run_keys(np.int32(0)), True)] + [
        Program(family, f"{cell}, H ≤ {w}, L ≤ {length}, batch ≤ {BATCH_MAX}",
                chunk(cell, length, w), (length, w) in first_shapes)
        for length in LENGTHS for w in WIDTHS for cell in CELLS]


def _cell_shapes(cell: str, hidden: int, task: Task) -> tuple:
    G = GATE_BLOCKS[cell]
    return (G * hidden, task.input_size), (G * hidden, hidden), (G * hidden,), (G * hidden,)


# --- Word models: embedding → cell → a sigmoid at the last real word (issue 18) ----------
#
# The agreement task (`rnnviz.engine.language`, Linzen, Dupoux & Goldberg 2016): read a
# sentence up to its main verb and say whether the verb is singular or plural. The model is
# an embedding (V × E, trained), one recurrent layer (PyTorch layout, input size E) and a
# readout to one logit read at each sentence's last real word; the loss is binary
# cross-entropy. It trains in the one loop of the Training lab (`_optimizer_steps`), with its
# own data source and loss: the same optimisers (as data), clipping, bad-step freezing,
# masks and chunks.
#
# Shapes: sentences are padded to language.MAX_WORDS words (PAD after the last real word:
# a forward scan needs no mask there, the readout selects the last real step), the hidden
# size to WORD_WIDTH and the embedding to EMBED_WIDTH (padded units and embedding columns
# stay exactly 0), and batches run as up to WORD_MICRO_BATCHES micro-batches of
# WORD_MICRO_BATCH. Training sentences are drawn inside the program, by random indices, from
# a pool of TRAIN_POOL sentences sampled once per run on the host (the language is Python:
# ~TRAIN_POOL sentences take what a fresh batch per step would take for a few hundred
# steps); the held-out set is HELD_OUT sentences. So the whole word trainer is one program
# per cell (`words_catalogue`), and every setting of `WordsConfig` is data.

WORD_CELLS = ("rnn", "lstm", "gru")
WORD_WIDTH = 32  # hidden sizes up to this run at this width (64 halved an LSTM's steps/s)
EMBED_WIDTH = 32  # embedding sizes up to this run at this width
WORD_MICRO_BATCH = 64
WORD_MICRO_BATCHES = 2
WORDS_BATCH_MAX = WORD_MICRO_BATCH * WORD_MICRO_BATCHES
TRAIN_POOL = 8192  # training sentences per run, drawn with replacement by every step
HELD_OUT = 1024  # held-out sentences a snapshot's accuracy is measured on
assert language.VOCAB_SIZE * EMBED_WIDTH <= DRAW_LENGTH  # the embedding's one normal draw

WORDS_BOUNDS = {
    "hidden_size": (1, WORD_WIDTH),
    "embed_size": (1, EMBED_WIDTH),
    "steps": (1, 3000),
    "batch_size": (1, WORDS_BATCH_MAX),
    "snapshot_every": (1, MAX_CHUNK),
    "learning_rate": (LR_MIN, LR_MAX),
    "clip": (CLIP_MIN, CLIP_MAX),
    "seed": (SEED_MIN, SEED_MAX),
    "relative_rate": (0.0, 1.0),
}
_WORDS_INTEGER = {"hidden_size", "embed_size", "steps", "batch_size", "snapshot_every", "seed"}


@dataclasses.dataclass(frozen=True)
class WordsConfig:
    """Every knob of a word-model run on the agreement task; hashable, so it can key a cache.

    ``distances`` and ``attractors`` are (low, high) ranges of the training and held-out
    sentences (`language.sample`: distance uniform in its range, attractors capped by what
    each distance holds); ``relative_rate`` the chance of a relative clause. ``clip`` is
    the gradient-norm threshold θ (Pascanu et al. 2013), None for none. Values outside
    `WORDS_BOUNDS` (or the language's bounds) raise a ValueError that names the bound.
    """

    # The defaults train an RNN and an LSTM in about 2 s each on 2 CPU cores. Distances 1-16
    # with 0-3 attractors: the short sentences teach which noun the verb agrees with, the
    # long ones with attractors that it is the first. With seeds 0-4, both cells reach 100 %
    # held-out accuracy by step ~200 of 500, at every distance 1-30 (also with 1-3
    # attractors, where "agree with the nearest noun" scores ~0.34): a tanh RNN of 32 units
    # learns to hold the subject's number here. Its vanishing gradient shows in how much of
    # ∂ℓ reaches the subject, not in its accuracy: at distance 15 with 1-3 attractors,
    # ‖∂ℓ/∂e_subject‖ is a median 3e-9 of the largest word's for the RNN, 4e-4 for the LSTM
    # (seed 0, 40 sentences). Tests: tests/test_agreement.py.
    cell: str = "lstm"
    hidden_size: int = 32
    embed_size: int = 16
    steps: int = 500
    batch_size: int = 64
    learning_rate: float = 1e-2
    optimizer: str = "adam"
    seed: int = 0
    distances: tuple = (1, 16)
    attractors: tuple = (0, 3)
    relative_rate: float = 0.0
    clip: float | None = 1.0
    snapshot_every: int = 25

    def __post_init__(self):
        _choice("cell", self.cell, WORD_CELLS)
        _choice("optimizer", self.optimizer, OPTIMIZERS)
        _check_bounds(self, WORDS_BOUNDS, {"clip"}, _WORDS_INTEGER)
        for name, hi in (("distances", language.MAX_DISTANCE),
                         ("attractors", language.MAX_ATTRACTORS)):
            object.__setattr__(self, name, _int_range(name, getattr(self, name),
                                                      0 if name == "attractors" else 1, hi))


def _int_range(name: str, pair, lo: int, hi: int) -> tuple[int, int]:
    """A (low, high) pair of whole numbers within [lo, hi], low ≤ high, as plain ints."""
    try:
        low, high = pair
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a pair (low, high), got {pair!r}") from None
    for v in (low, high):
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not float(v).is_integer():
            raise ValueError(f"{name} must hold whole numbers, got {pair!r}")
    low, high = int(low), int(high)
    if not lo <= low <= high <= hi:
        raise ValueError(f"{name} = {pair!r} must satisfy {lo} ≤ low ≤ high ≤ {hi}")
    return low, high


class WordModel(NamedTuple):
    """A word model's weights: the embedding, one recurrent layer reading it, the readout."""

    embedding: jax.Array  # (V, E)
    cell: CellParams  # PyTorch layout, input size E
    readout: Readout  # (1, H), (1,): the logit of "plural"


class Sentences(NamedTuple):
    """Sentences as the word program reads them (numpy): right-padded with language.PAD."""

    ids: np.ndarray  # (N, language.MAX_WORDS) int32
    lengths: np.ndarray  # (N,) int32: real words, at least 1
    labels: np.ndarray  # (N,) float32: 0 singular, 1 plural


class WordSetting(NamedTuple):
    """Everything about a word run that the compiled chunk reads as data (numpy scalars);
    the optimiser's fields have the names `_optimizer_steps` reads."""

    embed: np.ndarray  # int32 E
    hidden: np.ndarray  # int32 H
    batch: np.ndarray  # int32 B
    optimizer: np.ndarray  # int32 index into OPTIMIZERS
    learning_rate: np.ndarray  # float32
    theta: np.ndarray  # float32 clipping threshold, inf for none


class WordEval(NamedTuple):
    """A word model measured on a set of held-out sentences."""

    loss: jax.Array  # () mean binary cross-entropy
    logits: jax.Array  # (HELD_OUT,) logit of "plural" per sentence


def word_setting(config: WordsConfig) -> WordSetting:
    i32 = np.int32
    return WordSetting(i32(config.embed_size), i32(config.hidden_size), i32(config.batch_size),
                       i32(OPTIMIZERS.index(config.optimizer)),
                       np.float32(config.learning_rate),
                       np.float32(np.inf if config.clip is None else config.clip))


def sentences(batch) -> Sentences:
    """A `language.Batch` as the word program reads it, padded to language.MAX_WORDS."""
    ids = np.full((len(batch.lengths), language.MAX_WORDS), language.PAD, np.int32)
    ids[:, :batch.ids.shape[1]] = batch.ids
    return Sentences(ids, np.asarray(batch.lengths, np.int32),
                     np.asarray(batch.labels, np.float32))


def _resize_word_model(model: WordModel, cell: str, sizes: tuple, to: tuple) -> WordModel:
    """`model` with its (H, E) `sizes` zero-padded or cut to `to` (numpy arrays)."""
    (H, E), (H2, E2) = sizes, to
    inner = _resize_model(Model(model.cell, model.readout), cell, (H, E, 1), (H2, E2, 1))
    return WordModel(_resize(np.asarray(model.embedding), 1, E, E2), inner.cell, inner.readout)


def pad_word_model(model: WordModel, cell: str) -> WordModel:
    """A real-size WordModel at the program's shapes: H to WORD_WIDTH (in every gate
    block), E to EMBED_WIDTH, with zeros. Numpy arrays."""
    E, H = np.shape(model.embedding)[1], np.shape(model.cell.w_hh)[1]
    return _resize_word_model(model, cell, (H, E), (WORD_WIDTH, EMBED_WIDTH))


def unpad_word_model(model: WordModel, cell: str, hidden: int, embed: int) -> WordModel:
    """The real-size WordModel (H = hidden, E = embed) inside a padded one (numpy arrays)."""
    return _resize_word_model(model, cell, (WORD_WIDTH, EMBED_WIDTH), (hidden, embed))


def init_embedding(key, vocab_size: int, embed_size: int) -> np.ndarray:
    """``torch.nn.Embedding``'s default, N(0, 1), as ``jax.random.normal(key, (V, E))``
    draws it (numpy float32), cut from the engine's one normal draw (no program per size)."""
    keys = np.broadcast_to(_raw_key(key), (DRAW_ROWS, 2))
    return _cuts(_flat("normal", keys, np.float32), (vocab_size, embed_size), 1)[0]


def init_word_model(config: WordsConfig) -> tuple[WordModel, np.ndarray]:
    """A word model's initial weights (real sizes, numpy) and the key of its training
    stream. The seed's keys are the Training lab's (`_run_keys`): the cell's weights are
    PyTorch's default U(±1/√H) (`init_params`), the readout nn.Linear's, and the key the
    lab uses for its probe batch draws the embedding (a word run has no probe batch). The
    data key does not depend on the cell, so the cells of one seed see the same sentences in
    the same order."""
    k_cell, k_out, k_data, k_embed = (np.asarray(a) for a in _run_keys(np.int32(config.seed)))
    cell = init_params(k_cell, config.cell, config.embed_size, config.hidden_size,
                       dtype=jnp.float32)
    model = WordModel(init_embedding(k_embed, language.VOCAB_SIZE, config.embed_size),
                      CellParams(*(np.asarray(a) for a in cell)),
                      init_readout(k_out, config.hidden_size, 1))
    return model, k_data


# --- Inside the word program ---


def _word_logits(cell: str, params: WordModel, ids, lengths):
    """The logit of "plural" (B,) for sentences ids (B, T) of `lengths` real words: the
    embedding's rows, the engine's scan (`_scan`, from a zero state), the readout at step
    length − 1 (a select, so the padded steps after it get no gradient)."""
    xs = jnp.take(params.embedding, ids.T, axis=0)  # (T, B, E), time-major
    _, outs = _scan(STEPS[cell], params.cell, xs, _carry0(cell, params.cell, xs))
    at_last = (jnp.arange(xs.shape[0])[:, None] == lengths[None, :] - 1)[..., None]
    h_last = jnp.sum(jnp.where(at_last, outs["h"], 0.0), axis=0)  # (B, H)
    return h_last @ params.readout.w[0] + params.readout.b[0]


def _word_losses(cell: str, params: WordModel, ids, lengths, labels):
    """Each sentence's binary cross-entropy (B,) of the sigmoid of its logit."""
    return optax.sigmoid_binary_cross_entropy(_word_logits(cell, params, ids, lengths), labels)


def _pool_indices(key, first, count: int, pool_size: int):
    """The pool indices of sequences first, …, first + count − 1 of a step's batch: drawn
    with replacement from fold_in(key, first)."""
    return jax.random.randint(jax.random.fold_in(key, first), (count,), 0, pool_size)


def _word_micro_loss(cell: str, s: WordSetting, params: WordModel, ids, lengths, labels, first):
    """Σ ℓ_b / B over the real sentences of one micro-batch (first is its first index)."""
    losses = _word_losses(cell, params, ids, lengths, labels)
    real = first + jnp.arange(ids.shape[0]) < s.batch
    return jnp.sum(jnp.where(real, losses, 0.0)) / s.batch.astype(losses.dtype)


def _word_loss_and_grad(cell: str, s: WordSetting, pool: Sentences, params: WordModel, key):
    """The batch's mean loss and gradient: B sentences of the pool at random indices from
    `key`, in micro-batches (those past B skipped)."""
    value_and_grad = jax.value_and_grad(partial(_word_micro_loss, cell, s), argnums=0)

    def micro(params, first):
        idx = _pool_indices(key, first, WORD_MICRO_BATCH, pool.ids.shape[0])
        return value_and_grad(params, *(jnp.take(a, idx, axis=0) for a in pool), first)

    return _batch_loss_and_grad(micro, params, s.batch, WORD_MICRO_BATCH, WORD_MICRO_BATCHES)


def _word_real_entries(cell: str, s: WordSetting, params: WordModel) -> WordModel:
    """Booleans shaped like `params`: True on the real units' and embedding columns' entries."""
    inner = _real_units(cell, s.hidden, s.embed, 1, Model(params.cell, params.readout))
    columns = jnp.arange(params.embedding.shape[1]) < s.embed
    return WordModel(jnp.broadcast_to(columns, params.embedding.shape), inner.cell,
                     inner.readout)


def _word_eval(cell: str, params: WordModel, held_out: Sentences) -> WordEval:
    logits = _word_logits(cell, params, held_out.ids, held_out.lengths)
    return WordEval(jnp.mean(optax.sigmoid_binary_cross_entropy(logits, held_out.labels)),
                    logits)


@programs.jit(static_argnames=("cell",))
def _word_chunk(state: TrainState, n, want_eval, s: WordSetting, pool: Sentences,
                held_out: Sentences, *, cell):
    """The word model's program: n <= CHUNK_STEPS optimiser steps of `_optimizer_steps` on
    batches from the training pool, then, if want_eval, the WordEval of the weights reached
    on the held-out sentences (else zeros)."""
    masks = _word_real_entries(cell, s, state.params)
    state, record = _optimizer_steps(state, n, s, masks,
                                     partial(_word_loss_and_grad, cell, s, pool))
    evaluation = _measured_if(want_eval, partial(_word_eval, cell), state.params, held_out)
    return state, record, evaluation


# --- The word trainer's host side ---


class WordData(NamedTuple):
    """A run's sentences: the training pool and the held-out set (`Sentences`), and the
    held-out set as the language drew it (distances, attractors, nearest nouns)."""

    pool: Sentences
    held_out: Sentences
    held_out_batch: object  # language.Batch


def data_seed(seed: int, purpose: int) -> int:
    """An independent seed of the language's sampler for each purpose of a run's seed
    (0: training pool, 1: held-out set, 2 on: evaluations)."""
    return int(np.random.SeedSequence([seed, purpose]).generate_state(1, np.uint64)[0]) >> 1


_kept_data: dict = {}
_kept_data_lock = threading.Lock()


def word_data(config: WordsConfig) -> WordData:
    """The config's training pool and held-out set (from its seed and its language
    controls, not its cell: the cells of a comparison read the same sentences). The last
    few are kept: sampling TRAIN_POOL sentences takes a noticeable fraction of a second."""
    name = (config.seed, config.distances, config.attractors, config.relative_rate)
    with _kept_data_lock:
        if name in _kept_data:
            return _kept_data[name]
    controls = dict(distances=config.distances, attractors=config.attractors,
                    relative_rate=config.relative_rate, width=language.MAX_WORDS)
    held_out = language.sample(data_seed(config.seed, 1), HELD_OUT, **controls)
    pool = sentences(language.sample(data_seed(config.seed, 0), TRAIN_POOL, **controls))
    data = WordData(pool, sentences(held_out), held_out)
    for a in (*data.pool, *data.held_out, *held_out):
        a.flags.writeable = False  # kept and shared by the runs of this seed and language
    with _kept_data_lock:
        while len(_kept_data) >= 4:
            _kept_data.pop(next(iter(_kept_data)))
        _kept_data[name] = data
    return data


def _word_call(config: WordsConfig, data: WordData, state: TrainState, n: int, measure: bool,
               held_out: Sentences | None = None):
    """One run of the cell's word program: (state, ChunkRecord, WordEval)."""
    return _word_chunk(state, np.int32(n), np.bool_(measure), word_setting(config), data.pool,
                       data.held_out if held_out is None else held_out, cell=config.cell)


class WordsSnapshot(NamedTuple):
    """Progress of a word run after `step` steps; numpy and Python values only.

    ``losses``, ``grad_norms`` and ``clipped`` hold one entry per step since the last
    snapshot (empty at step 0). ``accuracy`` and ``held_out_loss`` are measured on the run's
    fixed held-out set of HELD_OUT sentences.
    """

    step: int
    losses: np.ndarray  # (n,) float64: training-batch losses
    grad_norms: np.ndarray  # (n,) float64, before clipping
    clipped: np.ndarray  # (n,) bool
    loss_mean: float  # mean over the interval's finite losses
    held_out_loss: float
    accuracy: float  # fraction of held-out sentences whose verb number is predicted right
    diverged: bool = False
    message: str | None = None
    # The weights reached (WordModel, numpy, real sizes), in every snapshot: a few tens of
    # kB, so a run stopped early (Stop, a time limit) keeps a model to explain.
    params: object = None


def _held_out_values(data: WordData, evaluation: WordEval) -> tuple[float, float]:
    """(loss, accuracy) on the held-out set."""
    predicted = np.asarray(evaluation.logits) > 0
    return float(evaluation.loss), float(np.mean(predicted == (data.held_out.labels > 0.5)))


def train_words(config: WordsConfig) -> Iterator[WordsSnapshot]:
    """Train a word model on the agreement task, yielding a WordsSnapshot at step 0, every
    `snapshot_every` steps and at the end, as `train` does for the Training lab: the same
    chunks, the same divergence handling (a last snapshot with ``diverged=True`` and a
    message), and the caller stops it (Stop, a wall-clock limit) by closing the iterator."""
    data = word_data(config)
    model, key = init_word_model(config)
    state = _state(pad_word_model(model, config.cell), key)
    call = partial(_word_call, config, data)
    loss, accuracy = _held_out_values(data, call(state, 0, True)[2])
    empty = np.zeros(0)
    yield WordsSnapshot(0, empty, empty, np.zeros(0, bool), loss, loss, accuracy,
                        params=model)
    done, last_norm = 0, None
    while done < config.steps:
        n = min(config.snapshot_every, config.steps - done)
        state, rec, evaluation = _advance_by(call, state, n)
        part = _interval(rec, n)
        snap = WordsSnapshot(done + part.steps, part.losses, part.grad_norms, part.clipped,
                             part.loss_mean, *_held_out_values(data, evaluation),
                             params=trained_word_model(config, state.params))
        if part.diverged:
            msg = _interval_divergence(done, part, last_norm, config.clip)
            yield snap._replace(diverged=True, message=msg)
            return
        last_norm = float(part.grad_norms[-1])
        done += n
        yield snap


def trained_word_model(config: WordsConfig, params: WordModel) -> WordModel:
    """A (padded) word model's weights at the config's real sizes, numpy arrays."""
    return unpad_word_model(_numpy(params), config.cell, config.hidden_size, config.embed_size)


def word_logits(cell: str, model: WordModel, batch) -> np.ndarray:
    """The logit of "plural" (N,) of a word model (real size or padded, numpy) for
    sentences (a `language.Batch` or `Sentences`), computed by the cell's word program (no
    steps; HELD_OUT sentences a call), so any model and any number of sentences compile
    nothing new."""
    data = batch if isinstance(batch, Sentences) else sentences(batch)
    n = len(data.lengths)
    state = _state(pad_word_model(model, cell), np.zeros(2, np.uint32))
    config = WordsConfig(cell=cell)
    out = []
    for first in range(0, n, HELD_OUT):
        block = Sentences(*(_rows(a[first:first + HELD_OUT], HELD_OUT) for a in data))
        # Rows past the end read one PAD word (length 1): a real sentence's shape, ignored.
        block = block._replace(lengths=np.maximum(block.lengths, 1))
        evaluation = _word_call(config, _empty_word_data(), state, 0, True, held_out=block)[2]
        out.append(np.asarray(evaluation.logits)[:min(HELD_OUT, n - first)])
    return np.concatenate(out) if out else np.zeros(0, np.float32)


def _rows(a: np.ndarray, count: int) -> np.ndarray:
    """`a` with zero rows appended up to `count` rows."""
    out = np.zeros((count,) + a.shape[1:], a.dtype)
    out[:len(a)] = a
    return out


def _zero_sentences(count: int) -> Sentences:
    return Sentences(np.zeros((count, language.MAX_WORDS), np.int32), np.ones(count, np.int32),
                     np.zeros(count, np.float32))


def _empty_word_data() -> WordData:
    """Placeholder data of the program's shapes (a call of 0 steps reads no pool)."""
    return WordData(_zero_sentences(TRAIN_POOL), _zero_sentences(HELD_OUT), None)


def words_catalogue() -> list[Program]:
    """The word trainer's programs: one chunk per cell of WORD_CELLS at its one padded
    shape (every WordsConfig, and `word_logits` of any model, runs on these). The seed's
    keys and the weight draws are already in the catalogue (`catalogue`, `init.catalogue`)."""

    def chunk(cell):
        config = WordsConfig(cell=cell)
        G = GATE_BLOCKS[cell]
        zeros = WordModel(
            np.zeros((language.VOCAB_SIZE, EMBED_WIDTH), np.float32),
            CellParams(np.zeros((G * WORD_WIDTH, EMBED_WIDTH), np.float32),
                       np.zeros((G * WORD_WIDTH, WORD_WIDTH), np.float32),
                       np.zeros(G * WORD_WIDTH, np.float32), np.zeros(G * WORD_WIDTH, np.float32)),
            Readout(np.zeros((1, WORD_WIDTH), np.float32), np.zeros(1, np.float32)))
        state = _state(zeros, np.zeros(2, np.uint32))
        return lambda: _word_call(config, _empty_word_data(), state, 0, True)

    return [Program("word training", f"{cell}, H ≤ {WORD_WIDTH}, E ≤ {EMBED_WIDTH}, "
                    f"{language.MAX_WORDS} words, batch ≤ {WORDS_BATCH_MAX}", chunk(cell))
            for cell in WORD_CELLS]
