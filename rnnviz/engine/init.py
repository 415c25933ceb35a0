"""Initialisation schemes for the recurrent weights, and `from_torch` / `from_keras` for
bringing trained weights in (one layer, or a stacked and bidirectional network)."""
import math
import re
import threading
from collections import OrderedDict

import jax
import jax.numpy as jnp
import numpy as np
import scipy.linalg

from rnnviz.engine import programs
from rnnviz.engine.cells import DIRECTIONS, GATE_BLOCKS, MAX_LAYERS, CellParams, Network, check_cell
from rnnviz.engine.programs import Program

SCHEMES = ("pytorch", "glorot", "he", "orthogonal", "identity")
SCHEME_LABELS = {
    "pytorch": "PyTorch default U(±1/√H)",
    "glorot": "Glorot uniform",
    "he": "He normal",
    "orthogonal": "Orthogonal",
    "identity": "Identity (IRNN)",
}
RADIUS_KINDS = ("eigen", "singular")


# Every draw runs one of four compiled programs, whatever the scheme, size and input size:
# with jax's threefry "partitionable" (its default), n numbers drawn from a key are the
# first n of any longer draw from it, and n keys split from a key the first n of a longer
# split, bit for bit. So one program per distribution draws DRAW_LENGTH numbers from each
# of DRAW_ROWS keys, and the host cuts, reshapes and scales them as jax's initializers do:
# the same weights as `jax.nn.initializers` at the real shape, and as rnnviz drew before
# (tests/test_draws.py), and no compile for a new size (before, a program per scheme and
# block shape: 40 of them for a class exploring sizes).
#
# Rounding: jax's uniform is floats·(max − min) + min. Compiled with XLA's optimisations,
# on a CPU with fused multiply-add, that rounds once; compiled at optimisation level 0 (as
# `programs.jit(quick_compile=True)` compiled rnnviz's draws) or in NumPy it rounds twice,
# the same on every CPU: half the numbers of a U(±1/√H) draw differ in the last bit. The
# normal draws' erf_inv polynomial likewise. To keep every seed's weights, the uniform
# draw's scaling runs on the host, and the (truncated) normal programs at level 0.
DRAW_LENGTH = 128 * 128  # the largest block: H × max(H, I), with H and I ≤ 128
DRAW_ROWS = 4  # keys per program call: the most gate blocks of a cell (an LSTM's)
# jax's truncated_normal(-2, 2) has this standard deviation; he_normal divides by it.
_TRUNCATED_STD = .87962566103423978


def _blocks(keys, scheme, shape, count, dtype) -> list[np.ndarray]:
    """`count` (out, in) weight blocks of `scheme`, block g drawn from keys[g], equal to
    ``jax.nn.initializers``' draw of `shape` from that key (orthogonal: to LAPACK's
    rounding)."""
    rows, cols = shape
    if scheme == "identity":
        # IRNN (Le, Jaitly & Hinton 2015): W_hh = I.
        return [np.eye(rows, cols, dtype=dtype) for _ in range(count)]
    if scheme == "pytorch":
        # PyTorch's nn.RNN/LSTM/GRU: every weight ~ U(-1/sqrt(H), 1/sqrt(H)), H = hidden size.
        bound = 1.0 / math.sqrt(rows)
        return _cuts(_flat("uniform", keys, dtype, -bound, bound), shape, count)
    if scheme == "glorot":
        # variance_scaling(1, "fan_avg", "uniform") with jax's axes (fan_in = rows,
        # fan_out = cols; symmetric anyway), its arithmetic in `dtype` step by step.
        variance = dtype.type(1.0 / ((rows + cols) / 2))
        scale = np.sqrt(dtype.type(3) * variance)
        return [u * scale for u in _cuts(_flat("uniform", keys, dtype, -1.0, 1.0), shape, count)]
    if scheme == "he":
        # N(0, 2/fan_in) truncated at ±2σ (He et al. 2015; jax's he_normal): our blocks are
        # (out, in), so fan_in is axis 1, as he_normal(in_axis=1, out_axis=0) reads it.
        stddev = np.sqrt(dtype.type(2.0 / cols)) / dtype.type(_TRUNCATED_STD)
        return [z * stddev for z in _cuts(_flat("truncated_normal", keys, dtype), shape, count)]
    if scheme == "orthogonal":
        # QR of a Gaussian matrix, sign-corrected (Saxe et al. 2013), as jax draws it.
        tall = (max(rows, cols), min(rows, cols))
        return [_orthogonal(z, wide=rows < cols)
                for z in _cuts(_flat("normal", keys, dtype), tall, count)]
    raise ValueError(f"unknown scheme {scheme!r}; choose one of {', '.join(SCHEMES)}")


def _orthogonal(z: np.ndarray, wide: bool) -> np.ndarray:
    """jax.random.orthogonal's matrix from its normal draw z (rows ≥ cols): Q of z's QR with
    each column times the sign of R's diagonal, transposed back for a wide block.

    On the host, in z's dtype: SciPy's float32 LAPACK (sgeqrf, sorgqr) is the one jaxlib's
    CPU QR calls, so this equals jax's own on the same CPU (NumPy's QR works in float64,
    1e-6 away). An XLA program would need a QR per shape, and its LAPACK kernels may not
    run two at once (see `programs.jit`'s one_at_a_time)."""
    q, r = scipy.linalg.qr(z, mode="economic", check_finite=False)
    q = q * np.sign(np.diagonal(r))
    return q.T if wide else q


def _cuts(flat: np.ndarray, shape, count: int) -> list[np.ndarray]:
    """The first `count` rows of a flat draw, each cut to `shape` (copies: a kept draw then
    holds its blocks, not the whole DRAW_ROWS × DRAW_LENGTH draw)."""
    size = math.prod(shape)
    if size > DRAW_LENGTH:
        raise ValueError(f"a block of shape {shape} is {size} numbers; the draws hold at most "
                         f"{DRAW_LENGTH} (hidden and input sizes up to 128)")
    return [flat[g, :size].reshape(shape).copy() for g in range(count)]


def _flat(distribution: str, keys, dtype, *bounds) -> np.ndarray:
    """(DRAW_ROWS, DRAW_LENGTH) numbers of `distribution` ("uniform" in [bounds), "normal",
    "truncated_normal" in (-2, 2)), row g from keys[g]. The programs take only the keys
    (the uniform's bounds apply on the host), so each distribution (and dtype) is one
    compiled program."""
    if not jax.config.jax_threefry_partitionable:
        raise RuntimeError("rnnviz's draws need jax_threefry_partitionable=True (jax's "
                           "default): only then is a short draw the start of a long one")
    keys, dtype = np.asarray(keys, np.uint32), np.dtype(dtype)
    if distribution == "uniform":
        minval, maxval = (dtype.type(b) for b in bounds)
        unit = np.asarray(_unit_rows(keys, dtype=dtype))
        if programs.compiling_only():  # placeholder zeros, as every program gives there
            return unit
        # jax.random.uniform's arithmetic, each step rounded (see "Rounding" above).
        return np.maximum(minval, unit * (maxval - minval) + minval)
    draw = {"normal": _normal_rows, "truncated_normal": _truncated_normal_rows}[distribution]
    return np.asarray(draw(keys, dtype=dtype))


def uniform(key, shape, minval, maxval, dtype=np.float32) -> np.ndarray:
    """``jax.random.uniform(key, shape, dtype, minval, maxval)`` as a numpy array, from the
    one compiled uniform draw: any shape of up to DRAW_LENGTH numbers and any (scalar)
    bounds, with no compile. Bit for bit what jax gives compiled without fused multiply-add
    (e.g. with `programs.jit(quick_compile=True)`, the bounds passed as arguments; as
    constants XLA may refold the arithmetic); eagerly, on a CPU with FMA, jax's numbers may
    differ in the last bit (see "Rounding" above)."""
    keys = np.broadcast_to(_raw_key(key), (DRAW_ROWS, 2))
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    return _cuts(_flat("uniform", keys, dtype, minval, maxval), shape, 1)[0]


def _raw_key(key) -> np.ndarray:
    """A key's two uint32 words (a typed threefry key's data, or a PRNGKey as it is): the
    draw programs take raw keys, one shape and dtype for any caller's key."""
    if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        key = jax.random.key_data(key)
    key = np.asarray(key)
    if key.shape != (2,) or key.dtype != np.uint32:
        raise ValueError(f"expected a threefry PRNG key (2 uint32 words), got {key.dtype}"
                         f"{list(key.shape)}")
    return key


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
    key = _raw_key(key)
    if layers == 1 and D == 1:
        return _init_layer(key, 0, cell, input_size, hidden_size, **options)
    # Layer k, direction d draws from stream k·D + d: fold_in(key, k·D + d), except layer
    # 0's forward direction, which draws from `key` itself (stream 0).
    return Network(tuple(
        tuple(_init_layer(key, k * D + d, cell, input_size if k == 0 else D * hidden_size,
                          hidden_size, **options)
              for d in range(D))
        for k in range(layers)))


def _init_layer(key, stream, cell, input_size, hidden_size, *, scheme, gain, spectral_radius,
                radius_kind, forget_bias, chrono_tmax, update_bias, dtype) -> CellParams:
    """One layer's (one direction's) CellParams, as `init_params` documents them; drawn
    from `key` (stream 0) or fold_in(key, stream)."""
    G, H = GATE_BLOCKS[cell], hidden_size
    # The random draws are the few programs of `catalogue()` (see `_draw`); the arithmetic
    # on them runs in NumPy, which compiles nothing (eagerly in jax, each small operation
    # would compile and keep a program for every hidden size).
    w_ih, w_hh, b_ih, b_hh, k_chrono = (np.array(a) for a in _kept_draw(
        key, stream=stream, count=G, scheme=scheme, hidden_size=H, input_size=input_size,
        dtype=np.dtype(dtype)))
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
        b_f = np.log(uniform(k_chrono, (H,), 1.0, chrono_tmax - 1.0, dtype))
        set_bias(1, b_f)  # gate order i, f, g, o
        set_bias(0, -b_f)
    elif cell == "lstm" and forget_bias is not None:
        set_bias(1, forget_bias)
    if cell == "gru" and update_bias is not None:
        set_bias(1, update_bias)  # gate order r, z, n
    return CellParams(*(jax.device_put(np.asarray(a, dtype)) for a in (w_ih, w_hh, b_ih, b_hh)))


# The last draws, as numpy arrays: a class moving the gain, a bias or the length redraws
# the same weights again and again, and a draw costs 3-10 ms (its programs run on
# DRAW_ROWS × DRAW_LENGTH numbers whatever the size, and orthogonal weights take QRs). 64
# draws of inputs up to 10 are at most 17 MB.
KEPT_DRAWS = 64
_kept: OrderedDict = OrderedDict()
_kept_lock = threading.Lock()


def _kept_draw(key, **static) -> tuple[np.ndarray, ...]:
    """`_draw(key, **static)` as read-only numpy arrays, from the last KEPT_DRAWS draws
    when it is one of them (the same arrays: a draw depends on nothing else)."""
    if programs.compiling_only():  # the warm-up's placeholders are no draw to keep
        return tuple(np.zeros_like(a) for a in _draw(key, **static))  # zeros, like a program's
    name = (np.asarray(key).tobytes(), tuple(sorted(static.items())))
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


def _draw(key, *, stream, count, scheme, hidden_size, input_size,
          dtype) -> tuple[np.ndarray, ...]:
    """w_ih, w_hh (each `count` blocks drawn from `scheme`, stacked along the rows), the
    biases (PyTorch's U(±1/√H), or zeros for the other schemes), and the key of the chrono
    draw; as numpy arrays.

    The streams of keys are what they always were (one block per key, `_layer_keys`), and
    every block is cut from the flat draw of its key (`_blocks`): the same weights as a
    program per scheme and block shape gave, from the four programs of `catalogue()`.
    """
    G, H = count, hidden_size
    parts, keys_ih, keys_hh = (np.asarray(a) for a in _layer_keys(key, np.uint32(stream)))
    in_scheme = {"orthogonal": "glorot", "identity": "glorot"}.get(scheme, scheme)
    w_ih = np.concatenate(_blocks(keys_ih, in_scheme, (H, input_size), G, dtype))
    w_hh = np.concatenate(_blocks(keys_hh, scheme, (H, H), G, dtype))
    if scheme != "pytorch":
        b_ih, b_hh = np.zeros((G * H,), dtype), np.zeros((G * H,), dtype)
    else:
        bound = 1.0 / math.sqrt(H)
        keys = np.concatenate([parts[2:4]] * (DRAW_ROWS // 2))  # b_ih's, b_hh's (and again)
        b_ih, b_hh = _cuts(_flat("uniform", keys, dtype, -bound, bound), (G * H,), 2)
    return w_ih, w_hh, b_ih, b_hh, parts[4].copy()


@programs.jit(quick_compile=True, light=True)
def _layer_keys(key, stream):
    """A layer's keys: k = `key` for stream 0, else fold_in(key, stream); split(k, 5) (w_ih's,
    w_hh's, the two biases' and the chrono draw's), and DRAW_ROWS blocks' keys split from
    each of the first two (a cell of G blocks uses the first G: a split into fewer keys is
    the start of this one)."""
    k = jnp.where(stream == 0, key, jax.random.fold_in(key, stream))
    parts = jax.random.split(k, 5)
    return parts, jax.random.split(parts[0], DRAW_ROWS), jax.random.split(parts[1], DRAW_ROWS)


def _rows(draw):
    """vmap of `draw(key)` over the DRAW_ROWS keys: row g is the draw from keys[g] alone."""
    return jax.vmap(draw)


# U[0, 1) is exact arithmetic (bits to a float in [1, 2), minus 1), so its program is
# compiled with XLA's optimisations: 0.6 ms for DRAW_ROWS × DRAW_LENGTH numbers, not 4-8
# at level 0 (measured, 2-core CPU). The normal draws' programs must be level 0 (see
# "Rounding"): 6.5 ms each.
@programs.jit(static_argnames=("dtype",), light=True)
def _unit_rows(keys, *, dtype):
    return _rows(lambda k: jax.random.uniform(k, (DRAW_LENGTH,), dtype))(keys)


@programs.jit(static_argnames=("dtype",), quick_compile=True, light=True)
def _normal_rows(keys, *, dtype):
    return _rows(lambda k: jax.random.normal(k, (DRAW_LENGTH,), dtype))(keys)


@programs.jit(static_argnames=("dtype",), quick_compile=True, light=True)
def _truncated_normal_rows(keys, *, dtype):
    # he_normal's: a standard normal truncated to (-2, 2).
    return _rows(lambda k: jax.random.truncated_normal(k, -2, 2, (DRAW_LENGTH,), dtype))(keys)


def catalogue() -> list[Program]:
    """The weight draws' programs: every scheme, hidden size and input size (up to 128, in
    float32) draws with these, and nothing else."""
    key, keys, f32 = np.zeros(2, np.uint32), np.zeros((DRAW_ROWS, 2), np.uint32), np.float32
    family = "weight draws"
    return [
        Program(family, "a layer's keys", lambda: _layer_keys(key, np.uint32(0)), True),
        Program(family, f"uniform [0, 1), {DRAW_ROWS} × {DRAW_LENGTH}",
                lambda: _flat("uniform", keys, f32, 0.0, 1.0), True),
        Program(family, f"normal, {DRAW_ROWS} × {DRAW_LENGTH}",
                lambda: _flat("normal", keys, f32), True),
        Program(family, f"truncated normal, {DRAW_ROWS} × {DRAW_LENGTH}",
                lambda: _flat("truncated_normal", keys, f32), True),
    ]


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
