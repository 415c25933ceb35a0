"""The weight draws: four compiled programs (rnnviz.engine.init.catalogue) for every scheme, hidden
size and input size, giving the weights jax's own initializers give at the real shape, and
the ones rnnviz drew before with a program per scheme and block shape.

"As before" is jax's function jitted at the real shape and compiled with
programs.QUICK_COMPILE, which is how rnnviz compiled its draws: XLA at optimisation level 0,
no fused multiply-add (see "Rounding" in rnnviz/engine/init.py). Eager jax, on a CPU with FMA,
differs in the last bits; that is checked to a tolerance. Uniform bounds are passed as
arguments, as the old bias and chrono programs took them: as constants, XLA may fold
(u - 1)·1 + lo into u + (lo - 1), another rounding (seen for [-0.3, 0.7); never for the
bounds rnnviz draws from, ±1/√H and ±1, which the scheme tests check as constants).
"""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rnnviz.engine import init, programs
from rnnviz.engine.cells import CELLS, GATE_BLOCKS
from rnnviz.experiments import deep, one_layer

SHAPES = [(1, 1), (128, 128), (512, 10), (32, 2), (12, 7), (7, 12)]
F32 = np.dtype(np.float32)
INITIALIZERS = {
    "pytorch": lambda k, shape, dtype: jax.random.uniform(  # bounds constants, as before
        k, shape, dtype, -1 / math.sqrt(shape[0]), 1 / math.sqrt(shape[0])),
    "glorot": jax.nn.initializers.glorot_uniform(),
    "he": jax.nn.initializers.he_normal(in_axis=1, out_axis=0),
    "orthogonal": jax.nn.initializers.orthogonal(),
    "identity": lambda k, shape, dtype: jnp.eye(*shape, dtype=dtype),
}


def compiled_as_before(fn, *args):
    """fn as rnnviz's draw programs compiled it: jitted at the shapes of args, compiled with
    programs.QUICK_COMPILE; call it with any arguments of those shapes."""
    return jax.jit(fn).lower(*args).compile(compiler_options=programs.QUICK_COMPILE)


def as_before(fn, *args) -> np.ndarray:
    """fn(*args) as rnnviz's draw programs computed it."""
    return np.asarray(compiled_as_before(fn, *args)(*args))


_initializers_as_before: dict = {}


def initializer_as_before(scheme: str, shape: tuple):
    """INITIALIZERS[scheme] at `shape` compiled as before, a function of the key (one
    compile per scheme and shape in this process)."""
    if (scheme, shape) not in _initializers_as_before:
        fn = INITIALIZERS[scheme]
        compiled = compiled_as_before(lambda k: fn(k, shape, jnp.float32),
                                      np.zeros(2, np.uint32))
        _initializers_as_before[scheme, shape] = lambda k: np.asarray(compiled(np.asarray(k)))
    return _initializers_as_before[scheme, shape]


def close_to_eager(ours, eager):
    """Eager jax fuses multiply-adds where the CPU has them: a few ulps at most."""
    np.testing.assert_allclose(ours, eager, rtol=1e-6, atol=1e-6)


# --- the streams and the flat draws -------------------------------------------------------


def test_a_short_split_or_draw_is_the_start_of_a_long_one():
    """What one program per distribution rests on: split(key, n) is split(key, 4)[:n], and a
    draw at any shape is the start of the flat draw, reshaped (jax's partitionable
    threefry, its default)."""
    assert jax.config.jax_threefry_partitionable
    key = jax.random.PRNGKey(21)
    for n in range(1, 6):
        np.testing.assert_array_equal(jax.random.split(key, 5)[:n], jax.random.split(key, n))
    keys = np.asarray(jax.random.split(key, init.DRAW_ROWS))
    flats = {"uniform": init._flat("uniform", keys, F32, -0.3, 0.7),
             "normal": init._flat("normal", keys, F32),
             "truncated_normal": init._flat("truncated_normal", keys, F32)}
    assert all(f.shape == (init.DRAW_ROWS, init.DRAW_LENGTH) and f.dtype == F32
               for f in flats.values())
    lo, hi = np.float32(-0.3), np.float32(0.7)  # the uniform's (the others ignore them)
    draws = {"uniform": lambda k, s, a, b: jax.random.uniform(k, s, jnp.float32, a, b),
             "normal": lambda k, s, a, b: jax.random.normal(k, s, jnp.float32),
             "truncated_normal": lambda k, s, a, b: jax.random.truncated_normal(
                 k, -2, 2, s, jnp.float32)}
    for name, draw in draws.items():
        for shape in [(1, 1), (128, 128)]:
            size = math.prod(shape)
            compiled = compiled_as_before(lambda k, a, b, s=shape, d=draw: d(k, s, a, b),
                                          keys[0], lo, hi)
            for g in (0, 3):
                ours = flats[name][g, :size].reshape(shape)
                np.testing.assert_array_equal(ours, compiled(keys[g], lo, hi), err_msg=name)
                close_to_eager(ours, np.asarray(draw(keys[g], shape, lo, hi)))
    assert not np.array_equal(flats["normal"][0], flats["normal"][1])  # one key per row


def test_layer_keys_are_the_splits_of_the_seed_or_its_fold_in():
    """Stream 0 is the key itself, stream s is fold_in(key, s) (a network's layer k,
    direction d: s = k·D + d); then split into 5, and the first two into blocks' keys."""
    key = jax.random.PRNGKey(22)
    for stream in (0, 1, 7):
        parts, ih, hh = init._layer_keys(np.asarray(key), np.uint32(stream))
        k = key if stream == 0 else jax.random.fold_in(key, stream)
        np.testing.assert_array_equal(parts, jax.random.split(k, 5))
        np.testing.assert_array_equal(ih, jax.random.split(parts[0], init.DRAW_ROWS))
        np.testing.assert_array_equal(hh, jax.random.split(parts[1], init.DRAW_ROWS))


# --- every scheme at the real shape ---------------------------------------------------------


@pytest.mark.parametrize("scheme", init.SCHEMES)
def test_blocks_are_jax_initializers_at_the_real_shape(scheme):
    """Every scheme's blocks, cut from the flat draws and scaled on the host, are the
    initializer's draw at that shape from the same key: bit for bit (orthogonal: to 1e-5,
    its QR runs in SciPy's float32 LAPACK, and exactly orthogonal to 1e-5)."""
    keys = np.asarray(jax.random.split(jax.random.PRNGKey(23), init.DRAW_ROWS))
    for shape in SHAPES:
        blocks = init._blocks(keys, scheme, shape, init.DRAW_ROWS, F32)
        assert len(blocks) == init.DRAW_ROWS
        for g in (0, 1, 3):
            ours = blocks[g]
            assert ours.shape == shape and ours.dtype == F32
            before = initializer_as_before(scheme, shape)(keys[g])
            eager = np.asarray(INITIALIZERS[scheme](jnp.asarray(keys[g]), shape, jnp.float32))
            if scheme != "orthogonal":
                np.testing.assert_array_equal(ours, before, err_msg=f"{scheme} {shape}")
                close_to_eager(ours, eager)
                continue
            np.testing.assert_allclose(ours, before, atol=1e-5, err_msg=f"{shape}")
            np.testing.assert_allclose(ours, eager, atol=1e-5, err_msg=f"{shape}")
            small = min(shape)
            gram = ours.T @ ours if shape[0] >= shape[1] else ours @ ours.T
            np.testing.assert_allclose(gram, np.eye(small), atol=1e-5)
    if scheme not in ("identity",):  # rows come from their own keys
        assert not np.array_equal(blocks[0], blocks[1])


def test_uniform_is_jax_random_uniform_for_any_shape_and_bounds():
    """The public draw (the trainer's readout uses it): jax.random.uniform at the real
    shape and bounds, from raw or typed keys; a shape beyond the flat draw is refused."""
    key = jax.random.PRNGKey(24)
    for shape, lo, hi in [((1, 1), -1.0, 1.0), ((512, 10), -0.125, 0.125), ((32, 2), 1.0, 99.0),
                          ((10, 128), -1 / math.sqrt(128), 1 / math.sqrt(128)), ((7,), 0.0, 1.0)]:
        ours = init.uniform(key, shape, lo, hi)
        assert ours.shape == shape and ours.dtype == F32
        np.testing.assert_array_equal(ours, as_before(
            lambda k, a, b, s=shape: jax.random.uniform(k, s, jnp.float32, a, b), key,
            np.float32(lo), np.float32(hi)))
        close_to_eager(ours, np.asarray(jax.random.uniform(key, shape, jnp.float32, lo, hi)))
        assert lo <= ours.min() and ours.max() < hi
    np.testing.assert_array_equal(init.uniform(jax.random.key(24), 5, 0.0, 2.0),
                                  init.uniform(key, (5,), 0.0, 2.0))
    with pytest.raises(ValueError, match="at most"):
        init.uniform(key, (129, 128), 0.0, 1.0)


# --- whole draws ------------------------------------------------------------------------------


def layer_as_before(key, cell, I, H, *, forget_bias, update_bias, scheme="orthogonal"):
    """One layer of `scheme` without rnnviz: jax's initializers per gate block from the
    keys init_params has always used, zero biases and the gate bias of the flow pages."""
    G = GATE_BLOCKS[cell]
    k_ih, k_hh = jax.random.split(key, 5)[:2]
    in_scheme = "glorot" if scheme in ("orthogonal", "identity") else scheme

    def blocks(keys, name, shape):
        return np.concatenate([initializer_as_before(name, shape)(k)
                               for k in jax.random.split(keys, G)])

    b_ih = np.zeros(G * H, np.float32)
    if cell == "lstm":
        b_ih[H:2 * H] = forget_bias
    if cell == "gru":
        b_ih[H:2 * H] = update_bias
    return (blocks(k_ih, in_scheme, (H, I)), blocks(k_hh, scheme, (H, H)), b_ih,
            np.zeros(G * H, np.float32))


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_flow_pages_default_weights_are_what_they_were(cell):
    """init_params at the defaults of Gradient flow and of the deep page (2 layers, both
    directions: layer k, direction d from fold_in(seed, k·D + d)) returns what the program
    per block shape returned. Bit for bit: one process, and jaxlib's CPU QR calls the
    same SciPy LAPACK as the host's."""
    c = one_layer.FlowConfig(cell=cell)
    key = jax.random.PRNGKey(c.seed)
    params = init.init_params(key, cell, one_layer.INPUT_SIZE, c.H, scheme=c.init, gain=c.gain,
                              forget_bias=c.forget_bias, update_bias=c.update_bias)
    assert c.init == "orthogonal" and c.gain == 1.0
    expected = layer_as_before(key, cell, one_layer.INPUT_SIZE, c.H,
                               forget_bias=c.forget_bias, update_bias=c.update_bias)
    for name, a, b in zip(params._fields, params, expected):
        np.testing.assert_array_equal(np.asarray(a), b, err_msg=name)

    d = deep.DeepConfig(cell=cell)
    assert d.init == "orthogonal" and d.gain == 1.0
    D = 2 if d.bidirectional else 1
    key = jax.random.PRNGKey(d.seed)
    net = init.init_params(key, cell, one_layer.INPUT_SIZE, d.H, scheme=d.init, gain=d.gain,
                           forget_bias=d.forget_bias, update_bias=d.update_bias,
                           layers=d.layers, bidirectional=d.bidirectional)
    for k in range(d.layers):
        for direction in range(D):
            stream = k * D + direction
            expected = layer_as_before(
                key if stream == 0 else jax.random.fold_in(key, stream), cell,
                one_layer.INPUT_SIZE if k == 0 else D * d.H, d.H,
                forget_bias=d.forget_bias, update_bias=d.update_bias)
            for name, a, b in zip(net.layers[k][direction]._fields, net.layers[k][direction],
                                  expected):
                np.testing.assert_array_equal(np.asarray(a), b, err_msg=f"{k} {direction} {name}")


@pytest.mark.parametrize("scheme", ["pytorch", "he"])
def test_other_schemes_biases_and_chrono_are_what_they_were(scheme):
    """The schemes whose numbers round differently in eager jax (U(±1/√H), the truncated
    normal), PyTorch's biases and the chrono forget bias, as the old programs drew them."""
    key, cell, I, H = jax.random.PRNGKey(25), "lstm", 10, 24
    params = init.init_params(key, cell, I, H, scheme=scheme)
    w_ih, w_hh, *_ = layer_as_before(key, cell, I, H, forget_bias=0.0, update_bias=0.0,
                                     scheme=scheme)
    np.testing.assert_array_equal(np.asarray(params.w_ih), w_ih)
    np.testing.assert_array_equal(np.asarray(params.w_hh), w_hh)
    if scheme == "pytorch":
        bound = np.float32(1 / math.sqrt(H))
        for k, b in zip(jax.random.split(key, 5)[2:4], (params.b_ih, params.b_hh)):
            np.testing.assert_array_equal(np.asarray(b), as_before(
                lambda k: jax.random.uniform(k, (4 * H,), jnp.float32, -bound, bound), k))
    chrono = init.init_params(key, cell, I, H, scheme=scheme, chrono_tmax=50)
    b_f = np.log(as_before(lambda k: jax.random.uniform(
        jax.random.split(k, 5)[4], (H,), jnp.float32, 1.0, 49.0), key))
    np.testing.assert_array_equal(np.asarray(chrono.b_ih)[H:2 * H], b_f)
    np.testing.assert_array_equal(np.asarray(chrono.b_ih)[:H], -b_f)


# --- a closed set of programs -----------------------------------------------------------------


def draw_everything():
    """Draws at many sizes: every cell and scheme, hidden sizes 1-128, input sizes 1-128,
    stacks, both directions, the chrono bias, and the public uniform draw."""
    key = jax.random.PRNGKey(26)
    for cell in CELLS:
        for scheme in init.SCHEMES:
            for I, H in [(1, 1), (2, 32), (10, 17), (128, 128)]:
                init.init_params(key, cell, I, H, scheme=scheme)
    init.init_params(key, "lstm", 2, 64, layers=3, bidirectional=True, chrono_tmax=30)
    init.init_params(key, "gru", 10, 64, scheme="he", layers=2, bidirectional=True)
    init.init_params(jax.random.key(27), "rnn", 1, 5, scheme="orthogonal")
    for shape in [(10, 128), (512, 10), 3]:
        init.uniform(key, shape, -0.5, 0.5)


def test_every_size_draws_with_the_catalogue_programs_only():
    """Drawing at any size compiles the catalogue's programs and nothing else; after the
    warm-up has compiled the catalogue, drawing compiles nothing."""
    catalogue = init.catalogue()
    assert len(catalogue) == 4
    assert all(p.family == "weight draws" and p.first for p in catalogue)
    init._kept.clear()
    programs.clear()
    before = programs.stats()["compiles"]
    draw_everything()
    assert programs.stats()["compiles"] - before == len(catalogue)

    init._kept.clear()
    programs.clear()
    before = programs.stats()["compiles"]
    with programs.compile_only():
        for p in catalogue:
            p.call()
    assert programs.stats()["compiles"] - before == len(catalogue)
    draw_everything()
    assert programs.stats()["compiles"] - before == len(catalogue)
    assert init._kept  # the draws ran (not the warm-up's placeholders)
