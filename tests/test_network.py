"""Networks: stacked and bidirectional layers of one cell (issue 11).

Every cell × 1-3 layers × uni/bidirectional is checked against an independent NumPy
implementation of the stack (tests/reference.py: PyTorch's stacking, and Keras's layers in
Keras's own layout and gate order), gradients ∂L/∂h_t of every layer against central finite
differences of that reference in float64, depth against a closed form held down to 1e-25 in
float32, and the one-layer results against the arrays the code returned before networks
existed (tests/data/one_layer_before.npz).
"""
import functools
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rnnviz
from rnnviz.engine import bptt, jacobians, programs
from rnnviz.engine.cells import GATE_OUTPUTS, CellParams, Network

try:
    import one_layer_outputs
    from reference import reference_keras, reference_stack
except ImportError:  # tests/ imported as a package
    from tests import one_layer_outputs
    from tests.reference import reference_keras, reference_stack

CELLS = rnnviz.CELLS
G = {"rnn": 1, "rnn_relu": 1, "lstm": 4, "gru": 3}  # restated, PyTorch layout
SHAPES = [(L, D) for L in (1, 2, 3) for D in (1, 2)]
T, B, I, H = 5, 2, 3, 4  # one shape for most tests, so compiled programs are shared


# --- helpers --------------------------------------------------------------------------------


def random_network(cell, L, D, seed, dtype=jnp.float32, input_size=I, hidden_size=H):
    """init_params of a stack, with random biases in both b_ih and b_hh of every layer."""
    params = rnnviz.init_params(jax.random.PRNGKey(seed), cell, input_size, hidden_size,
                                layers=L, bidirectional=D == 2, dtype=dtype)
    rng = np.random.default_rng(seed + 500)
    net = rnnviz.engine.cells.as_network(params)

    def with_biases(p):
        return p._replace(b_ih=jnp.asarray(rng.uniform(-0.5, 0.5, p.b_ih.shape), dtype),
                          b_hh=jnp.asarray(rng.uniform(-0.5, 0.5, p.b_hh.shape), dtype))

    layers = tuple(tuple(with_biases(p) for p in layer) for layer in net.layers)
    return layers[0][0] if L == D == 1 else Network(layers)


def mixed_network(cell, directions, hidden_sizes, seed, dtype=jnp.float32, input_size=I):
    """A stack whose layers differ, as Keras builds them: layer k has directions[k] of
    hidden_sizes[k] units and reads the D_{k−1}·H_{k−1} outputs of the layer below."""
    rng = np.random.default_rng(seed)
    layers, width = [], input_size
    for D_k, H_k in zip(directions, hidden_sizes):
        gh, bound = G[cell] * H_k, 1.2 / np.sqrt(H_k)
        layers.append(tuple(
            CellParams(*(jnp.asarray(rng.uniform(-bound, bound, shape), dtype)
                         for shape in ((gh, width), (gh, H_k), (gh,), (gh,))))
            for _ in range(D_k)))
        width = D_k * H_k
    return Network(tuple(layers))


def numpy_layers(params):
    """layers[k][d] as float64 numpy 4-tuples, for the reference."""
    return [[tuple(np.asarray(a, np.float64) for a in p) for p in layer]
            for layer in rnnviz.engine.cells.as_network(params).layers]


def inputs(seed, T=T, B=B, I=I, dtype=jnp.float32):
    return jnp.asarray(np.random.default_rng(seed).standard_normal((T, B, I)), dtype)


def weighted_sum(hs, weights):
    return jnp.sum(weights * hs)


@functools.lru_cache(maxsize=None)
def loss_weights(shape, seed):
    """A fixed random linear loss L = Σ W ⊙ y over every output step (W float64 numpy)."""
    return np.random.default_rng(seed).standard_normal(shape)


@functools.lru_cache(maxsize=None)
def flow_program(cell):
    """jit of bptt.flow with the loss L = Σ W ⊙ y: (loss, hs, gates, grads)."""
    return jax.jit(lambda p, xs, w: bptt.flow(cell, p, xs, functools.partial(weighted_sum, weights=w)))


def per_layer(a, L, D):
    """A (T, B, H) one-layer array as (1, 1, T, B, H); a stack's as it is."""
    return np.asarray(a)[None, None] if L == D == 1 else np.asarray(a)


# --- forward pass ---------------------------------------------------------------------------


@pytest.mark.parametrize("L, D", SHAPES)
@pytest.mark.parametrize("cell", CELLS)
def test_stack_matches_numpy_reference_forward_and_finite_differences(cell, L, D):
    """Forward: hs (T, B, D·H) is the top layer's [forward, backward] output and every gate
    is (L, D, T, B, H), equal to the NumPy stack. Gradients: ∂L/∂h_t (and ∂L/∂c_t) of every
    layer and direction at every step, from one reverse pass, equal central differences of
    the NumPy stack with that h_t perturbed. All in float64 (float32: the from_* tests)."""
    params = random_network(cell, L, D, seed=20 + 10 * L + D, dtype=jnp.float64)
    xs = inputs(5, dtype=jnp.float64)
    layers = numpy_layers(params)
    shape = (T, B, H) if L == D == 1 else (L, D, T, B, H)
    w = loss_weights((T, B, D * H), 6)
    # bptt.flow is what unroll and hidden_grads compile; one program per network here.
    _, hs, gates, grads = flow_program(cell)(params, xs, w)

    ref_out, _, ref_gates = reference_stack(cell, layers, xs)
    assert hs.shape == (T, B, D * H) and hs.dtype == jnp.float64
    np.testing.assert_allclose(hs, ref_out, rtol=1e-12, atol=1e-14)
    assert set(gates) == set(GATE_OUTPUTS[cell])
    for name in GATE_OUTPUTS[cell]:
        want = np.stack([np.stack([g[name] for g in row]) for row in ref_gates])
        assert np.asarray(gates[name]).shape == shape
        np.testing.assert_allclose(per_layer(gates[name], L, D), want, rtol=1e-12, atol=1e-14)

    assert set(grads) == ({"h", "c"} if cell == "lstm" else {"h"})
    rng = np.random.default_rng(7)
    step = 1e-6
    for part in grads:
        got = per_layer(grads[part], L, D)
        assert np.asarray(grads[part]).shape == shape
        key = "eps_h" if part == "h" else "eps_c"
        for k in range(L):
            for d in range(D):
                for t in range(T):
                    v = rng.standard_normal((B, H))  # one random direction per (k, d, t)

                    def loss(sign):
                        eps = [[np.zeros((T, B, H)) for _ in range(D)] for _ in range(L)]
                        eps[k][d][t] = sign * step * v
                        return np.sum(w * reference_stack(cell, layers, xs, **{key: eps})[0])

                    fd = (loss(1.0) - loss(-1.0)) / (2 * step)
                    np.testing.assert_allclose(np.sum(got[k, d, t] * v), fd, rtol=1e-6, atol=1e-8,
                                               err_msg=f"{part} layer {k} direction {d} step {t}")


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
def test_stack_start_state_is_torch_h0(cell):
    """h0 (and the LSTM's c0) of a stack are (L·D, B, H) in PyTorch's order."""
    L, D = 2, 2
    params = random_network(cell, L, D, seed=3)
    xs = inputs(2)
    rng = np.random.default_rng(4)
    h0 = jnp.asarray(0.5 * rng.standard_normal((L * D, B, H)), jnp.float32)
    c0 = jnp.asarray(0.5 * rng.standard_normal((L * D, B, H)), jnp.float32)
    hs, _ = rnnviz.unroll(cell, params, xs, h0, c0 if cell == "lstm" else None)
    ref, _, _ = reference_stack(cell, numpy_layers(params), xs, np.asarray(h0),
                                np.asarray(c0) if cell == "lstm" else None)
    np.testing.assert_allclose(hs, ref, rtol=2e-5, atol=2e-6)
    assert not np.allclose(hs, rnnviz.unroll(cell, params, xs)[0], atol=1e-3)  # h0 mattered


MIXED = [((2, 1), (4, 3)), ((1, 2, 1), (3, 2, 4))]  # Keras's Bidirectional under a one-way layer


@pytest.mark.parametrize("directions, sizes", MIXED)
@pytest.mark.parametrize("cell", CELLS)
def test_mixed_stack_matches_numpy_reference_forward_and_finite_differences(cell, directions, sizes):
    """A stack whose layers differ in directions and units (Keras's Bidirectional(...,
    return_sequences=True) under LSTM(...)): hs is the top layer's output, gates and
    gradients come per layer as (D_k, T, B, H_k), equal to the NumPy stack and to central
    differences of it with h_t (and c_t) of one layer and direction perturbed (float64)."""
    net = mixed_network(cell, directions, sizes, seed=70 + len(directions), dtype=jnp.float64)
    assert (net.directions, net.hidden_sizes, net.is_uniform) == (directions, sizes, False)
    assert net.num_directions == 2  # some layer reads backwards
    xs = inputs(71, dtype=jnp.float64)
    layers = numpy_layers(net)
    w = loss_weights((T, B, directions[-1] * sizes[-1]), 72)
    _, hs, gates, grads = flow_program(cell)(net, xs, w)
    ref_out, _, ref_gates = reference_stack(cell, layers, xs)
    np.testing.assert_allclose(hs, ref_out, rtol=1e-12, atol=1e-14)
    shapes = [(D_k, T, B, H_k) for D_k, H_k in zip(directions, sizes)]
    for name in GATE_OUTPUTS[cell]:
        assert [g.shape for g in gates[name]] == shapes
        for k, row in enumerate(ref_gates):
            np.testing.assert_allclose(gates[name][k], np.stack([g[name] for g in row]),
                                       rtol=1e-12, atol=1e-14)
    rng = np.random.default_rng(73)
    step = 1e-6
    for part in grads:
        assert [g.shape for g in grads[part]] == shapes
        key = "eps_h" if part == "h" else "eps_c"
        for k, (D_k, H_k) in enumerate(zip(directions, sizes)):
            for d in range(D_k):
                t = int(rng.integers(T))  # one step per layer and direction keeps it quick
                v = rng.standard_normal((B, H_k))

                def loss(sign):
                    eps = [[np.zeros((T, B, h)) for _ in range(n)] for n, h in zip(directions, sizes)]
                    eps[k][d][t] = sign * step * v
                    return np.sum(w * reference_stack(cell, layers, xs, **{key: eps})[0])

                fd = (loss(1.0) - loss(-1.0)) / (2 * step)
                np.testing.assert_allclose(np.sum(np.asarray(grads[part][k][d, t]) * v), fd,
                                           rtol=1e-6, atol=1e-8,
                                           err_msg=f"{part} layer {k} direction {d} step {t}")
    norms = bptt.network_norms(grads["h"])
    assert [n.shape for n in norms] == [(D_k, T) for D_k in directions]
    np.testing.assert_allclose(norms[0], bptt.per_step_norms(grads["h"][0]), rtol=1e-12)


def test_network_norms_of_uniform_and_one_layer_results():
    """network_norms reads every form hidden_grads returns; for a uniform network it is
    layer_norms split by layer."""
    params = random_network("gru", 2, 2, seed=74)
    loss = functools.partial(rnnviz.readout_loss, length=T, placement="all")
    g = rnnviz.hidden_grads("gru", params, inputs(75), loss)["h"]
    assert g.shape == (2, 2, T, B, H)
    np.testing.assert_array_equal(np.stack(bptt.network_norms(g)), rnnviz.layer_norms(g))
    one = rnnviz.hidden_grads("gru", params.layers[0][0], inputs(75), loss)["h"]
    np.testing.assert_array_equal(bptt.network_norms(one)[0], rnnviz.layer_norms(one)[0])


# --- gradients ------------------------------------------------------------------------------


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
def test_readout_loss_on_a_bidirectional_output_reads_unit_norm(cell):
    """readout_loss's v = (1, …, 1)/√(D·H) on (T, B, D·H): at the step it reads, ‖∂L/∂y‖ = 1,
    half in each direction; the backward direction's gradient at the last step alone."""
    params = random_network(cell, 2, 2, seed=8)
    grads = rnnviz.hidden_grads(cell, params, inputs(9),
                                functools.partial(rnnviz.readout_loss, length=T, placement="last"))
    top = np.asarray(grads["h"][1], np.float64)  # (D, T, B, H)
    np.testing.assert_allclose(np.sum(top[:, T - 1] ** 2, axis=(0, 2)), 1.0, rtol=1e-6)
    # The top backward state at t < T − 1 is read by the loss only through later steps of
    # its own direction, which run toward t = 0: it gets no gradient.
    assert np.all(top[1, : T - 1] == 0.0)
    assert np.all(np.abs(top[0, : T - 1]).sum(axis=(1, 2)) > 0)


def test_closed_form_depth_held_down_to_1e25():
    """Zero inputs and biases, tanh; layer 1 W_hh = ρ₁Q₁, layer 2 W_ih = ρ₂Q₂, W_hh = 0, loss
    v·h²_{T−1}: ‖∂L/∂h¹_t‖ = ρ₂ρ₁^(T−1−t)‖v‖, and ∂L/∂h²_t = v at t = T−1, 0 before."""
    rho1, rho2, T_, H_ = 0.5, 0.7, 90, 5  # 0.7·0.5^89 ≈ 1e-27 at t = 0
    q1, q2 = orthogonal(H_, 1), orthogonal(H_, 2)
    zeros = np.zeros(H_, np.float32)
    layer1 = CellParams(*(jnp.asarray(a, jnp.float32) for a in (orthogonal(H_, 3), rho1 * q1, zeros, zeros)))
    layer2 = CellParams(*(jnp.asarray(a, jnp.float32) for a in (rho2 * q2, np.zeros((H_, H_)), zeros, zeros)))
    net = Network(((layer1,), (layer2,)))
    v = np.random.default_rng(3).standard_normal(H_)
    weights = np.zeros((T_, 1, H_), np.float32)
    weights[-1, 0] = v
    grads = rnnviz.hidden_grads("rnn", net, jnp.zeros((T_, 1, H_), jnp.float32),
                                functools.partial(weighted_sum, weights=jnp.asarray(weights)))
    norms = rnnviz.layer_norms(grads["h"])  # (L, D, T)
    assert norms.shape == (2, 1, T_)
    expected = rho2 * rho1 ** np.arange(T_ - 1, -1, -1.0) * np.linalg.norm(v)
    held = expected >= 1e-25
    assert held.sum() >= 80 and expected.min() < 1e-25
    np.testing.assert_allclose(norms[0, 0, held], expected[held], rtol=1e-4)
    np.testing.assert_allclose(norms[1, 0, -1], np.linalg.norm(v), rtol=1e-6)
    assert np.all(norms[1, 0, :-1] == 0.0)
    steps, directions = bptt.layer_steps_per_decade(norms)
    assert steps[0, 0] == pytest.approx(1.0 / np.log10(1.0 / rho1), rel=1e-3)
    assert directions[0] == ("falls",)
    assert np.isnan(steps[1, 0]) and directions[1] == (None,)  # one nonzero step: no rate


def test_layer_steps_per_decade_goes_back_each_direction_s_own_way():
    """The backward direction reads from the end: its gradient falls toward later steps."""
    t = np.arange(40)
    forward = 10.0 ** (-(39 - t) / 4.0)  # falls 10× every 4 steps back toward t = 0
    backward = 10.0 ** (-t / 8.0)  # falls 10× every 8 steps toward t = T − 1
    steps, directions = bptt.layer_steps_per_decade(np.stack([forward, backward])[None])
    np.testing.assert_allclose(steps, [[4.0, 8.0]], rtol=1e-9)
    assert directions == (("falls", "falls"),)
    steps, directions = bptt.layer_steps_per_decade(np.stack([backward, forward])[None])
    assert directions == (("grows", "grows"),)


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_padding_a_bidirectional_network_changes_nothing_before_length(cell):
    """With `length`, the backward direction starts at step length − 1: hs, gates, gradients
    and the connectivity map before it equal those of the unpadded sequence."""
    params = random_network(cell, 2, 2, seed=11)
    xs = inputs(12, T=7)
    padded = jnp.concatenate([xs, 3.0 * jnp.ones((4, B, I), jnp.float32)])
    loss = functools.partial(rnnviz.readout_loss, length=7, placement="all")
    hs, gates = rnnviz.unroll(cell, params, xs)
    hs_p, gates_p = rnnviz.unroll(cell, params, padded, length=7)
    np.testing.assert_allclose(hs_p[:7], hs, rtol=1e-6, atol=1e-7)
    for name in gates:
        np.testing.assert_allclose(gates_p[name][:, :, :7], gates[name], rtol=1e-6, atol=1e-7)
    g, g_p = (rnnviz.hidden_grads(cell, params, a, loss, length=7 if a is padded else None)
              for a in (xs, padded))
    for part in g:
        np.testing.assert_allclose(g_p[part][:, :, :7], g[part], rtol=1e-5, atol=1e-7)
    assert not np.allclose(rnnviz.unroll(cell, params, padded)[0][:7], hs, atol=1e-3)  # needed
    if cell == "gru":  # the connectivity's tangents start at step length − 1 too
        conn = jacobians.connectivity(cell, params, xs)
        np.testing.assert_allclose(jacobians.connectivity(cell, params, padded, length=7), conn,
                                   rtol=1e-5, atol=1e-5)


# --- one layer: unchanged -------------------------------------------------------------------


def same_as_stored(now: np.ndarray, stored: np.ndarray, rtol: float = 1e-5) -> bool:
    """Whether an array computed here matches one stored from another machine: the same
    shape and dtype, the same non-finite entries (NaN, ±inf) at the same places, and finite
    values within rtol (atol rtol/100 of the array's largest). Not bit for bit: LAPACK (the
    orthogonal draws' QR) and XLA's CPU code round per CPU, e.g. one float32 ulp apart
    on an AVX-512 machine."""
    if now.shape != stored.shape or now.dtype != stored.dtype:
        return False
    if not np.issubdtype(stored.dtype, np.floating):
        return np.array_equal(now, stored)
    finite = np.isfinite(stored)
    if not (np.array_equal(np.isfinite(now), finite)
            and np.array_equal(now[~finite], stored[~finite], equal_nan=True)):
        return False
    scale = np.abs(stored[finite]).max(initial=0.0)
    return np.allclose(now[finite], stored[finite], rtol=rtol, atol=rtol / 100 * scale)


def test_one_layer_results_identical_to_before():
    """init_params, unroll, hidden_grads, jacobian_norms and connectivity of one layer
    return the arrays they returned before networks were added (stored on another machine:
    to rounding, see `same_as_stored`; the bit-for-bit checks are those within one process,
    e.g. test_single_layer_is_the_one_by_one_network)."""
    before = one_layer_outputs.load()
    now = one_layer_outputs.one_layer_outputs()
    assert set(now) == set(before)
    different = [k for k in before if not same_as_stored(now[k], before[k])]
    assert not different, different


def test_same_as_stored_tells_rounding_from_change():
    """The fixture comparison passes a one-ulp difference and fails a real one, a moved
    NaN, an inf of the other sign or another dtype."""
    stored = np.array([1.0, -2.5e-3, 0.0, np.nan, np.inf, 3.0], np.float32)
    ulp = stored.copy()
    ulp[:2] = np.nextafter(stored[:2], np.float32(np.inf))
    assert same_as_stored(ulp, stored)
    changed = stored.copy()
    changed[1] *= 1.001
    moved_nan = stored.copy()
    moved_nan[[2, 3]] = [np.nan, 0.0]
    sign = stored.copy()
    sign[4] = -np.inf
    for bad in (changed, moved_nan, sign, stored.astype(np.float64)):
        assert not same_as_stored(bad, stored)


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
def test_single_layer_is_the_one_by_one_network(cell):
    """CellParams and Network(((params,),)) run the same code: the same arrays and shapes;
    layers=1 is the default draw, and a stack's layer 0 forward is that same draw."""
    key = jax.random.PRNGKey(30)
    params = rnnviz.init_params(key, cell, I, H)
    for a, b in zip(params, rnnviz.init_params(key, cell, I, H, layers=1, bidirectional=False)):
        np.testing.assert_array_equal(a, b)
    stack = rnnviz.init_params(key, cell, I, H, layers=2, bidirectional=True)
    for a, b in zip(params, stack.layers[0][0]):
        np.testing.assert_array_equal(a, b)
    assert stack.layers[1][0].w_ih.shape == (G[cell] * H, 2 * H)
    assert not np.array_equal(stack.layers[0][0].w_hh, stack.layers[0][1].w_hh)
    xs = inputs(31)
    loss = functools.partial(rnnviz.readout_loss, length=T, placement="all")
    one = Network(((params,),))
    for a, b in zip(jax.tree.leaves(rnnviz.unroll(cell, params, xs)),
                    jax.tree.leaves(rnnviz.unroll(cell, one, xs))):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(jax.tree.leaves(rnnviz.hidden_grads(cell, params, xs, loss)),
                    jax.tree.leaves(rnnviz.hidden_grads(cell, one, xs, loss))):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(jacobians.connectivity(cell, params, xs),
                                  jacobians.connectivity(cell, one, xs))


def test_network_arguments_are_checked():
    params = rnnviz.init_params(jax.random.PRNGKey(0), "gru", I, H, layers=2)
    xs = inputs(0)
    with pytest.raises(ValueError, match="layers must be an integer from 1 to 4"):
        rnnviz.init_params(jax.random.PRNGKey(0), "gru", I, H, layers=5)
    with pytest.raises(ValueError, match="layers must be an integer"):
        rnnviz.init_params(jax.random.PRNGKey(0), "gru", I, H, layers=0)
    bad = Network((params.layers[0], (params.layers[1][0]._replace(w_ih=params.layers[0][0].w_ih),)))
    with pytest.raises(ValueError, match=r"layer 1, forward: w_ih has shape \(12, 3\); expected \(12, 4\)"):
        rnnviz.unroll("gru", bad, xs)
    # Two directions over a one-way layer is a mixed stack (Keras builds them); three is not.
    assert rnnviz.unroll("gru", Network((params.layers[0], params.layers[1] * 2)), xs)[0].shape \
        == (T, B, 2 * H)
    with pytest.raises(ValueError, match="layer 1 has 3 directions; a layer has 1 or 2"):
        rnnviz.unroll("gru", Network((params.layers[0], params.layers[1] * 3)), xs)
    mixed = mixed_network("gru", (2, 1), (4, 3), seed=1)
    wrong = Network((mixed.layers[0], (mixed.layers[1][0]._replace(w_ih=jnp.zeros((9, 4))),)))
    with pytest.raises(ValueError, match=r"layer 1, forward: w_ih has shape \(9, 4\); expected \(9, 8\)"):
        rnnviz.unroll("gru", wrong, xs)
    with pytest.raises(ValueError, match=r"h0 must be None \(zeros\) for a network whose layers "
                       r"differ in directions \(2, 1\) or sizes \(4, 3\)"):
        rnnviz.unroll("gru", mixed, xs, jnp.zeros((3, B, 4), jnp.float32))
    with pytest.raises(ValueError, match=r"w_hh has shape \(12, 4\); a lstm of hidden size 4 needs"):
        rnnviz.unroll("lstm", params, xs)  # GRU weights run as an LSTM
    with pytest.raises(ValueError, match=r"h0 of a 2-layer network .* \(2, 2, 4\), got \(2, 4\)"):
        rnnviz.unroll("gru", params, xs, jnp.zeros((B, H), jnp.float32))
    with pytest.raises(ValueError, match="one unidirectional layer"):
        rnnviz.jacobian_norms("gru", params, xs)
    with pytest.raises(ValueError, match="reverse-mode connectivity"):
        jacobians.connectivity("gru", params, xs, mode="reverse")


# --- connectivity of a network --------------------------------------------------------------


def brute_force_connectivity(cell, params, xs):
    """RMS over b of ‖∂y_t[b]/∂x_s[b]‖_F from jax.jacrev of the whole network's output."""
    jacobian = jax.jit(jax.jacrev(lambda p, x: rnnviz.unroll(cell, p, x)[0], argnums=1))
    jac = np.asarray(jacobian(params, xs))  # (T, B, O, T, B, I)
    per_b = np.stack([jac[:, b, :, :, b, :] for b in range(xs.shape[1])])
    return np.sqrt(np.mean(np.sum(per_b**2, axis=(2, 4)), axis=0))


@pytest.mark.parametrize("cell, L, D", [(cell, 2, 2) for cell in CELLS]
                         + [("rnn", 2, 1), ("lstm", 2, 1), ("gru", 3, 2)])
def test_network_connectivity_matches_brute_force(cell, L, D):
    """‖∂y_t/∂x_s‖ of a stack equals jacrev of its output (float64): only s ≤ t for a
    unidirectional stack (NaN above), both triangles for a bidirectional one."""
    params = random_network(cell, L, D, seed=40 + L + D, dtype=jnp.float64)
    xs = inputs(41, T=6, dtype=jnp.float64)
    ref = brute_force_connectivity(cell, params, xs)
    got = jacobians.connectivity(cell, params, xs)
    upper = np.triu_indices(6, 1)
    if D == 1:
        assert np.all(ref[upper] == 0.0) and np.isnan(got[upper]).all()
        lower = np.tril_indices(6)
        np.testing.assert_allclose(10.0 ** got[lower], ref[lower], rtol=1e-10)
    else:  # both triangles (a dead relu path may be an exact zero, -inf here)
        assert (ref[upper] > 0).mean() > 0.5 and not np.isnan(got).any()
        np.testing.assert_allclose(10.0 ** got, ref, rtol=1e-10)
    if cell == "gru":  # sampling: the same values at the sampled steps
        steps = jacobians.sampled_steps(6, 4)
        np.testing.assert_allclose(jacobians.connectivity(cell, params, xs, stride=4),
                                   got[np.ix_(steps, steps)], rtol=1e-12)


@pytest.mark.parametrize("cell, directions, sizes", [("lstm", (2, 1), (4, 3)), ("rnn", (1, 2), (3, 2))])
def test_mixed_network_connectivity_matches_brute_force(cell, directions, sizes):
    """A mixed stack's ‖∂y_t/∂x_s‖ equals jacrev of its output: a backward direction in any
    layer, below or on top, fills both triangles."""
    net = mixed_network(cell, directions, sizes, seed=76, dtype=jnp.float64)
    xs = inputs(77, T=6, dtype=jnp.float64)
    ref = brute_force_connectivity(cell, net, xs)
    got = jacobians.connectivity(cell, net, xs)
    assert (ref[np.triu_indices(6, 1)] > 0).mean() > 0.5 and not np.isnan(got).any()
    np.testing.assert_allclose(10.0 ** got, ref, rtol=1e-10)


def test_bidirectional_connectivity_closed_form_far_below_float32(monkeypatch):
    """Zero inputs, tanh, a bidirectional layer with W_hh = ρ₁Q and W_ih = I under a layer
    reading y = ρ₂[Q₂h_fwd, Q₃h_bwd] (W_hh = 0): ‖∂y_t/∂x_s‖ = ρ₂ρ₁^|t−s|·√H for s ≠ t,
    √2·ρ₂√H at s = t, exact in log space far below float32 (1e-100), with sources chunked."""
    rho1, rho2, T_, H_ = 0.01, 0.5, 60, 3
    z = np.zeros(H_)
    eye = np.eye(H_)
    f32 = lambda *a: CellParams(*(jnp.asarray(x, jnp.float32) for x in a))  # noqa: E731
    layer1 = tuple(f32(eye, rho1 * orthogonal(H_, 5 + d), z, z) for d in range(2))
    w_fwd = rho2 * np.concatenate([orthogonal(H_, 7), np.zeros((H_, H_))], axis=1)
    w_bwd = rho2 * np.concatenate([np.zeros((H_, H_)), orthogonal(H_, 8)], axis=1)
    layer2 = (f32(w_fwd, np.zeros((H_, H_)), z, z), f32(w_bwd, np.zeros((H_, H_)), z, z))
    net = Network((layer1, layer2))
    # A chunk of 7 sources (not a divisor of 60): the padded chunk must not leak in.
    monkeypatch.setattr(jacobians, "CONNECTIVITY_CHUNK_BYTES", 7 * T_ * H_ * 1 * 2 * H_ * 4)
    programs.clear()
    got = jacobians.connectivity("rnn", net, jnp.zeros((T_, 1, H_), jnp.float32))
    t, s = np.meshgrid(np.arange(T_), np.arange(T_), indexing="ij")
    expected = np.abs(t - s) * np.log10(rho1) + np.log10(rho2) + 0.5 * np.log10(H_)
    expected[t == s] += 0.5 * np.log10(2.0)
    np.testing.assert_allclose(got, expected, atol=2e-4)
    assert got[T_ - 1, 0] < -110 and got[0, T_ - 1] < -110
    programs.clear()  # the next caller compiles with the real chunk size


# --- from_torch -----------------------------------------------------------------------------


def torch_state_dict(cell, L, D, seed, input_size=I, hidden_size=H):
    """Hand-made weights with torch's names and shapes for num_layers=L, bidirectional=D==2."""
    rng = np.random.default_rng(seed)
    k = 1 / np.sqrt(hidden_size)
    gh = G[cell] * hidden_size
    sd = {}
    for layer in range(L):
        for suffix in ("", "_reverse")[:D]:
            n_in = input_size if layer == 0 else D * hidden_size
            for name, shape in (("weight_ih", (gh, n_in)), ("weight_hh", (gh, hidden_size)),
                                ("bias_ih", (gh,)), ("bias_hh", (gh,))):
                sd[f"{name}_l{layer}{suffix}"] = rng.uniform(-k, k, shape).astype(np.float32)
    return sd


def torch_layers(sd, L, D):
    """The reference's layers[k][d] straight from the state_dict's names."""
    return [[tuple(sd[f"{n}_l{k}{s}"] for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))
             for s in ("", "_reverse")[:D]] for k in range(L)]


@pytest.mark.parametrize("cell", CELLS)
def test_from_torch_stack_matches_reference(cell):
    """A 2-layer bidirectional state_dict gives the reference's output, = torch's `output`."""
    sd = torch_state_dict(cell, 2, 2, seed=50)
    params = rnnviz.from_torch(cell, sd)
    assert isinstance(params, Network) and (params.num_layers, params.num_directions) == (2, 2)
    xs = inputs(51)
    ref, _, _ = reference_stack(cell, torch_layers(sd, 2, 2), xs)
    np.testing.assert_allclose(rnnviz.unroll(cell, params, xs)[0], ref, rtol=2e-5, atol=2e-6)
    assert isinstance(rnnviz.from_torch(cell, torch_state_dict(cell, 1, 1, seed=52)), CellParams)


def test_layout_mistakes_change_the_output():
    """The comparisons above can fail: a swapped direction, a transposed square W_hh, or
    Keras's GRU gate order left unconverted each move the output far beyond the tolerance."""
    sd = torch_state_dict("rnn", 2, 2, seed=53, input_size=H)
    layers = torch_layers(sd, 2, 2)
    xs = inputs(54, I=H)
    ref, _, _ = reference_stack("rnn", layers, xs)
    right = rnnviz.from_torch("rnn", sd)
    np.testing.assert_allclose(rnnviz.unroll("rnn", right, xs)[0], ref, rtol=2e-5, atol=2e-6)
    swapped = Network(tuple(layer[::-1] for layer in right.layers))
    p = right.layers[1][0]
    transposed = Network((right.layers[0], (p._replace(w_hh=p.w_hh.T), right.layers[1][1])))
    for wrong in (swapped, transposed):
        assert np.max(np.abs(rnnviz.unroll("rnn", wrong, xs)[0] - ref)) > 1e-2
    # Keras's GRU blocks are z, r, h; reading them as PyTorch's r, z, n is another network.
    weights = keras_weights("gru", 1, 1, seed=55)
    x = np.asarray(inputs(56)).transpose(1, 0, 2)
    want = reference_keras("gru", weights, x)
    kernel, recurrent, bias = weights[0]
    unconverted = CellParams(kernel.T, recurrent.T, bias[0], bias[1])
    got = np.asarray(rnnviz.unroll("gru", unconverted, x.transpose(1, 0, 2))[0]).transpose(1, 0, 2)
    assert np.max(np.abs(got - want)) > 1e-2


def test_from_torch_names_and_shapes_are_checked():
    sd = torch_state_dict("lstm", 2, 2, seed=57)
    with pytest.raises(ValueError, match="needs the key weight_hh_l1_reverse"):
        rnnviz.from_torch("lstm", {k: v for k, v in sd.items() if k != "weight_hh_l1_reverse"})
    with pytest.raises(ValueError, match="needs the key weight_ih_l1"):
        rnnviz.from_torch("lstm", {k: v for k, v in sd.items() if not k.endswith("_l1")})
    with pytest.raises(ValueError, match=r"unexpected names in the state_dict: rnn\.weight_ih_l0"):
        rnnviz.from_torch("lstm", {**sd, "rnn.weight_ih_l0": sd["weight_ih_l0"]})
    with pytest.raises(ValueError, match="unexpected names in the state_dict: weight_hr_l0"):
        rnnviz.from_torch("lstm", {**sd, "weight_hr_l0": sd["weight_hh_l0"]})
    with pytest.raises(ValueError, match=r"weight_ih_l1 has shape \(16, 4\); expected \(16, 8\)"):
        rnnviz.from_torch("lstm", {**sd, "weight_ih_l1": sd["weight_ih_l1"][:, :4]})
    with pytest.raises(ValueError, match=r"weight_hh_l1_reverse has shape \(16, 3\)"):
        rnnviz.from_torch("lstm", {**sd, "weight_hh_l1_reverse": sd["weight_hh_l1_reverse"][:, :3]})
    with pytest.raises(ValueError, match="bias_ih_l0_reverse has shape"):
        rnnviz.from_torch("lstm", {**sd, "bias_ih_l0_reverse": sd["bias_ih_l0"][:3]})
    with pytest.raises(ValueError, match="5 recurrent layers; rnnviz shows 1 to 4"):
        rnnviz.from_torch("rnn", torch_state_dict("rnn", 5, 1, seed=58))
    nan = sd["weight_hh_l0"].copy()
    nan[0, 0] = np.nan
    with pytest.raises(ValueError, match="weight_hh_l0 holds inf or NaN"):
        rnnviz.from_torch("lstm", {**sd, "weight_hh_l0": nan})


# --- from_keras -----------------------------------------------------------------------------


def keras_weights(cell, L, D, seed, input_size=I, hidden_size=H):
    """Hand-made get_weights() lists in Keras's layout: kernel (in, G·H), recurrent_kernel
    (H, G·H), bias (G·H,) or the GRU's (2, G·H); a Bidirectional layer's 6 arrays."""
    rng = np.random.default_rng(seed)
    gh = G[cell] * hidden_size
    bias_shape = (2, gh) if cell == "gru" else (gh,)
    layers = []
    for k in range(L):
        n_in = input_size if k == 0 else D * hidden_size
        arrays = []
        for _ in range(D):
            arrays += [rng.uniform(-0.6, 0.6, shape).astype(np.float32)
                       for shape in ((n_in, gh), (hidden_size, gh), bias_shape)]
        layers.append(arrays)
    return layers


@pytest.mark.parametrize("cell, L, D", [(cell, L, D) for cell in CELLS for L, D in ((1, 1), (2, 2))]
                         + [("gru", 3, 1)])
def test_from_keras_matches_keras_equations(cell, L, D):
    """Keras-layout weights (kernels transposed, gate orders i,f,c,o and z,r,h, the GRU's
    two bias rows, SimpleRNN's one bias) give Keras's output, computed batch-major by the
    reference in Keras's own layout."""
    weights = keras_weights(cell, L, D, seed=60 + 10 * L + D)
    params = rnnviz.from_keras(cell, weights[0] if L == 1 else weights)
    assert isinstance(params, CellParams if L == D == 1 else Network)
    x = np.asarray(inputs(61)).transpose(1, 0, 2)  # Keras: (B, T, I)
    want = reference_keras(cell, weights, x)
    got = rnnviz.unroll(cell, params, x.transpose(1, 0, 2))[0]  # rnnviz: (T, B, I)
    np.testing.assert_allclose(np.asarray(got).transpose(1, 0, 2), want, rtol=2e-5, atol=2e-6)


def test_from_keras_checks_what_it_reads():
    weights = keras_weights("gru", 2, 2, seed=62)
    with pytest.raises(ValueError, match="reset_after=False, another model"):
        rnnviz.from_keras("gru", [weights[0][:2] + [weights[0][2][0]] + weights[0][3:]])
    with pytest.raises(ValueError, match=r"layer 1 \(forward\): kernel has shape \(4, 12\); expected \(8, 12\)"):
        rnnviz.from_keras("gru", [weights[0], [weights[1][0][:4]] + weights[1][1:]])
    with pytest.raises(ValueError, match="recurrent_kernel has shape \\(4, 12\\); a lstm needs"):
        rnnviz.from_keras("lstm", weights)
    # a one-way layer over a Bidirectional one is a mixed stack, as Keras builds it
    mixed = rnnviz.from_keras("gru", [weights[0], weights[1][:3]])
    assert (mixed.directions, mixed.hidden_sizes) == ((2, 1), (H, H))
    with pytest.raises(ValueError, match=r"layer 1: kernel has shape \(4, 12\); expected \(8, 12\)"):
        rnnviz.from_keras("gru", [weights[0], [weights[1][0][:4]] + weights[1][1:3]])
    with pytest.raises(ValueError, match=r"layer 0 \(backward\): recurrent_kernel has shape "
                       r"\(3, 9\), hidden size 3; its forward direction has 4"):
        rnnviz.from_keras("gru", [weights[0][:3] + keras_weights("gru", 1, 1, 0, hidden_size=3)[0]])
    with pytest.raises(ValueError, match="expected 3 arrays"):
        rnnviz.from_keras("gru", [weights[0][:1]])
    with pytest.raises(ValueError, match="unknown cell"):
        rnnviz.from_keras("GRU", weights)


@pytest.mark.parametrize("cell", CELLS)
def test_from_keras_mixed_stack_matches_keras_equations(cell):
    """Keras's Bidirectional(…, return_sequences=True) of 4 units under a one-way layer of 3:
    the second layer's kernel reads 8 numbers; the output equals the Keras-layout reference."""
    weights = [keras_weights(cell, 1, 2, seed=78)[0],
               keras_weights(cell, 1, 1, seed=79, input_size=2 * H, hidden_size=3)[0]]
    net = rnnviz.from_keras(cell, weights)
    assert (net.directions, net.hidden_sizes) == ((2, 1), (H, 3))
    x = np.asarray(inputs(80)).transpose(1, 0, 2)
    got = rnnviz.unroll(cell, net, x.transpose(1, 0, 2))[0]
    np.testing.assert_allclose(np.asarray(got).transpose(1, 0, 2),
                               reference_keras(cell, weights, x), rtol=2e-5, atol=2e-6)


@pytest.mark.parametrize("cell", ["rnn_relu", "lstm", "gru"])
def test_from_keras_reproduces_a_real_keras_model(cell):
    """A Keras 3 model (JAX backend) of two stacked Bidirectional layers, weights set by hand:
    rnnviz's output on the transposed inputs equals model.predict."""
    os.environ.setdefault("KERAS_BACKEND", "jax")
    keras = pytest.importorskip("keras")
    if keras.backend.backend() != "jax":
        pytest.skip("Keras runs on another backend here")
    layer = {"rnn": lambda: keras.layers.SimpleRNN(H, return_sequences=True),
             "rnn_relu": lambda: keras.layers.SimpleRNN(H, activation="relu", return_sequences=True),
             "lstm": lambda: keras.layers.LSTM(H, return_sequences=True),
             "gru": lambda: keras.layers.GRU(H, return_sequences=True)}[cell]
    model = keras.Sequential([keras.Input((T, I)), keras.layers.Bidirectional(layer()),
                              keras.layers.Bidirectional(layer())])
    weights = keras_weights(cell, 2, 2, seed=63)
    for keras_layer, arrays in zip(model.layers, weights):
        keras_layer.set_weights(arrays)
    weights = [keras_layer.get_weights() for keras_layer in model.layers]
    x = np.asarray(inputs(64)).transpose(1, 0, 2)
    want = np.asarray(model.predict(x, verbose=0))
    got = rnnviz.unroll(cell, rnnviz.from_keras(cell, weights), x.transpose(1, 0, 2))[0]
    np.testing.assert_allclose(np.asarray(got).transpose(1, 0, 2), want, rtol=1e-4, atol=1e-5)


def orthogonal(n, seed):
    q, r = np.linalg.qr(np.random.default_rng(seed).standard_normal((n, n)))
    return q * np.sign(np.diag(r))
