"""An encoder–decoder, with and without attention, trained live on copying a sequence.

The model (Sutskever, Vinyals & Le 2014; attention of Bahdanau, Cho & Bengio 2015):

- the **encoder**, a cell of H units, reads the source x_0 … x_{L−1} (one-hot symbols of an
  alphabet of SYMBOLS), possibly in reverse order (``reverse_source``, Sutskever et al.'s
  trick: the first outputs then sit next to their inputs);
- the **decoder**, a cell of the same kind, starts from the encoder's last state and at step
  j reads [y_{j−1}; c_j]: the previous target (teacher forcing; a start symbol at j = 0) and
  a context c_j;
- with **attention**, c_j = Σ_i α_ji h_i, α_j = softmax_i(vᵀ tanh(W s_{j−1} + U h_i)) over
  the source's real steps (additive attention over the encoder's states); without it,
  c_j = 0, so the context's weights get no gradient and the model is the plain encoder–
  decoder exactly;
- a readout of [s_j; c_j] gives the logits of output j; the loss of a sequence is the mean
  cross-entropy over its L outputs.

The task is to output the source (``reverse_target`` False: copy) or the source reversed.
Everything a student sets is data (the length L ≤ MAX_LENGTH, the two reversals, attention,
the optimiser), so each cell has one program (`_chunk`): CHUNK_STEPS optimiser steps of the
engine's one training loop (`train._optimizer_steps`), then, on request, the probe: the loss
and accuracy on a fixed batch, the map ‖∂ℓ_j/∂x_i‖ (output j × source input i, in the
source's own order, over the batch's first MAP_SOURCES sources), and for one shown source the attention weights and the greedy decoding.
"""
import dataclasses
import math
from functools import partial
from typing import Iterator, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from rnnviz.engine import programs
from rnnviz.engine.bptt import _carry0, _scan
from rnnviz.engine.cells import GATE_BLOCKS, STEPS, CellParams
from rnnviz.engine.programs import Program
from rnnviz.engine.train import (
    OPTIMIZERS,
    Readout,
    TrainState,
    _batch_loss_and_grad,
    _check_bounds,
    _choice,
    _advance_by,
    _measured_if,
    _optimizer_steps,
    all_entries,
    optimizer_states,
    pytorch_cell,
    pytorch_uniform,
)

CELLS = ("rnn", "lstm", "gru")
SYMBOLS = 8  # the alphabet: A … H
ALPHABET = "ABCDEFGH"
START = SYMBOLS  # the decoder's first input (a ninth one-hot position)
MAX_LENGTH = 20  # source (and output) steps every program runs at
HIDDEN = 64  # units of the encoder and of the decoder
BATCH = 64  # sequences per optimiser step
PROBE = 64  # sequences of the fixed probe batch
MAP_SOURCES = 16  # of them, the map's RMS is over the first 16 (a reverse pass per output each)
BOUNDS = {"length": (2, MAX_LENGTH), "steps": (1, 5000), "learning_rate": (1e-5, 1.0),
          "seed": (0, 2**31 - 1), "snapshot_every": (1, 200)}
# The loss of a model that has learned nothing about the source: a uniform guess over the
# alphabet, log 8 nats per output.
MEMORYLESS_LOSS = math.log(SYMBOLS)


@dataclasses.dataclass(frozen=True)
class Seq2SeqConfig:
    """Every knob of an encoder–decoder run; hashable. Values outside BOUNDS raise."""

    cell: str = "lstm"
    length: int = 12
    reverse_target: bool = False  # the task: copy (False) or reverse (True) the source
    reverse_source: bool = False  # feed the encoder the source backwards
    attention: bool = False
    optimizer: str = "adam"
    learning_rate: float = 1e-2
    steps: int = 600
    seed: int = 0
    snapshot_every: int = 25

    def __post_init__(self):
        _choice("cell", self.cell, CELLS)
        _choice("optimizer", self.optimizer, OPTIMIZERS)
        _check_bounds(self, BOUNDS, set(), {"length", "steps", "seed", "snapshot_every"})
        for name in ("reverse_target", "reverse_source", "attention"):
            object.__setattr__(self, name, bool(getattr(self, name)))


class Attention(NamedTuple):
    """Additive attention's weights: e_ji = vᵀ tanh(W s_{j−1} + U h_i)."""

    w: jax.Array  # (H, H) on the decoder's state
    u: jax.Array  # (H, H) on the encoder's states
    v: jax.Array  # (H,)


class Seq2Seq(NamedTuple):
    encoder: CellParams  # input size SYMBOLS
    decoder: CellParams  # input size SYMBOLS + 1 + H: [previous target; context]
    attention: Attention
    readout: Readout  # (SYMBOLS, 2H) on [s_j; c_j]


class Setting(NamedTuple):
    """What the program reads as data (numpy scalars); the optimiser's fields have the
    names `train._optimizer_steps` reads."""

    length: np.ndarray  # int32 L
    reverse_target: np.ndarray  # bool
    reverse_source: np.ndarray  # bool
    attention: np.ndarray  # bool
    batch: np.ndarray  # int32 (BATCH)
    optimizer: np.ndarray  # int32 index into OPTIMIZERS
    learning_rate: np.ndarray  # float32
    theta: np.ndarray  # float32: clipping threshold (1.0)


CLIP = 1.0  # gradient-norm clipping θ: a recurrent model's usual guard


def setting(c: Seq2SeqConfig) -> Setting:
    return Setting(np.int32(c.length), np.bool_(c.reverse_target), np.bool_(c.reverse_source),
                   np.bool_(c.attention), np.int32(BATCH), np.int32(OPTIMIZERS.index(c.optimizer)),
                   np.float32(c.learning_rate), np.float32(CLIP))


def init_model(c: Seq2SeqConfig) -> Seq2Seq:
    """The initial weights (numpy), PyTorch's defaults, from the seed alone: the runs of
    one seed (with and without attention, forward or reversed) start from the same
    encoder, decoder and readout."""
    rng = np.random.default_rng([c.seed, GATE_BLOCKS[c.cell]])
    H = HIDDEN
    return Seq2Seq(pytorch_cell(rng, c.cell, SYMBOLS, H),
                   pytorch_cell(rng, c.cell, SYMBOLS + 1 + H, H),
                   Attention(pytorch_uniform(rng, (H, H), H), pytorch_uniform(rng, (H, H), H),
                             pytorch_uniform(rng, (H,), H)),
                   Readout(pytorch_uniform(rng, (SYMBOLS, 2 * H), 2 * H),
                           pytorch_uniform(rng, (SYMBOLS,), 2 * H)))


def data_key(seed: int) -> np.ndarray:
    """The key of a run's training sequences (threefry's key of `seed`, made on the host)."""
    return np.array([0, seed], np.uint32)


PROBE_KEY = np.array([0, 2**31 - 1], np.uint32)  # one fixed probe batch for every run


# --- Inside the program ---


def sources(key, count: int):
    """`count` sources of MAX_LENGTH random symbols (B, MAX_LENGTH) int32; a source of
    length L is the first L of them."""
    return jax.random.randint(key, (count, MAX_LENGTH), 0, SYMBOLS)


def _within(length, reverse):
    """Step indices (MAX_LENGTH,) that read a sequence forwards, or backwards over its first
    `length` steps (where `reverse`); the padding after them stays in place."""
    t = jnp.arange(MAX_LENGTH)
    return jnp.where(reverse & (t < length), length - 1 - t, t)


def targets(s: Setting, src):
    """The outputs to produce (B, MAX_LENGTH): the source, or the source reversed."""
    return jnp.take(src, _within(s.length, s.reverse_target), axis=1)


def _one_hot_inputs(s: Setting, src, dtype=jnp.float32):
    """The encoder's inputs (MAX_LENGTH, B, SYMBOLS), time-major, in the order it reads
    them; the steps from L on are zeros. (dtype: the model's, e.g. float64 in tests.)"""
    xs = jax.nn.one_hot(jnp.take(src, _within(s.length, s.reverse_source), axis=1), SYMBOLS,
                        dtype=dtype)
    real = (jnp.arange(MAX_LENGTH) < s.length)[None, :, None]
    return jnp.swapaxes(jnp.where(real, xs, 0.0), 0, 1)


def _read_order(s: Setting, xs):
    """Inputs in the encoder's reading order (MAX_LENGTH, B, ·) from inputs in the source's
    order: its gradient is then ∂/∂x_i in the source's order."""
    return jnp.take(xs, _within(s.length, s.reverse_source), axis=0)


def _dtype(params: Seq2Seq):
    """The model's float type (float32 in the app)."""
    return params.encoder.w_ih.dtype


def _encode(cell: str, s: Setting, enc: CellParams, xs):
    """The encoder's states (MAX_LENGTH, B, H), zero from step L on, and its carry after
    step L − 1 (the engine's scan with L as its length)."""
    carry, outs = _scan(STEPS[cell], enc, xs, _carry0(cell, enc, xs), length=s.length)
    return outs["h"], carry


def _context(s: Setting, att: Attention, h_prev, hs):
    """Attention over the encoder's states: (c (B, H), α (B, MAX_LENGTH)); with attention off,
    c = 0 and α = 0 (selects: no gradient reaches the attention's weights)."""
    scores = jnp.tanh(h_prev @ att.w.T + jnp.einsum("tbh,kh->tbk", hs, att.u)) @ att.v  # (T, B)
    real = (jnp.arange(hs.shape[0]) < s.length)[:, None]
    alpha = jax.nn.softmax(jnp.where(real, scores, -jnp.inf), axis=0)
    context = jnp.einsum("tb,tbh->bh", alpha, hs)
    return (jnp.where(s.attention, context, 0.0), jnp.where(s.attention, alpha.T, 0.0))


def _decoder_step(cell: str, s: Setting, params: Seq2Seq, hs):
    """The decoder's step as the engine's scan takes it: step(params, carry, y_prev) with the
    context computed from the carry's state; outputs the logits and the attention."""

    def step(_, carry, y_prev, eps=None):
        context, alpha = _context(s, params.attention, carry[0], hs)
        carry, out = STEPS[cell](params.decoder, carry, jnp.concatenate([y_prev, context], -1),
                                 eps)
        logits = jnp.concatenate([carry[0], context], -1) @ params.readout.w.T + params.readout.b
        return carry, {"h": out["h"], "logits": logits, "alpha": alpha}

    return step


def _previous_targets(ys, dtype):
    """Teacher forcing: the decoder's inputs (MAX_LENGTH, B, SYMBOLS + 1), the start symbol
    then the targets shifted by one."""
    start = jnp.full(ys.shape[:1] + (1,), START)
    return jnp.swapaxes(jax.nn.one_hot(jnp.concatenate([start, ys[:, :-1]], 1), SYMBOLS + 1,
                                       dtype=dtype),
                        0, 1)


def _decode(cell: str, s: Setting, params: Seq2Seq, xs, ys):
    """Logits (MAX_LENGTH, B, SYMBOLS) and attention (MAX_LENGTH, B, MAX_LENGTH) of the
    decoder fed the previous targets, from the encoder's reading of xs."""
    hs, carry = _encode(cell, s, params.encoder, xs)
    _, outs = _scan(_decoder_step(cell, s, params, hs), None,
                    _previous_targets(ys, xs.dtype), carry)
    return outs["logits"], outs["alpha"]


def _output_losses(s: Setting, logits, ys):
    """Cross-entropy of each output (MAX_LENGTH, B); outputs from L on are 0 (selected)."""
    ce = optax.softmax_cross_entropy_with_integer_labels(logits, ys.T)
    return jnp.where((jnp.arange(MAX_LENGTH) < s.length)[:, None], ce, 0.0)


def sequence_losses(cell: str, s: Setting, params: Seq2Seq, src):
    """Each sequence's loss (B,): the mean cross-entropy over its L outputs."""
    ys = targets(s, src)
    logits, _ = _decode(cell, s, params, _one_hot_inputs(s, src, _dtype(params)), ys)
    return jnp.sum(_output_losses(s, logits, ys), 0) / s.length.astype(logits.dtype)


def _loss_and_grad(cell: str, s: Setting, params: Seq2Seq, key):
    def micro(params, first):
        def loss(params):
            return jnp.mean(sequence_losses(cell, s, params, sources(key, BATCH)))
        return jax.value_and_grad(loss)(params)

    return _batch_loss_and_grad(micro, params, s.batch, BATCH, 1)


class Probe(NamedTuple):
    loss: jax.Array  # () mean loss of the probe batch
    accuracy: jax.Array  # () share of the probe batch's outputs right (teacher forced)
    grad_map: jax.Array  # (MAX_LENGTH, MAX_LENGTH): ‖∂ℓ_j/∂x_i‖, RMS over MAP_SOURCES sources
    alpha: jax.Array  # (MAX_LENGTH, MAX_LENGTH): the shown source's attention weights
    greedy: jax.Array  # (MAX_LENGTH,) int32: the shown source decoded greedily


def _grad_map(cell: str, s: Setting, params: Seq2Seq, src):
    """‖∂ℓ_j/∂x_i‖ (output j × source input i in the source's order), RMS over the batch:
    one reverse pass per output, batched. ℓ_j is output j's cross-entropy."""
    ys = targets(s, src)

    def losses(xs):  # xs in the source's order
        logits, _ = _decode(cell, s, params, _read_order(s, xs), ys)
        return _output_losses(s, logits, ys)  # (T_out, B)

    xs = jnp.swapaxes(jnp.where((jnp.arange(MAX_LENGTH) < s.length)[None, :, None],
                                jax.nn.one_hot(src, SYMBOLS, dtype=_dtype(params)), 0.0), 0, 1)
    ells, vjp = jax.vjp(losses, xs)
    rows = jnp.eye(MAX_LENGTH, dtype=ells.dtype)[:, :, None] * jnp.ones_like(ells)[None]
    (g,) = jax.vmap(vjp)(rows)  # (T_out, T_in, B, SYMBOLS)
    return jnp.sqrt(jnp.mean(jnp.sum(g * g, -1), -1))


def _greedy(cell: str, s: Setting, params: Seq2Seq, src):
    """The shown source (1, MAX_LENGTH) decoded greedily: each output's argmax is the next
    step's input. Returns the outputs (MAX_LENGTH,) and the attention (MAX_LENGTH, MAX_LENGTH)."""
    hs, carry = _encode(cell, s, params.encoder, _one_hot_inputs(s, src, _dtype(params)))
    step = _decoder_step(cell, s, params, hs)

    def body(state, _):
        carry, y_prev = state
        carry, out = step(None, carry, jax.nn.one_hot(y_prev, SYMBOLS + 1, dtype=_dtype(params)))
        y = jnp.argmax(out["logits"], -1)
        return (carry, y), (y, out["alpha"])

    _, (ys, alpha) = jax.lax.scan(body, (carry, jnp.full((1,), START)), None,
                                  length=MAX_LENGTH)
    return ys[:, 0].astype(jnp.int32), alpha[:, 0]


def _probe(cell: str, s: Setting, params: Seq2Seq, shown) -> Probe:
    src = sources(jnp.asarray(PROBE_KEY), PROBE)
    ys = targets(s, src)
    logits, _ = _decode(cell, s, params, _one_hot_inputs(s, src, _dtype(params)), ys)
    losses = _output_losses(s, logits, ys)
    real = jnp.arange(MAX_LENGTH)[:, None] < s.length
    right = jnp.where(real, jnp.argmax(logits, -1) == ys.T, False)
    n = s.length.astype(jnp.float32) * PROBE
    greedy, alpha = _greedy(cell, s, params, shown[None])
    return Probe(jnp.sum(losses) / n, jnp.sum(right) / n,
                 _grad_map(cell, s, params, src[:MAP_SOURCES]), alpha, greedy)


@programs.jit(static_argnames=("cell",))
def _chunk(state: TrainState, n, want_probe, s: Setting, shown, *, cell):
    """The encoder–decoder's program: n ≤ CHUNK_STEPS optimiser steps of the engine's one
    loop, then, if want_probe, the Probe of the weights reached (else zeros)."""
    state, record = _optimizer_steps(state, n, s, all_entries(state.params),
                                     partial(_loss_and_grad, cell, s))
    probe = _measured_if(want_probe, partial(_probe, cell, s), state.params, shown)
    return state, record, probe


# --- The host side ---


class Snapshot(NamedTuple):
    """A run after `step` optimiser steps (numpy and Python values)."""

    step: int
    losses: np.ndarray  # (n,) training-batch losses since the last snapshot
    probe_loss: float
    accuracy: float
    grad_map: np.ndarray  # (L, L) float64
    alpha: np.ndarray  # (L, L) float64
    greedy: np.ndarray  # (L,) int
    diverged: bool
    state: TrainState  # the weights reached (and the optimiser's state), e.g. for `measure`


def encode_source(text: str, length: int) -> tuple[np.ndarray, list[str]]:
    """A typed source as symbol ids (MAX_LENGTH,) int32 and notices: letters of ALPHABET
    (either case); anything else is left out and named; cut to `length` (the box says so),
    or filled up with A, which a notice says."""
    notices, ids = [], []
    dropped = sorted({ch for ch in text[:200] if ch.upper() not in ALPHABET and not ch.isspace()})
    if dropped:
        notices.append(f"Only the letters {ALPHABET[0]}–{ALPHABET[-1]} are symbols here; left "
                       f"out: {' '.join(dropped[:10])}{' …' if len(dropped) > 10 else ''}.")
    ids = [ALPHABET.index(ch.upper()) for ch in text[:200] if ch.upper() in ALPHABET]
    if len(ids) < length:
        if ids or text.strip():
            notices.append(f"The source is {length} symbols long: the rest is filled with "
                           f"{ALPHABET[0]}.")
    ids = (ids + [0] * length)[:length]
    return np.asarray(ids + [0] * (MAX_LENGTH - length), np.int32), notices


def decode_symbols(ids) -> str:
    return "".join(ALPHABET[int(i)] for i in ids)


def _padded_snapshot(c: Seq2SeqConfig, state: TrainState, losses, probe: Probe,
                     diverged: bool) -> Snapshot:
    L = c.length
    return Snapshot(int(state.step), np.asarray(losses, np.float64), float(probe.loss),
                    float(probe.accuracy), np.asarray(probe.grad_map, np.float64)[:L, :L],
                    np.asarray(probe.alpha, np.float64)[:L, :L],
                    np.asarray(probe.greedy)[:L], diverged, state)


def initial_state(c: Seq2SeqConfig) -> TrainState:
    params = init_model(c)
    return TrainState(params, optimizer_states(params), np.int32(0), data_key(c.seed))


def train(c: Seq2SeqConfig, shown: np.ndarray) -> Iterator[Snapshot]:
    """Train and yield a Snapshot at step 0, every `snapshot_every` steps and at the end;
    `shown` (MAX_LENGTH,) is the source whose attention and greedy decoding are recorded.
    A step that goes non-finite ends the run with a last snapshot marked diverged."""
    state, s, done = initial_state(c), setting(c), 0

    def call(state, n, measure):
        return _chunk(state, np.int32(n), np.bool_(measure), s, shown, cell=c.cell)

    yield _padded_snapshot(c, state, np.zeros(0), call(state, 0, True)[2], False)
    while done < c.steps:
        n = min(c.snapshot_every, c.steps - done)
        state, record, probe = _advance_by(call, state, n)
        done += n
        bad = bool(record.bad.any())
        yield _padded_snapshot(c, state, record.losses, probe, bad)
        if bad:
            return


def measure(c: Seq2SeqConfig, state: TrainState, shown: np.ndarray) -> Snapshot:
    """The probe of a trained state (e.g. for a newly typed source), no training."""
    _, _, probe = _chunk(state, np.int32(0), np.bool_(True), setting(c), shown, cell=c.cell)
    return _padded_snapshot(c, state, np.zeros(0), probe, False)


def catalogue() -> list[Program]:
    """One program per cell: every setting of the Encoder–decoder page runs on it."""
    def call(cell):
        c = Seq2SeqConfig(cell=cell)
        return lambda: _chunk(initial_state(c), np.int32(0), np.bool_(True), setting(c),
                              np.zeros(MAX_LENGTH, np.int32), cell=cell)

    return [Program("encoder-decoder", f"{cell}, L ≤ {MAX_LENGTH}, H = {HIDDEN}", call(cell))
            for cell in CELLS]
