"""Initialisation schemes for the recurrent weights, and `from_torch` for bringing weights in."""
import math

import jax
import jax.numpy as jnp
import numpy as np

from rnnviz import programs
from rnnviz.cells import GATE_BLOCKS, CellParams, check_cell

SCHEMES = ("pytorch", "glorot", "he", "orthogonal", "identity")
SCHEME_LABELS = {
    "pytorch": "PyTorch default U(±1/√H)",
    "glorot": "Glorot uniform",
    "he": "He normal",
    "orthogonal": "Orthogonal",
    "identity": "Identity (IRNN)",
}
RADIUS_KINDS = ("eigen", "singular")


def _block(key, scheme, shape, dtype):
    """One gate's (out, in) weight block drawn from `scheme`."""
    fan_out, fan_in = shape
    if scheme == "pytorch":
        # PyTorch's nn.RNN/LSTM/GRU: every weight ~ U(-1/sqrt(H), 1/sqrt(H)), H = hidden size.
        bound = 1.0 / math.sqrt(fan_out)
        return jax.random.uniform(key, shape, dtype, -bound, bound)
    if scheme == "glorot":
        return jax.nn.initializers.glorot_uniform()(key, shape, dtype)
    if scheme == "he":
        # N(0, 2/fan_in) (He et al. 2015); our blocks are (out, in), so fan_in is axis 1.
        return jax.nn.initializers.he_normal(in_axis=1, out_axis=0)(key, shape, dtype)
    if scheme == "orthogonal":
        # QR of a Gaussian matrix, sign-corrected (Saxe et al. 2013).
        return jax.nn.initializers.orthogonal()(key, shape, dtype)
    if scheme == "identity":
        # IRNN (Le, Jaitly & Hinton 2015): W_hh = I.
        return jnp.eye(*shape, dtype=dtype)
    raise ValueError(f"unknown scheme {scheme!r}; choose one of {', '.join(SCHEMES)}")


def spectral_radius(w: np.ndarray) -> float:
    """Largest |eigenvalue| of a square matrix."""
    return float(np.max(np.abs(np.linalg.eigvals(np.asarray(w, np.float64)))))


def largest_singular_value(w: np.ndarray) -> float:
    """λ₁ of Pascanu et al. 2013: the spectral norm."""
    return float(np.linalg.norm(np.asarray(w, np.float64), 2))


def rescale(w: np.ndarray, target: float, kind: str = "eigen") -> np.ndarray:
    """W · target / ρ(W) (kind="eigen") or W · target / λ₁(W) (kind="singular").

    The two differ for non-normal W: the eigenvalue radius decides the long-run growth of
    W^k, the largest singular value bounds every single step (Pascanu et al. 2013).
    """
    if kind not in RADIUS_KINDS:
        raise ValueError(f"radius kind must be one of {RADIUS_KINDS}, got {kind!r}")
    current = spectral_radius(w) if kind == "eigen" else largest_singular_value(w)
    if current == 0.0:
        return np.asarray(w)
    return np.asarray(w) * (target / current)


def init_params(
    key,
    cell: str,
    input_size: int,
    hidden_size: int,
    scheme: str = "pytorch",
    gain: float = 1.0,
    spectral_radius: float | None = None,
    radius_kind: str = "eigen",
    forget_bias: float | None = None,
    chrono_tmax: float | None = None,
    update_bias: float | None = None,
    dtype=jnp.float32,
) -> CellParams:
    """Draw a cell's weights.

    Args:
      key: a PRNG key.
      cell: one of `CELLS`.
      scheme: family of every weight block (each gate's H×H or H×I block separately).
        Non-PyTorch schemes set biases to zero; "orthogonal" and "identity" apply to W_hh,
        with Glorot-uniform input weights (Keras's defaults for the recurrent and input kernel).
      gain: multiplies W_hh.
      spectral_radius: if given, rescale each gate block of W_hh to this radius, measured
        as the largest |eigenvalue| (radius_kind="eigen") or largest singular value
        ("singular"); applied after `gain`.
      forget_bias: LSTM forget-gate bias (Gers et al. 2000; 1 in Keras,
        Jozefowicz et al. 2015). Written into b_ih only, b_hh's block set to 0, so the
        total is exactly this value.
      chrono_tmax: LSTM chrono initialisation (Tallec & Ollivier 2018):
        b_f ~ log U[1, T_max − 1], b_i = −b_f; overrides forget_bias.
      update_bias: GRU update-gate (z) bias; large values make z ≈ 1, i.e. copy h forward.
    Returns:
      CellParams in PyTorch's layout.
    """
    check_cell(cell)
    if scheme not in SCHEMES:
        raise ValueError(f"unknown scheme {scheme!r}; choose one of {', '.join(SCHEMES)}")
    if cell == "lstm" and chrono_tmax is not None and chrono_tmax <= 2:
        raise ValueError("chrono initialisation needs T_max > 2")
    G, H = GATE_BLOCKS[cell], hidden_size
    # The random draws are one compiled program per (scheme, G, H); the arithmetic on them
    # runs in NumPy, which compiles nothing (eagerly in jax, each small operation would
    # compile and keep a program for every hidden size).
    w_ih, w_hh, b_ih, b_hh = (np.array(a) for a in _draw(
        key, count=G, scheme=scheme, hidden_size=H, input_size=input_size, dtype=dtype))
    w_hh = gain * w_hh
    if spectral_radius is not None:
        # On the host: the eigenvalues of a non-symmetric matrix have no XLA CPU kernel.
        w_hh = np.concatenate([rescale(w_hh[k : k + H], spectral_radius, radius_kind)
                               for k in range(0, G * H, H)])

    def set_bias(block, value):
        # One of PyTorch's two biases carries the value; writing both would double it.
        b_ih[block * H : (block + 1) * H] = value
        b_hh[block * H : (block + 1) * H] = 0.0

    if cell == "lstm" and chrono_tmax is not None:
        b_f = np.log(np.asarray(_chrono_uniform(key, chrono_tmax - 1.0, shape=(H,), dtype=dtype)))
        set_bias(1, b_f)  # gate order i, f, g, o
        set_bias(0, -b_f)
    elif cell == "lstm" and forget_bias is not None:
        set_bias(1, forget_bias)
    if cell == "gru" and update_bias is not None:
        set_bias(1, update_bias)  # gate order r, z, n
    return CellParams(*(jax.device_put(np.asarray(a, dtype)) for a in (w_ih, w_hh, b_ih, b_hh)))


@programs.jit(static_argnames=("count", "scheme", "hidden_size", "input_size", "dtype"),
              one_at_a_time=True, quick_compile=True)  # orthogonal is a QR
def _draw(key, *, count, scheme, hidden_size, input_size, dtype):
    """w_ih, w_hh (each `count` blocks drawn from `scheme`, stacked along the rows) and the
    biases: PyTorch's U(±1/√H), or zeros for the other schemes."""
    G, H = count, hidden_size
    k_ih, k_hh, k_bih, k_bhh = jax.random.split(key, 5)[:4]
    in_scheme = {"orthogonal": "glorot", "identity": "glorot"}.get(scheme, scheme)
    w_ih = jnp.concatenate([_block(k, in_scheme, (H, input_size), dtype)
                            for k in jax.random.split(k_ih, G)])
    w_hh = jnp.concatenate([_block(k, scheme, (H, H), dtype) for k in jax.random.split(k_hh, G)])
    if scheme != "pytorch":
        return w_ih, w_hh, jnp.zeros((G * H,), dtype), jnp.zeros((G * H,), dtype)
    bound = 1.0 / math.sqrt(H)
    b_ih = jax.random.uniform(k_bih, (G * H,), dtype, -bound, bound)
    b_hh = jax.random.uniform(k_bhh, (G * H,), dtype, -bound, bound)
    return w_ih, w_hh, b_ih, b_hh


@programs.jit(static_argnames=("shape", "dtype"), quick_compile=True)
def _chrono_uniform(key, high, *, shape, dtype):
    return jax.random.uniform(jax.random.split(key, 5)[4], shape, dtype, 1.0, high)


def from_torch(cell: str, state_dict) -> CellParams:
    """Weights from a ``torch.nn.RNN / LSTM / GRU(...).state_dict()`` given as numpy arrays.

    Takes the keys ``weight_ih_l0, weight_hh_l0, bias_ih_l0, bias_hh_l0`` (single layer,
    unidirectional; ``"rnn_relu"`` is ``nonlinearity="relu"``). torch is not needed: pass
    ``{k: v.numpy() for k, v in module.state_dict().items()}``. Missing biases
    (``bias=False``) are zeros.
    """
    check_cell(cell)
    names = ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")
    if "weight_ih_l0" not in state_dict or "weight_hh_l0" not in state_dict:
        raise ValueError(f"state_dict needs the keys {names[0]} and {names[1]}")
    w_ih = np.asarray(state_dict["weight_ih_l0"], np.float32)
    w_hh = np.asarray(state_dict["weight_hh_l0"], np.float32)
    G = GATE_BLOCKS[cell]
    if w_hh.ndim != 2 or w_hh.shape[0] != G * w_hh.shape[1]:
        raise ValueError(
            f"weight_hh_l0 has shape {w_hh.shape}; a {cell} needs ({G}*H, H), "
            "is this the right cell?"
        )
    H = w_hh.shape[1]
    if w_ih.ndim != 2 or w_ih.shape[0] != G * H:
        raise ValueError(f"weight_ih_l0 has shape {w_ih.shape}; a {cell} needs ({G * H}, I)")
    biases = []
    for name in names[2:]:
        b = np.asarray(state_dict.get(name, np.zeros(G * H)), np.float32)
        if b.shape != (G * H,):
            raise ValueError(f"{name} has shape {b.shape}; expected ({G * H},)")
        biases.append(b)
    return CellParams(w_ih, w_hh, *biases)
