"""Input sequences and synthetic tasks: pure functions of a PRNG key, time-major (T, B, I)."""
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


def adding_problem(key, T: int, B: int):
    """The adding problem in the form of Arjovsky, Shah & Bengio 2016.

    Channel 0 holds values ~ U[0, 1]; channel 1 marks exactly two steps with 1, one in each
    half of the sequence. The target is the sum of the two marked values; always predicting
    1 gives MSE 1/6, the no-memory baseline.

    Returns:
      xs (T, B, 2) float32 and targets (B,) float32.
    """
    if T < 2:
        raise ValueError("the adding problem needs T >= 2")
    k_val, k_first, k_second = jax.random.split(key, 3)
    values = jax.random.uniform(k_val, (T, B))
    half = T // 2
    first = jax.random.randint(k_first, (B,), 0, half)
    second = jax.random.randint(k_second, (B,), half, T)
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
        phase = jax.random.uniform(key, (B, 1), minval=0.0, maxval=2 * jnp.pi)
        angle = 2 * jnp.pi * jnp.arange(T)[:, None, None] / SINE_PERIOD + phase  # (T, B, 1)
        channels = [jnp.sin(angle), jnp.cos(angle)]
        return jnp.concatenate([channels[i % 2] for i in range(input_size)], axis=-1)
    if kind == "adding":
        if input_size != 2:
            raise ValueError("the adding problem has exactly 2 input channels")
        return adding_problem(key, T, B)[0]
    raise ValueError(f"unknown input kind {kind!r}; choose one of {', '.join(INPUT_KINDS)}")
