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
#
# Each task draws one sequence at a time from its own key (sequence b of a batch from
# fold_in(key, b)) at a padded length, with T as data: so the Training lab's one compiled
# program serves every T and batch size, and the sequences it trains on are the first ones
# of the same draws at any padding (with jax's partitionable threefry, n numbers drawn from
# a key are the first n of a longer draw from it).

COPY_SYMBOLS = 8  # the 10 symbols to remember are drawn from a0..a7
COPY_BLANK, COPY_DELIMITER = 8, 9  # a8 and a9
COPY_CLASSES = 10  # alphabet a0..a9
COPY_LENGTH = 10  # symbols to remember
SINE_NOISE = 0.1  # std of the Gaussian observation noise of the noisy-sine task


def sequence_keys(key, first, count: int):
    """The keys of sequences first, …, first + count − 1 of a batch: fold_in(key, b)."""
    return jax.vmap(jax.random.fold_in, (None, 0))(key, first + jnp.arange(count))


def _batch_of(sequence, key, T: int, B: int, length: int):
    """B sequences of `sequence(key_b, T, length)`, stacked time-major: (length, B, ...)."""
    xs, ys = jax.vmap(lambda k: sequence(k, T, length))(sequence_keys(key, 0, B))
    return jnp.swapaxes(xs, 0, 1), jnp.swapaxes(ys, 0, 1)


def adding_sequence(key, T, length: int):
    """One sequence of the adding problem (see `adding_problem`), padded to `length` ≥ T.

    T may be traced. Returns x (length, 2) and the target y (length, 1), the sum of the two
    marked values at every step (the task scores step T − 1 only); steps from T on are
    padding, with no marker.
    """
    k_val, k_first, k_second = jax.random.split(key, 3)
    values = jax.random.uniform(k_val, (length,), jnp.float32)
    half = T // 2
    first = jax.random.randint(k_first, (), 0, half)
    second = jax.random.randint(k_second, (), half, T)
    t = jnp.arange(length)
    markers = ((t == first) | (t == second)).astype(jnp.float32)
    target = jnp.sum(values * markers)
    return jnp.stack([values, markers], axis=-1), jnp.full((length, 1), target, jnp.float32)


def _copy_classes(key, T, length: int):
    """One copy-memory sequence's input and target classes (length,) int32; see `copy_memory`."""
    symbols = jax.random.randint(key, (COPY_LENGTH,), 0, COPY_SYMBOLS, dtype=jnp.int32)
    t = jnp.arange(length)
    recalled = symbols[jnp.clip(t - T - COPY_LENGTH, 0, COPY_LENGTH - 1)]
    inputs = jnp.where(t < COPY_LENGTH, symbols[jnp.minimum(t, COPY_LENGTH - 1)],
                       jnp.where(t == T + COPY_LENGTH - 1, COPY_DELIMITER, COPY_BLANK))
    targets = jnp.where((t >= T + COPY_LENGTH) & (t < T + 2 * COPY_LENGTH), recalled,
                        COPY_BLANK)
    return inputs.astype(jnp.int32), targets.astype(jnp.int32)


def copy_sequence(key, T, length: int):
    """One copy-memory sequence padded to `length` ≥ T + 20 (T may be traced): one-hot
    inputs x (length, 10) and one-hot targets y (length, 10); padding is blanks."""
    inputs, targets = _copy_classes(key, T, length)
    return (jax.nn.one_hot(inputs, COPY_CLASSES, dtype=jnp.float32),
            jax.nn.one_hot(targets, COPY_CLASSES, dtype=jnp.float32))


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
    inputs, targets = _batch_of(_copy_classes, key, T, B, T + 2 * COPY_LENGTH)
    return jax.nn.one_hot(inputs, COPY_CLASSES, dtype=jnp.float32), targets


def copy_baseline(T: int) -> float:
    """Mean cross-entropy per step of the best memoryless strategy: 10·log(8)/(T + 20).

    It predicts the blank with certainty until the delimiter has passed, then the uniform
    distribution over a0..a7 for the 10 recalled symbols (Arjovsky et al. 2016).
    """
    return COPY_LENGTH * math.log(COPY_SYMBOLS) / (T + 2 * COPY_LENGTH)


def sine_sequence(key, T, length: int, noise: float = SINE_NOISE):
    """One noisy-sine sequence (see `noisy_sine`) padded to `length` ≥ T: x, y (length, 1)."""
    del T  # every step is a sine: the padding is just more of it
    k_phase, k_noise = jax.random.split(key)
    phase = jax.random.uniform(k_phase, (), jnp.float32, 0.0, 2 * jnp.pi)
    omega = 2 * jnp.pi / SINE_PERIOD
    t = jnp.arange(length + 1, dtype=jnp.float32)[:, None]
    clean = jnp.sin(omega * t + phase)  # (length + 1, 1)
    xs = clean[:-1] + noise * jax.random.normal(k_noise, (length, 1), jnp.float32)
    return xs.astype(jnp.float32), clean[1:].astype(jnp.float32)


def noisy_sine(key, T: int, B: int, noise: float = SINE_NOISE):
    """Predict the next value of a sine seen through noise; a gentle task every cell learns.

    x_t = sin(ωt + φ) + σ·ε_t with ω = 2π/20, a random phase φ per sequence and
    ε_t ~ N(0, 1); the target at every step is the noise-free next value sin(ω(t+1) + φ).

    Returns:
      xs (T, B, 1) float32 and ys (T, B, 1) float32.
    """
    return _batch_of(lambda k, T, n: sine_sequence(k, T, n, noise), key, T, B, T)


def sine_baseline(T: int, noise: float = SINE_NOISE) -> float:
    """MSE of the persistence forecast ŷ_t = x_t (predict the current observation).

    E[(sin(a + ω) − sin a)²] = 1 − cos ω over a uniform phase a, plus the noise variance σ²:
    the error of a model that remembers nothing and just repeats what it sees. It does not
    depend on T. (Predicting 0 would give 0.5, too easy a bar to mean anything.)
    """
    del T
    return 1.0 - math.cos(2 * math.pi / SINE_PERIOD) + noise**2


def _adding_sample(key, T: int, B: int):
    if T < 2:
        raise ValueError("the adding problem needs T >= 2")
    xs, ys = _batch_of(adding_sequence, key, T, B, T)
    return xs, ys[-1]  # (T, B, 2) and (B, 1): the target is scored at the last step


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
    # (key, T, length) -> one sequence padded to length ≥ L, T possibly traced: x (length, I)
    # and y (length, O) float32 (one-hot classes for "xent"); `sample`'s sequence b is this
    # from fold_in(key, b), cut to L.
    sequence: Callable = None


TASKS = {
    "adding": Task(
        "adding", "Adding problem (Arjovsky et al. 2016)", 2, 1, "last", "mse",
        _adding_sample, lambda T: 1.0 / 6.0, lambda T: T,
        "always predict 1: MSE 1/6", adding_sequence,
    ),
    "copy": Task(
        "copy", "Copy memory (Arjovsky et al. 2016)", COPY_CLASSES, COPY_CLASSES, "all", "xent",
        copy_memory, copy_baseline, lambda T: T + 2 * COPY_LENGTH,
        "blanks, then a uniform guess over 8 symbols: 10·log 8 / (T + 20)", copy_sequence,
    ),
    "sine": Task(
        "sine", "Next value of a noisy sine", 1, 1, "all", "mse",
        noisy_sine, sine_baseline, lambda T: T,
        "repeat the current observation: 1 − cos(2π/20) + σ²", sine_sequence,
    ),
}


def check_task(name: str) -> Task:
    """The Task called `name`, or a ValueError that lists the known tasks."""
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; choose one of {', '.join(TASKS)}")
    return TASKS[name]
