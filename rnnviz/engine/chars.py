"""The courses' text generator, live: a next-character model trained statefully.

The model is the Keras example's ``Embedding → SimpleRNN(return_sequences=True,
stateful=True) → Dense(vocab)`` (any of the engine's cells): it reads one character at a time
and predicts the next at every step. It trains as Keras's stateful training does, which is
truncated backpropagation through time without saying so: the text is cut into STREAMS
streams read side by side; each optimiser step reads the next k characters of every stream,
starting from the state the previous step ended in, and the gradient stops at the chunk's
start (the carried state is a constant). After a pass over the streams the state starts
from zero again.

The trainer is the engine's one loop (`train._optimizer_steps`), whose state carries the
streams' recurrent state from step to step. Everything a student sets is data: k (≤ K_MAX),
the text (≤ MAX_TEXT characters), the optimiser; so each cell has one program (`_chunk`),
whose probe also samples SAMPLE_LENGTH characters at a temperature from a prompt.
"""
import dataclasses
import time
from functools import partial
from pathlib import Path
from typing import Iterator, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from rnnviz.engine import programs
from rnnviz.engine.bptt import _carry0, _scan
from rnnviz.engine.cells import STEPS
from rnnviz.engine.programs import Program
from rnnviz.engine.train import (
    OPTIMIZERS,
    Readout,
    TrainState,
    WordModel,
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
# Newline and printable ASCII: the vocabulary of every text (others are left out, named).
VOCABULARY = "\n" + "".join(chr(c) for c in range(32, 127))
V = len(VOCABULARY)  # 96
EMBED = 32
HIDDEN = 128
STREAMS = 16  # streams read side by side: the batch
K_MAX = 64  # the longest chunk (truncation length) a program reads
MAX_TEXT = 24_576  # characters a text may have (the shipped text fits)
# The text array a program holds: a chunk reads K_MAX characters and their successors from
# each stream, past the text's end for the last stream (those steps are masked), never past
# the array's end.
TEXT_SLOTS = MAX_TEXT + K_MAX + 1
MAX_PASTED = 20_000
SAMPLE_LENGTH = 240
PROMPT_MAX = 64
TEXT_PATH = Path(__file__).parent / "texts" / "coriolanus.txt"
TEXT_SOURCE = ("the opening of Shakespeare's Coriolanus (public domain), as in the "
               "tinyshakespeare file of Karpathy's char-rnn")
BOUNDS = {"k": (1, K_MAX), "steps": (1, 5000), "learning_rate": (1e-5, 1.0),
          "seed": (0, 2**31 - 1), "snapshot_every": (1, 500)}
CLIP = 1.0


def min_text_length(k: int) -> int:
    """The shortest text a run of chunk length k reads: every stream holds two chunks."""
    return 2 * STREAMS * (k + 1)


@dataclasses.dataclass(frozen=True)
class CharConfig:
    """Every knob of a text-generator run; hashable. Values outside BOUNDS raise."""

    cell: str = "lstm"
    k: int = 32  # characters per chunk: the truncation length
    steps: int = 600
    learning_rate: float = 5e-3
    optimizer: str = "adam"
    seed: int = 0
    snapshot_every: int = 50

    def __post_init__(self):
        _choice("cell", self.cell, CELLS)
        _choice("optimizer", self.optimizer, OPTIMIZERS)
        _check_bounds(self, BOUNDS, set(), {"k", "steps", "seed", "snapshot_every"})


class Setting(NamedTuple):
    """What the program reads as data; the optimiser's fields as `_optimizer_steps` reads."""

    k: np.ndarray  # int32 chunk length
    n: np.ndarray  # int32 characters of the text
    batch: np.ndarray  # int32 STREAMS
    optimizer: np.ndarray
    learning_rate: np.ndarray
    theta: np.ndarray


def setting(c: CharConfig, text_length: int) -> Setting:
    return Setting(np.int32(c.k), np.int32(text_length), np.int32(STREAMS),
                   np.int32(OPTIMIZERS.index(c.optimizer)), np.float32(c.learning_rate),
                   np.float32(CLIP))


# --- Text ---


def shipped_text() -> str:
    return TEXT_PATH.read_text(encoding="utf-8")


def encode(text: str, limit: int = MAX_TEXT) -> tuple[np.ndarray, list[str]]:
    """A text as vocabulary ids (int32), and notices: characters outside VOCABULARY are left
    out and named; a text beyond `limit` characters is cut."""
    notices = []
    text = text.replace("\r\n", "\n").replace("\t", " ")
    outside = sorted({ch for ch in text if ch not in VOCABULARY})
    if outside:
        shown = " ".join(repr(ch)[1:-1] for ch in outside[:12])
        notices.append(f"Only printable ASCII and newlines are read; left out: {shown}"
                       + (" …" if len(outside) > 12 else "") + ".")
    kept = [VOCABULARY.index(ch) for ch in text if ch in VOCABULARY]
    if len(kept) > limit:
        notices.append(f"The text has {len(kept)} characters; the first {limit} are read.")
        kept = kept[:limit]
    return np.asarray(kept, np.int32), notices


def decode(ids) -> str:
    return "".join(VOCABULARY[int(i)] for i in ids)


def padded_text(ids: np.ndarray) -> np.ndarray:
    out = np.zeros(TEXT_SLOTS, np.int32)
    out[:len(ids)] = ids
    return out


def unigram_loss(ids: np.ndarray) -> float:
    """The cross-entropy of the best memoryless guess (the characters' frequencies), nats:
    what a model must beat to have learned anything from the characters before."""
    counts = np.bincount(ids, minlength=V).astype(np.float64)
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum())


# --- The model ---


def init_model(c: CharConfig) -> WordModel:
    """PyTorch's defaults, from the seed alone: an embedding N(0, 1), the cell and the
    readout U(±1/√H) (numpy)."""
    rng = np.random.default_rng([c.seed, 7])
    cell = pytorch_cell(rng, c.cell, EMBED, HIDDEN)
    return WordModel(rng.standard_normal((V, EMBED)).astype(np.float32), cell,
                     Readout(pytorch_uniform(rng, (V, HIDDEN), HIDDEN),
                             pytorch_uniform(rng, (V,), HIDDEN)))


def initial_state(c: CharConfig) -> TrainState:
    params = init_model(c)
    carry = tuple(np.zeros((STREAMS, HIDDEN), np.float32)
                  for _ in range(2 if c.cell == "lstm" else 1))
    return TrainState(params, optimizer_states(params), np.int32(0),
                      np.array([0, c.seed], np.uint32), carry)


# --- Inside the program ---


def _chunk_start(s: Setting, step):
    """Where step `step` reads in each stream, and whether it starts a new pass (the state
    then starts from zero, as a new epoch of Keras's stateful training after reset_states)."""
    span = s.n // STREAMS
    passes = jnp.maximum((span - 1) // s.k, 1)  # whole chunks per stream (the +1 for targets)
    i = step % passes
    return i * s.k, i == 0


def _logits(cell: str, params: WordModel, ids, carry, length):
    """Logits (K_MAX, B, V) of ids (B, K_MAX) read from `carry`, and the carry after step
    length − 1 (the engine's scan, `length` real steps)."""
    xs = jnp.take(params.embedding, ids.T, axis=0)  # (K_MAX, B, E), time-major
    carry, outs = _scan(STEPS[cell], params.cell, xs, carry, length=length)
    return outs["h"] @ params.readout.w.T + params.readout.b, carry


def _loss_and_grad(cell: str, s: Setting, text, params: WordModel, key, carry, step):
    """Stateful truncated BPTT: the next k characters of every stream from the carried
    state, the mean cross-entropy of the next character, its gradient (which stops at the
    chunk's start: the carry is a constant), and the carry after the chunk (detached)."""
    del key  # the streams are read in order: nothing is drawn
    start, fresh = _chunk_start(s, step)
    carry = tuple(jnp.where(fresh, 0.0, a) for a in carry)
    span = s.n // STREAMS
    at = (jnp.arange(STREAMS) * span)[:, None] + start + jnp.arange(K_MAX)[None, :]
    ids, targets = jnp.take(text, at), jnp.take(text, at + 1)
    real = (jnp.arange(K_MAX) < s.k)[:, None]

    def loss(params):
        logits, after = _logits(cell, params, ids, carry, s.k)
        ce = optax.softmax_cross_entropy_with_integer_labels(logits, targets.T)
        return jnp.sum(jnp.where(real, ce, 0.0)) / (s.k * STREAMS).astype(ce.dtype), after

    (value, after), grads = jax.value_and_grad(loss, has_aux=True)(params)
    return value, grads, jax.tree.map(jax.lax.stop_gradient, after)


def _sample(cell: str, params: WordModel, prompt, prompt_length, temperature, key):
    """SAMPLE_LENGTH characters drawn one at a time at `temperature` after reading the
    prompt (PROMPT_MAX,) of prompt_length ≥ 1 characters; each drawn character is read next."""
    xs = jnp.take(params.embedding, prompt[:, None], axis=0)  # (P, 1, E)
    carry, _ = _scan(STEPS[cell], params.cell, xs, _carry0(cell, params.cell, xs),
                     length=prompt_length)

    def body(carry, k):
        logits = carry[0][0] @ params.readout.w.T + params.readout.b
        y = jax.random.categorical(k, logits / temperature)
        new, _ = STEPS[cell](params.cell, carry, params.embedding[y][None])
        return new, y

    _, ys = jax.lax.scan(body, carry, jax.random.split(key, SAMPLE_LENGTH))
    return ys.astype(jnp.int32)


@programs.jit(static_argnames=("cell",))
def _chunk(state: TrainState, n, want_sample, s: Setting, text, prompt, prompt_length,
           temperature, sample_key, *, cell):
    """The text generator's program: n ≤ CHUNK_STEPS stateful optimiser steps, then, if
    want_sample, SAMPLE_LENGTH characters sampled from the weights reached (else zeros)."""
    state, record = _optimizer_steps(state, n, s, all_entries(state.params),
                                     partial(_loss_and_grad, cell, s, text))
    sample = _measured_if(want_sample, partial(_sample, cell), state.params, prompt,
                          prompt_length, temperature, sample_key)
    return state, record, sample


# --- The host side ---


class Snapshot(NamedTuple):
    step: int
    losses: np.ndarray  # (n,) training losses since the last snapshot
    sample: str  # SAMPLE_LENGTH characters at the run's temperature
    seconds: float  # since the run started
    diverged: bool
    state: TrainState


def prompt_ids(prompt: str) -> tuple[np.ndarray, np.int32]:
    """A prompt as (PROMPT_MAX,) ids and its length (at least 1: an empty prompt is a newline;
    a longer one keeps its last PROMPT_MAX characters)."""
    ids, _ = encode(prompt)
    ids = ids[-PROMPT_MAX:] if len(ids) else np.zeros(1, np.int32)
    out = np.zeros(PROMPT_MAX, np.int32)
    out[:len(ids)] = ids
    return out, np.int32(len(ids))


def sample(c: CharConfig, state: TrainState, text_length: int, prompt: str,
           temperature: float, seed: int = 0) -> str:
    """SAMPLE_LENGTH characters from a state's weights (no training)."""
    p, pl = prompt_ids(prompt)
    _, _, ys = _chunk(state, np.int32(0), np.bool_(True), setting(c, text_length),
                      np.zeros(TEXT_SLOTS, np.int32), p, pl, np.float32(temperature),
                      np.array([0, seed], np.uint32), cell=c.cell)
    return decode(np.asarray(ys))


def train(c: CharConfig, ids: np.ndarray, prompt: str = "\n",
          temperature: float = 0.8, clock=None) -> Iterator[Snapshot]:
    """Train on the text `ids` and yield a Snapshot (with a sample) at step 0, every
    `snapshot_every` steps and at the end. Raises ValueError for a text too short for k."""
    if len(ids) < min_text_length(c.k):
        raise ValueError(f"the text has {len(ids)} characters; chunks of {c.k} in {STREAMS} "
                         f"streams need at least {min_text_length(c.k)}.")
    clock = clock or time.monotonic
    started = clock()
    state, s, text = initial_state(c), setting(c, len(ids)), padded_text(ids)
    p, pl = prompt_ids(prompt)
    key = np.array([0, c.seed], np.uint32)

    def call(state, n, want):
        return _chunk(state, np.int32(n), np.bool_(want), s, text, p, pl,
                      np.float32(temperature), key, cell=c.cell)

    _, _, ys = call(state, 0, True)
    yield Snapshot(0, np.zeros(0), decode(np.asarray(ys)), clock() - started, False, state)
    done = 0
    while done < c.steps:
        n = min(c.snapshot_every, c.steps - done)
        state, record, ys = _advance_by(call, state, n)
        done += n
        bad = bool(record.bad.any())
        yield Snapshot(int(state.step), record.losses, decode(np.asarray(ys)),
                       clock() - started, bad, state)
        if bad:
            return


def catalogue() -> list[Program]:
    """The training-and-sampling program of every cell; `explain`'s for the char model's
    shapes are listed by rnnviz.experiments.text_lab."""
    def call(cell):
        c = CharConfig(cell=cell)
        return lambda: sample(c, initial_state(c), MAX_TEXT, "\n", 1.0)

    return [Program("text generator", f"{cell}, k ≤ {K_MAX}, H = {HIDDEN}", call(cell))
            for cell in CELLS]
