"""Initialisation schemes for the recurrent weights, and `from_torch` / `from_keras` for
bringing trained weights in (one layer, or a stacked and bidirectional network)."""
import math
import re
import threading
from collections import OrderedDict

import jax
import jax.numpy as jnp
import numpy as np

from rnnviz import programs
from rnnviz.cells import DIRECTIONS, GATE_BLOCKS, MAX_LAYERS, CellParams, Network, check_cell

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
    layers: int = 1,
    bidirectional: bool = False,
) -> CellParams | Network:
    """Draw a cell's weights, or a network's: `layers` stacked layers of 1 or 2 directions.

    Args:
      key: a PRNG key.
      cell: one of `CELLS`.
      input_size: I, what layer 0 reads; layer k > 0 reads D·H (D = 2 if bidirectional).
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
      layers: L, 1 to `MAX_LAYERS`. bidirectional: D = 2 directions per layer.
        Every layer and direction is drawn with the options above; layer 0's forward
        direction from `key` itself (the same weights as the single layer), the others
        from ``fold_in(key, k·D + d)``.
    Returns:
      CellParams in PyTorch's layout for one unidirectional layer (the default), else a
      cells.Network of them.
    """
    check_cell(cell)
    if scheme not in SCHEMES:
        raise ValueError(f"unknown scheme {scheme!r}; choose one of {', '.join(SCHEMES)}")
    if cell == "lstm" and chrono_tmax is not None and chrono_tmax <= 2:
        raise ValueError("chrono initialisation needs T_max > 2")
    if isinstance(layers, bool) or not isinstance(layers, (int, np.integer)) or not (
            1 <= layers <= MAX_LAYERS):
        raise ValueError(f"layers must be an integer from 1 to {MAX_LAYERS}, got {layers!r}")
    options = dict(scheme=scheme, gain=gain, spectral_radius=spectral_radius,
                   radius_kind=radius_kind, forget_bias=forget_bias, chrono_tmax=chrono_tmax,
                   update_bias=update_bias, dtype=dtype)
    D = 2 if bidirectional else 1
    if layers == 1 and D == 1:
        return _init_layer(key, cell, input_size, hidden_size, **options)
    return Network(tuple(
        tuple(_init_layer(key if k == d == 0 else jax.random.fold_in(key, k * D + d), cell,
                          input_size if k == 0 else D * hidden_size, hidden_size, **options)
              for d in range(D))
        for k in range(layers)))


def _init_layer(key, cell, input_size, hidden_size, *, scheme, gain, spectral_radius,
                radius_kind, forget_bias, chrono_tmax, update_bias, dtype) -> CellParams:
    """One layer's (one direction's) CellParams, as `init_params` documents them."""
    G, H = GATE_BLOCKS[cell], hidden_size
    # The random draws are compiled programs per block shape (see `_draw`); the arithmetic
    # on them runs in NumPy, which compiles nothing (eagerly in jax, each small operation
    # would compile and keep a program for every hidden size).
    w_ih, w_hh, b_ih, b_hh = (np.array(a) for a in _kept_draw(
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


# The last draws, as numpy arrays: a class moving the gain, a bias or the length redraws
# the same weights again and again, and a draw's programs cost 0.1-0.3 s each to compile or
# read back and ~1.2 MB each to keep (40 block-draw programs: 46 MB). 64 draws are at most
# 17 MB.
KEPT_DRAWS = 64
_kept: OrderedDict = OrderedDict()
_kept_lock = threading.Lock()


def _kept_draw(key, **static) -> tuple[np.ndarray, ...]:
    """`_draw(key, **static)` as read-only numpy arrays, from the last KEPT_DRAWS draws
    when it is one of them (the same arrays: a draw depends on nothing else)."""
    if programs.compiling_only():  # the warm-up's placeholder zeros are no draw to keep
        return _draw(key, **static)
    data = jax.random.key_data(key) if jnp.issubdtype(key.dtype, jax.dtypes.prng_key) else key
    name = (np.asarray(data).tobytes(), tuple(sorted(static.items())))
    with _kept_lock:
        if name in _kept:
            _kept.move_to_end(name)
            return _kept[name]
    drawn = _draw(key, **static)
    for a in drawn:
        a.flags.writeable = False
    with _kept_lock:
        _kept[name] = drawn
        while len(_kept) > KEPT_DRAWS:
            _kept.popitem(last=False)
    return drawn


def _draw(key, *, count, scheme, hidden_size, input_size, dtype) -> tuple[np.ndarray, ...]:
    """w_ih, w_hh (each `count` blocks drawn from `scheme`, stacked along the rows) and the
    biases: PyTorch's U(±1/√H), or zeros for the other schemes; as numpy arrays.

    One program draws one block (per scheme and block shape), not one per cell, size and
    input size: an LSTM, a GRU and an RNN of one size share theirs (a free class spent 97 s
    compiling draws before, 22 s after: README). The same random streams either way.
    """
    G, H = count, hidden_size
    keys_ih, keys_hh, k_bih, k_bhh = _draw_keys(key, count=G)
    in_scheme = {"orthogonal": "glorot", "identity": "glorot"}.get(scheme, scheme)
    w_ih = np.concatenate([_draw_block(k, scheme=in_scheme, shape=(H, input_size), dtype=dtype)
                           for k in keys_ih])
    w_hh = np.concatenate([_draw_block(k, scheme=scheme, shape=(H, H), dtype=dtype)
                           for k in keys_hh])
    if scheme != "pytorch":
        return w_ih, w_hh, np.zeros((G * H,), dtype), np.zeros((G * H,), dtype)
    bound = np.float32(1.0 / math.sqrt(H))
    b_ih, b_hh = (np.asarray(_draw_uniform(k, bound, size=G * H, dtype=dtype))
                  for k in (k_bih, k_bhh))
    return w_ih, w_hh, b_ih, b_hh


@programs.jit(static_argnames=("count",), quick_compile=True)
def _draw_keys(key, *, count):
    """The keys of a draw: w_ih's `count` blocks', w_hh's `count` blocks', the two biases'."""
    k_ih, k_hh, k_bih, k_bhh = jax.random.split(key, 5)[:4]
    return jax.random.split(k_ih, count), jax.random.split(k_hh, count), k_bih, k_bhh


@programs.jit(static_argnames=("scheme", "shape", "dtype"), one_at_a_time=True,
              quick_compile=True)  # orthogonal is a QR
def _draw_block(key, *, scheme, shape, dtype):
    return _block(key, scheme, shape, dtype)


@programs.jit(static_argnames=("size", "dtype"), quick_compile=True)
def _draw_uniform(key, bound, *, size, dtype):
    return jax.random.uniform(key, (size,), dtype, -bound, bound)


@programs.jit(static_argnames=("shape", "dtype"), quick_compile=True)
def _chrono_uniform(key, high, *, shape, dtype):
    return jax.random.uniform(jax.random.split(key, 5)[4], shape, dtype, 1.0, high)


_TORCH_NAME = re.compile(r"(weight|bias)_(ih|hh)_l(\d+)(_reverse)?")
_SUFFIXES = ("", "_reverse")  # direction d's suffix in a PyTorch state_dict


def _float32_array(name: str, a) -> np.ndarray:
    """`a` as a float32 numpy array; a ValueError naming it if it is not finite numbers."""
    try:
        a = np.asarray(a, np.float32)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{name} is not an array of numbers ({e})") from None
    if not np.isfinite(a).all():
        raise ValueError(f"{name} holds inf or NaN values; expected finite weights")
    return a


def _network_of(layers: list) -> CellParams | Network:
    """CellParams for one unidirectional layer, else a Network (layers[k][d] CellParams)."""
    if len(layers) == 1 and len(layers[0]) == 1:
        return layers[0][0]
    return Network(tuple(tuple(layer) for layer in layers))


def _check_depth(L: int, source: str) -> None:
    if not 1 <= L <= MAX_LAYERS:
        raise ValueError(f"{source} has {L} recurrent layers; rnnviz shows 1 to {MAX_LAYERS}")


def from_torch(cell: str, state_dict) -> CellParams | Network:
    """Weights from a ``torch.nn.RNN / LSTM / GRU(...).state_dict()`` given as numpy arrays.

    Any ``num_layers`` (1 to `MAX_LAYERS`) and ``bidirectional``: the keys are
    ``weight_ih_l{k}, weight_hh_l{k}, bias_ih_l{k}, bias_hh_l{k}``, and the same with the
    suffix ``_reverse`` for the backward direction; ``weight_ih_l0`` is (G·H, I), and for
    k ≥ 1 ``weight_ih_l{k}`` is (G·H, D·H). ``"rnn_relu"`` is ``nonlinearity="relu"``.
    torch is not needed: pass ``{k: v.numpy() for k, v in module.state_dict().items()}``.
    Missing biases (``bias=False``) are zeros.

    Returns:
      CellParams (float32 numpy arrays) for one unidirectional layer, else a cells.Network.
    Raises:
      ValueError: naming the key, for an unknown cell, a missing or unexpected name (e.g. a
        prefix such as ``rnn.``, or ``weight_hr`` of ``proj_size``), a shape that does not
        fit the cell, or values that are not finite.
    """
    check_cell(cell)
    L, D, H, I = _torch_layout(cell, state_dict)
    return _network_of([[_torch_direction(cell, state_dict, k, d, I if k == 0 else D * H, H)
                         for d in range(D)] for k in range(L)])


def _torch_layout(cell: str, state_dict) -> tuple:
    """(L, D, H, I) of a PyTorch state_dict, from its names and weight_*_l0 (ValueError for
    an unexpected or missing name, or a layer-0 shape that does not fit the cell)."""
    unexpected = sorted(map(str, (n for n in state_dict if not _TORCH_NAME.fullmatch(str(n)))))
    if unexpected:
        raise ValueError(
            f"unexpected names in the state_dict: {', '.join(unexpected)}; expected only "
            "weight_ih_l{k}, weight_hh_l{k}, bias_ih_l{k}, bias_hh_l{k} (and _reverse)")
    parsed = [_TORCH_NAME.fullmatch(name).groups() for name in state_dict]
    L = 1 + max((int(k) for *_, k, _ in parsed), default=0)
    D = 2 if any(reverse for *_, reverse in parsed) else 1
    _check_depth(L, "the state_dict")
    expected = {f"{kind}_{m}_l{k}{_SUFFIXES[d]}" for k in range(L) for d in range(D)
                for kind in ("weight", "bias") for m in ("ih", "hh")}
    extra = sorted(set(state_dict) - expected)  # e.g. bias_ih_l0_reverse without weights
    if extra:
        raise ValueError(f"unexpected names in the state_dict: {', '.join(extra)}")
    network = f"a {L}-layer{' bidirectional' if D == 2 else ''} network"
    for k in range(L):
        for d in range(D):
            for name in (f"weight_ih_l{k}{_SUFFIXES[d]}", f"weight_hh_l{k}{_SUFFIXES[d]}"):
                if name not in state_dict:
                    raise ValueError(
                        f"state_dict needs the key {name}: {network} has weight_ih_l{{k}} and "
                        f"weight_hh_l{{k}}{' (and _reverse)' if D == 2 else ''} for k = 0 to "
                        f"{L - 1}")
    G = GATE_BLOCKS[cell]
    w_hh = _float32_array("weight_hh_l0", state_dict["weight_hh_l0"])
    if w_hh.ndim != 2 or w_hh.shape[0] != G * w_hh.shape[1] or w_hh.shape[1] == 0:
        raise ValueError(f"weight_hh_l0 has shape {w_hh.shape}; a {cell} needs ({G}*H, H), "
                         "is this the right cell?")
    H = w_hh.shape[1]
    w_ih = _float32_array("weight_ih_l0", state_dict["weight_ih_l0"])
    if w_ih.ndim != 2 or w_ih.shape[0] != G * H or w_ih.shape[1] == 0:
        raise ValueError(f"weight_ih_l0 has shape {w_ih.shape}; a {cell} needs ({G * H}, I)")
    return L, D, H, w_ih.shape[1]


def _torch_direction(cell: str, state_dict, k: int, d: int, input_size: int,
                     hidden_size: int) -> CellParams:
    """Layer k, direction d of a state_dict as float32 CellParams (missing biases are 0)."""
    GH = GATE_BLOCKS[cell] * hidden_size
    sfx = f"_l{k}{_SUFFIXES[d]}"
    shapes = {f"weight_ih{sfx}": (GH, input_size), f"weight_hh{sfx}": (GH, hidden_size),
              f"bias_ih{sfx}": (GH,), f"bias_hh{sfx}": (GH,)}
    reads = f", reading layer {k - 1}'s [forward, backward] outputs" if k else ""
    arrays = []
    for name, shape in shapes.items():
        a = _float32_array(name, state_dict.get(name, np.zeros(shape)))
        if a.shape != shape:
            raise ValueError(f"{name} has shape {a.shape}; expected {shape} (a {cell} of hidden "
                             f"size {hidden_size}{reads if name.startswith('weight_ih') else ''})")
        arrays.append(a)
    return CellParams(*arrays)


# Keras's fused gate order -> PyTorch's: LSTM i, f, c, o is already i, f, g, o; the GRU's
# z, r, h becomes r, z, n.
_KERAS_TO_TORCH_BLOCKS = {"rnn": (0,), "rnn_relu": (0,), "lstm": (0, 1, 2, 3), "gru": (1, 0, 2)}


def _reorder_blocks(a: np.ndarray, order: tuple) -> np.ndarray:
    """Reorder the gate blocks of a fused array along axis 0 (G·H rows)."""
    blocks = np.split(a, len(order), axis=0)
    return np.concatenate([blocks[g] for g in order], axis=0)


def _keras_direction(cell: str, arrays, where: str, input_size: int | None,
                     hidden_size: int | None) -> CellParams:
    """One Keras recurrent layer's ``[kernel, recurrent_kernel(, bias)]`` as CellParams;
    input_size and hidden_size are what it must have (None: whatever the arrays say)."""
    G = GATE_BLOCKS[cell]
    kernel = _float32_array(f"{where} kernel", arrays[0])
    recurrent = _float32_array(f"{where} recurrent_kernel", arrays[1])
    if recurrent.ndim != 2 or recurrent.shape[1] != G * recurrent.shape[0] or not recurrent.size:
        raise ValueError(f"{where}: recurrent_kernel has shape {recurrent.shape}; a {cell} needs "
                         f"(H, {G}*H), is this the right cell?")
    H = recurrent.shape[0]
    if hidden_size is not None and H != hidden_size:
        raise ValueError(f"{where}: recurrent_kernel has shape {recurrent.shape}, hidden size "
                         f"{H}; its forward direction has {hidden_size}, and both directions "
                         "of a layer have the same hidden size")
    want_in = "I" if input_size is None else input_size
    if (kernel.ndim != 2 or kernel.shape[1] != G * H or not kernel.shape[0]
            or (input_size is not None and kernel.shape[0] != input_size)):
        raise ValueError(f"{where}: kernel has shape {kernel.shape}; expected ({want_in}, {G * H})"
                         " (Keras kernels are (inputs, G·H), the transpose of PyTorch's)")
    if len(arrays) == 3:
        bias = _float32_array(f"{where} bias", arrays[2])
    else:  # use_bias=False
        bias = np.zeros((2, G * H) if cell == "gru" else (G * H,), np.float32)
    if cell == "gru" and bias.shape == (G * H,):
        raise ValueError(f"{where}: a GRU bias of shape {bias.shape} is Keras's "
                         "reset_after=False, another model (the reset gate applied to h before "
                         "the matrix product, Cho et al. 2014); rnnviz computes PyTorch's GRU, "
                         "Keras's reset_after=True (bias (2, 3H))")
    want_bias = (2, G * H) if cell == "gru" else (G * H,)
    if bias.shape != want_bias:
        raise ValueError(f"{where}: bias has shape {bias.shape}; a {cell} needs {want_bias}")
    order = _KERAS_TO_TORCH_BLOCKS[cell]
    w_ih = _reorder_blocks(kernel.T, order)
    w_hh = _reorder_blocks(recurrent.T, order)
    if cell == "gru":  # row 0 for the input, row 1 for the recurrence (reset_after=True)
        b_ih, b_hh = _reorder_blocks(bias[0], order), _reorder_blocks(bias[1], order)
    else:  # Keras has one bias; PyTorch's two add up, so the second is zero
        b_ih, b_hh = _reorder_blocks(bias, order), np.zeros(G * H, np.float32)
    return CellParams(*(np.ascontiguousarray(a) for a in (w_ih, w_hh, b_ih, b_hh)))


def from_keras(cell: str, weights) -> CellParams | Network:
    """Weights from Keras 3 ``SimpleRNN / LSTM / GRU`` layers' ``get_weights()``.

    Args:
      cell: ``"rnn"`` for SimpleRNN(activation="tanh"), ``"rnn_relu"`` for
        activation="relu", ``"lstm"``, or ``"gru"`` (``reset_after=True``, the Keras
        default; its bias is (2, 3H)).
      weights: one layer's ``get_weights()`` list, ``[kernel (I, G·H), recurrent_kernel
        (H, G·H), bias]``, or a list of them, one per stacked layer (bottom first). A
        ``Bidirectional`` layer's list has 6 arrays: the forward layer's 3, then the
        backward layer's. Layers may differ, as Keras stacks them (a Bidirectional layer
        under a one-way one, units per layer): layer k > 0 reads the D_{k−1}·H_{k−1}
        outputs of the layer below. Lists of 2 (or 4) arrays are layers with use_bias=False.
    Returns:
      CellParams (float32 numpy arrays, PyTorch layout and gate order) for one
      unidirectional layer, else a cells.Network (mixed, see `cells.Network`, when its
      layers differ in directions or units). Keras's gate orders are converted: LSTM
      i, f, c, o is PyTorch's i, f, g, o; GRU z, r, h becomes r, z, n; SimpleRNN's single
      bias goes into b_ih (b_hh = 0).

    Keras is batch-major, rnnviz time-major: a Keras model reads ``x (B, T, I)``; give
    rnnviz ``xs = x.transpose(1, 0, 2)`` (T, B, I) and transpose its outputs back.
    Keras's ``Bidirectional`` re-reverses the backward output to input order, so index t of
    both matches rnnviz's. Activations other than Keras's defaults (tanh, and sigmoid for
    the gates), ``reset_after=False`` GRUs and other layers are other models: check the
    layer config before calling this.

    Raises:
      ValueError: for an unknown cell, a wrong number of arrays, a shape that does not
        fit (naming the layer, direction and array), or a GRU with reset_after=False.
    """
    check_cell(cell)
    if not isinstance(weights, (list, tuple)) or not weights:
        raise ValueError("expected a layer's get_weights() list, or a list of them")
    stacked = isinstance(weights[0], (list, tuple))
    layer_lists = list(weights) if stacked else [weights]
    _check_depth(len(layer_lists), "the weights list")
    for k, arrays in enumerate(layer_lists):
        if not isinstance(arrays, (list, tuple)) or len(arrays) not in (2, 3, 4, 6):
            n = len(arrays) if isinstance(arrays, (list, tuple)) else type(arrays).__name__
            raise ValueError(f"layer {k}: expected 3 arrays (kernel, recurrent_kernel, bias) "
                             f"or 6 for a Bidirectional layer, got {n}")
    layers, width = [], None  # features entering layer k; layer 0's from its kernel
    for k, arrays in enumerate(layer_lists):
        D = 2 if len(arrays) in (4, 6) else 1  # a Bidirectional layer: 2 × (2 or 3) arrays
        n = len(arrays) // D
        layer, H = [], None  # H from the layer's forward direction
        for d in range(D):
            where = f"layer {k}" + (f" ({DIRECTIONS[d]})" if D == 2 else "")
            p = _keras_direction(cell, arrays[d * n:(d + 1) * n], where, width, H)
            width, H = p.w_ih.shape[1], p.w_hh.shape[1]  # the backward direction's too
            layer.append(p)
        width = D * H
        layers.append(layer)
    return _network_of(layers)
