"""Input sequences and synthetic tasks: pure functions of a PRNG key, time-major (T, B, I)."""
import math
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp

INPUT_KINDS = ("noise", "zeros", "sine", "adding")
INPUT_LABELS = {
    "noise": "Gaussian noise N(0, 1)",
    "zeros": "Zeros",
    "sine": "Sine wave (random phase)",
    "adding": "Adding problem",
}
SINE_PERIOD = 20.0  # steps per cycle


def adding_problem(key, T: int, B: int, length=None):
    """The adding problem in the form of Arjovsky, Shah & Bengio 2016.

    Channel 0 holds values ~ U[0, 1]; channel 1 marks exactly two steps with 1, one in each
    half of the sequence. The target is the sum of the two marked values; always predicting
    1 gives MSE 1/6, the no-memory baseline.

    Args:
      length: if given (may be traced), the markers fall within the first `length` steps
        and the rest is padding; lets one compiled program serve many lengths.
    Returns:
      xs (T, B, 2) float32 and targets (B,) float32.
    """
    if T < 2:
        raise ValueError("the adding problem needs T >= 2")
    length = T if length is None else length
    k_val, k_first, k_second = jax.random.split(key, 3)
    values = jax.random.uniform(k_val, (T, B), jnp.float32)  # float32 under jax x64 too
    half = length // 2
    first = jax.random.randint(k_first, (B,), 0, half)
    second = jax.random.randint(k_second, (B,), half, length)
    t = jnp.arange(T)[:, None]
    markers = ((t == first) | (t == second)).astype(jnp.float32)
    xs = jnp.stack([values, markers], axis=-1)
    return xs, jnp.sum(values * markers, axis=0)


def make_inputs(key, kind: str, T: int, B: int, input_size: int = 2):
    """Input sequences of one kind, (T, B, I) float32.

    "noise": i.i.d. N(0, 1). "zeros": all zero (the closed forms of REFERENCES.md).
    "sine": sin and cos of t·2π/20 with a random phase per sequence (further channels
    repeat them). "adding": the adding problem's two channels (I must be 2).
    """
    if kind == "noise":
        return jax.random.normal(key, (T, B, input_size), jnp.float32)
    if kind == "zeros":
        return jnp.zeros((T, B, input_size), jnp.float32)
    if kind == "sine":
        phase = jax.random.uniform(key, (B, 1), jnp.float32, 0.0, 2 * jnp.pi)
        t = jnp.arange(T, dtype=jnp.float32)[:, None, None]
        angle = 2 * jnp.pi * t / SINE_PERIOD + phase  # (T, B, 1)
        channels = [jnp.sin(angle), jnp.cos(angle)]
        return jnp.concatenate([channels[i % 2] for i in range(input_size)], axis=-1)
    if kind == "adding":
        if input_size != 2:
            raise ValueError("the adding problem has exactly 2 input channels")
        return adding_problem(key, T, B)[0]
    raise ValueError(f"unknown input kind {kind!r}; choose one of {', '.join(INPUT_KINDS)}")


# --- Training tasks: (xs, ys) generators with a known no-memory baseline -------------------

COPY_SYMBOLS = 8  # the 10 symbols to remember are drawn from a0..a7
COPY_BLANK, COPY_DELIMITER = 8, 9  # a8 and a9
COPY_CLASSES = 10  # alphabet a0..a9
COPY_LENGTH = 10  # symbols to remember
SINE_NOISE = 0.1  # std of the Gaussian observation noise of the noisy-sine task


def copy_memory(key, T: int, B: int):
    """The copy-memory task of Arjovsky, Shah & Bengio 2016.

    Input: 10 symbols drawn uniformly from a0..a7, then T − 1 blanks (a8), the delimiter a9,
    then 10 blanks; length T + 20. Target: T + 10 blanks, then the 10 symbols in order.

    Args:
      key: a PRNG key.
      T: the delay (the sequence is T + 20 steps long).
      B: batch size.
    Returns:
      xs (T + 20, B, 10) float32 one-hot inputs and ys (T + 20, B) int32 target classes.
    """
    if T < 1:
        raise ValueError("the copy task needs T >= 1")
    symbols = jax.random.randint(key, (COPY_LENGTH, B), 0, COPY_SYMBOLS, dtype=jnp.int32)
    blanks = lambda n: jnp.full((n, B), COPY_BLANK, jnp.int32)  # noqa: E731
    delimiter = jnp.full((1, B), COPY_DELIMITER, jnp.int32)
    inputs = jnp.concatenate([symbols, blanks(T - 1), delimiter, blanks(COPY_LENGTH)])
    targets = jnp.concatenate([blanks(T + COPY_LENGTH), symbols])
    return jax.nn.one_hot(inputs, COPY_CLASSES, dtype=jnp.float32), targets


def copy_baseline(T: int) -> float:
    """Mean cross-entropy per step of the best memoryless strategy: 10·log(8)/(T + 20).

    It predicts the blank with certainty until the delimiter has passed, then the uniform
    distribution over a0..a7 for the 10 recalled symbols (Arjovsky et al. 2016).
    """
    return COPY_LENGTH * math.log(COPY_SYMBOLS) / (T + 2 * COPY_LENGTH)


def noisy_sine(key, T: int, B: int, noise: float = SINE_NOISE):
    """Predict the next value of a sine seen through noise; a gentle task every cell learns.

    x_t = sin(ωt + φ) + σ·ε_t with ω = 2π/20, a random phase φ per sequence and
    ε_t ~ N(0, 1); the target at every step is the noise-free next value sin(ω(t+1) + φ).

    Returns:
      xs (T, B, 1) float32 and ys (T, B, 1) float32.
    """
    k_phase, k_noise = jax.random.split(key)
    phase = jax.random.uniform(k_phase, (B, 1), jnp.float32, 0.0, 2 * jnp.pi)
    omega = 2 * jnp.pi / SINE_PERIOD
    t = jnp.arange(T + 1, dtype=jnp.float32)[:, None, None]
    clean = jnp.sin(omega * t + phase)  # (T + 1, B, 1)
    xs = clean[:-1] + noise * jax.random.normal(k_noise, (T, B, 1), jnp.float32)
    return xs.astype(jnp.float32), clean[1:].astype(jnp.float32)


def sine_baseline(T: int, noise: float = SINE_NOISE) -> float:
    """MSE of the persistence forecast ŷ_t = x_t (predict the current observation).

    E[(sin(a + ω) − sin a)²] = 1 − cos ω over a uniform phase a, plus the noise variance σ²:
    the error of a model that remembers nothing and just repeats what it sees. It does not
    depend on T. (Predicting 0 would give 0.5, too easy a bar to mean anything.)
    """
    del T
    return 1.0 - math.cos(2 * math.pi / SINE_PERIOD) + noise**2


def _adding_sample(key, T: int, B: int):
    xs, ys = adding_problem(key, T, B)
    # Cast: with jax x64 enabled, U[0, 1] draws without a dtype come out float64.
    return xs.astype(jnp.float32), ys.astype(jnp.float32)[:, None]


class Task(NamedTuple):
    """A synthetic sequence task: how to draw it, how it is scored, what memory must beat."""

    name: str
    label: str
    input_size: int  # I
    output_size: int  # readout units: regression outputs or class logits
    placement: str  # "last": scored on the final step only; "all": every step
    loss: str  # "mse" or "xent" (softmax cross-entropy, integer targets)
    sample: Callable  # (key, T, B) -> xs (L, B, I), ys (B, O) | (L, B, O) | (L, B) int
    baseline: Callable  # T -> the no-memory loss to beat
    length: Callable  # T -> sequence length L
    baseline_label: str


TASKS = {
    "adding": Task(
        "adding", "Adding problem (Arjovsky et al. 2016)", 2, 1, "last", "mse",
        _adding_sample, lambda T: 1.0 / 6.0, lambda T: T,
        "always predict 1: MSE 1/6",
    ),
    "copy": Task(
        "copy", "Copy memory (Arjovsky et al. 2016)", COPY_CLASSES, COPY_CLASSES, "all", "xent",
        copy_memory, copy_baseline, lambda T: T + 2 * COPY_LENGTH,
        "blanks, then a uniform guess over 8 symbols: 10·log 8 / (T + 20)",
    ),
    "sine": Task(
        "sine", "Next value of a noisy sine", 1, 1, "all", "mse",
        noisy_sine, sine_baseline, lambda T: T,
        "repeat the current observation: 1 − cos(2π/20) + σ²",
    ),
}


def check_task(name: str) -> Task:
    """The Task called `name`, or a ValueError that lists the known tasks."""
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; choose one of {', '.join(TASKS)}")
    return TASKS[name]
