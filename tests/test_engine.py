"""Numerical tests of the rnnviz engine: cells, unroll, exact gradient flow, init, tasks.

Every cell is checked against an independent NumPy float64 implementation of its equations
(tests/reference.py), gradients against finite differences and against per-step jax.grad
calls, and the Jacobian profile against the closed forms of REFERENCES.md far below float32's
range (values of 1e-90 must come out exact: the profile is computed in log space).
"""
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

import rnnviz
from rnnviz.engine import bptt
from rnnviz.engine.cells import GATE_OUTPUTS, STEPS, CellParams
from rnnviz.engine.init import SCHEMES

try:
    from reference import reference_stack, reference_unroll
except ImportError:  # tests/ imported as a package
    from tests.reference import reference_stack, reference_unroll

CELLS = rnnviz.CELLS
# Fused gate blocks per cell, restated here (PyTorch layout) rather than imported.
G = {"rnn": 1, "rnn_relu": 1, "lstm": 4, "gru": 3}
F32_MAX = float(np.finfo(np.float32).max)
# One small shape for most tests, so jit-compiled programs are shared between them.
SMALL = (6, 2, 3, 4)  # T, B, I, H


# --- helpers --------------------------------------------------------------------------------


def key(seed):
    return jax.random.PRNGKey(seed)


def random_params(cell, seed, input_size=3, hidden_size=4, scheme="pytorch", **kw):
    """float32 params from init_params, with independent random biases in b_ih and b_hh.

    Non-PyTorch schemes zero the biases; random ones make the tests see where each bias
    enters (e.g. the GRU's b_hn sits inside r ⊙ (W_hn h + b_hn), b_in outside).
    """
    p = rnnviz.init_params(key(seed), cell, input_size, hidden_size, scheme=scheme, **kw)
    rng = np.random.default_rng(seed + 1000)
    return p._replace(
        b_ih=jnp.asarray(rng.uniform(-0.5, 0.5, p.b_ih.shape), jnp.float32),
        b_hh=jnp.asarray(rng.uniform(-0.5, 0.5, p.b_hh.shape), jnp.float32),
    )


@functools.lru_cache(maxsize=None)
def readout(length, placement="last"):
    """The same partial object per (length, placement): hidden_grads' jit keys on loss_fn identity."""
    return functools.partial(rnnviz.readout_loss, length=length, placement=placement)


def as_f64(params):
    return CellParams(*(jnp.asarray(np.asarray(a), jnp.float64) for a in params))


def as_np(params):
    return [np.asarray(a, np.float64) for a in params]


def random_inputs(seed, T, B, I, H, scale=1.0):
    """float32 xs (T, B, I) and a nonzero float32 h0 (B, H)."""
    rng = np.random.default_rng(seed)
    xs = jnp.asarray(scale * rng.standard_normal((T, B, I)), jnp.float32)
    h0 = jnp.asarray(0.5 * rng.standard_normal((B, H)), jnp.float32)
    return xs, h0


def rollout(cell, params, xs, t, carry):
    """h_t, …, h_{T−1} recomputed with a plain loop of step functions from the state at t."""
    step = STEPS[cell]
    hs = [carry[0]]
    for s in range(t + 1, xs.shape[0]):
        carry, _ = step(params, carry, xs[s])
        hs.append(carry[0])
    return jnp.stack(hs)


def orthogonal(H, seed):
    q, r = np.linalg.qr(np.random.default_rng(seed).standard_normal((H, H)))
    return q * np.sign(np.diag(r))


def sigmoid(a):
    return 1.0 / (1.0 + np.exp(-np.asarray(a, np.float64)))


# --- 1-3. Forward pass ----------------------------------------------------------------------


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("cell", CELLS)
def test_unroll_matches_numpy_reference(cell, scheme):
    """unroll's hs and every gate equal the NumPy float64 equations (float32 tolerance)."""
    T, B, I, H = 10, 3, 3, 4
    params = random_params(cell, 1, I, H, scheme=scheme)
    xs, h0 = random_inputs(2, T, B, I, H)
    hs, gates = rnnviz.unroll(cell, params, xs, h0)
    ref_hs, ref_gates = reference_unroll(cell, *as_np(params), xs, h0)
    assert hs.shape == (T, B, H) and hs.dtype == jnp.float32
    assert set(gates) == set(ref_gates) == set(GATE_OUTPUTS[cell])
    scale = max(1.0, np.abs(ref_hs).max())
    np.testing.assert_allclose(hs, ref_hs, rtol=2e-5, atol=2e-6 * scale)
    for name, ref in ref_gates.items():
        assert gates[name].shape == (T, B, H)
        np.testing.assert_allclose(gates[name], ref, rtol=2e-5, atol=2e-6 * max(1.0, np.abs(ref).max()))


@pytest.mark.parametrize("cell", CELLS)
def test_unroll_default_h0_is_zeros(cell):
    """h0=None means a zero start state (and c0 = 0 for the LSTM), as in PyTorch."""
    T, B, I, H = SMALL
    params = random_params(cell, 3, I, H)
    xs, _ = random_inputs(4, T, B, I, H)
    hs, _ = rnnviz.unroll(cell, params, xs)
    ref_hs, _ = reference_unroll(cell, *as_np(params), xs)
    np.testing.assert_allclose(hs, ref_hs, rtol=2e-5, atol=2e-6)
    hs_zero, _ = rnnviz.unroll(cell, params, xs, jnp.zeros((B, H), jnp.float32))
    np.testing.assert_array_equal(hs, hs_zero)


@pytest.mark.parametrize("cell", CELLS)
def test_scan_unroll_matches_python_loop(cell):
    """The lax.scan unroll equals a plain Python loop over STEPS[cell], outputs and gates."""
    T, B, I, H = SMALL
    params = random_params(cell, 5, I, H)
    xs, h0 = random_inputs(6, T, B, I, H)
    hs, gates = rnnviz.unroll(cell, params, xs, h0)
    carry = (h0, jnp.zeros_like(h0)) if cell == "lstm" else (h0,)
    loop_outs = []
    for t in range(T):
        carry, out = STEPS[cell](params, carry, xs[t])
        loop_outs.append(out)
    np.testing.assert_allclose(hs, np.stack([o["h"] for o in loop_outs]), rtol=1e-6, atol=1e-6)
    for name in GATE_OUTPUTS[cell]:
        np.testing.assert_allclose(
            gates[name], np.stack([o[name] for o in loop_outs]), rtol=1e-6, atol=1e-6
        )


def test_unknown_cell_and_bad_arguments_raise():
    """Unknown cells, norms and loss placements are refused with a ValueError naming the choices."""
    params = random_params("rnn", 0)
    xs = jnp.zeros((3, 1, 3), jnp.float32)
    with pytest.raises(ValueError, match="unknown cell 'elman'.*rnn, rnn_relu, lstm, gru"):
        rnnviz.unroll("elman", params, xs)
    with pytest.raises(ValueError, match="ord"):
        rnnviz.jacobian_norms("rnn", params, xs, ord=1)
    with pytest.raises(ValueError, match="placement"):
        rnnviz.readout_loss(jnp.zeros((3, 1, 5)), 3, placement="first")


def test_readout_loss_values():
    """readout_loss is Σ_b Σ_j h_t[b, j]/√H at step length−1 ("last") or over t < length ("all")."""
    hs = np.random.default_rng(0).standard_normal((7, 3, 4))
    per_step = hs.sum(axis=(1, 2)) / 2.0  # √H = 2
    assert float(rnnviz.readout_loss(jnp.asarray(hs), 7, "last")) == pytest.approx(per_step[6])
    assert float(rnnviz.readout_loss(jnp.asarray(hs), 5, "last")) == pytest.approx(per_step[4])
    assert float(rnnviz.readout_loss(jnp.asarray(hs), 5, "all")) == pytest.approx(per_step[:5].sum())


# --- 4. Finite differences (float64) --------------------------------------------------------


@pytest.mark.parametrize("cell", CELLS)
def test_step_gradients_match_finite_differences(cell):
    """Reverse-mode derivatives of one step (new carry and every gate) w.r.t. params, state and x,
    in float64. (Order 2 would double this test's time and nothing here uses second derivatives.)"""
    B, I, H = 2, 3, 4
    params = as_f64(random_params(cell, 7, I, H))
    rng = np.random.default_rng(8)
    h, c, x = (jnp.asarray(rng.standard_normal(s), jnp.float64) for s in ((B, H), (B, H), (B, I)))
    step = STEPS[cell]
    if cell == "lstm":
        check_grads(jax.jit(lambda p, h, c, x: step(p, (h, c), x)), (params, h, c, x), order=1, modes=["rev"])
    else:
        check_grads(jax.jit(lambda p, h, x: step(p, (h,), x)), (params, h, x), order=1, modes=["rev"])


def _unroll_loss(cell, params, xs, h0):
    hs, gates = rnnviz.unroll(cell, params, xs, h0)
    return jnp.sum(jnp.sin(hs) * jnp.arange(1, hs.shape[0] + 1)[:, None, None]) + sum(
        jnp.sum(g**2) for g in gates.values()
    )


@pytest.mark.parametrize("cell", CELLS)
def test_unroll_loss_gradients_match_finite_differences(cell):
    """Gradients of a loss on a whole unroll (hs and gates) w.r.t. params, xs and h0, in float64."""
    T, B, I, H = SMALL
    params = as_f64(random_params(cell, 9, I, H))
    xs, h0 = random_inputs(10, T, B, I, H)
    xs, h0 = jnp.asarray(xs, jnp.float64), jnp.asarray(h0, jnp.float64)
    check_grads(functools.partial(_unroll_loss, cell), (params, xs, h0), order=1, modes=["rev"])


# --- 5. One-pass hidden_grads against T separate jax.grad calls -----------------------------


def sum_of_squares(hs):
    return jnp.sum(hs**2)


LOSSES = {
    "last": lambda T: readout(T, "last"),
    "all": lambda T: readout(T, "all"),
    "squares": lambda T: sum_of_squares,
}


@pytest.mark.parametrize("loss_name", list(LOSSES))
@pytest.mark.parametrize("cell", CELLS)
def test_hidden_grads_equal_separate_grads_per_step(cell, loss_name):
    """grads["h"][t] = dL/dh_t with steps t+1… recomputed (LSTM: c_t held); grads["c"][t] =
    dL/dc_t with h_t = o_t·tanh(c_t) and everything after recomputed; one jax.grad per t."""
    T, B, I, H = SMALL
    params = random_params(cell, 11, I, H, scheme="glorot", gain=1.3)
    xs, h0 = random_inputs(12, T, B, I, H)
    loss_fn = LOSSES[loss_name](T)
    grads = rnnviz.hidden_grads(cell, params, xs, loss_fn, h0)
    assert set(grads) == ({"h", "c"} if cell == "lstm" else {"h"})
    want = separate_grads(cell, params, xs, h0, loss_fn)
    assert np.abs(want["h"]).max(axis=(1, 2)).min() > 1e-4  # no step compares 0 with 0
    for name in grads:
        np.testing.assert_allclose(grads[name], want[name], rtol=1e-4, atol=1e-6)


def separate_grads(cell, params, xs, h0, loss_fn):
    """T separate jax.grad calls, one per step t: the loss as a function of h_t alone with steps t+1… recomputed by rollout (LSTM: c_t held),
    and for the LSTM of c_t alone with h_t = o_t·tanh(c_t) and everything after recomputed."""
    hs, gates = rnnviz.unroll(cell, params, xs, h0)

    def loss_from(t, carry):
        return loss_fn(jnp.concatenate([hs[:t], rollout(cell, params, xs, t, carry)]))

    want = {"h": [], "c": []}
    for t in range(xs.shape[0]):
        if cell == "lstm":
            c_t, o_t = gates["c"][t], gates["o"][t]
            want["h"].append(jax.grad(lambda h: loss_from(t, (h, c_t)))(hs[t]))
            want["c"].append(jax.grad(lambda c: loss_from(t, (o_t * jnp.tanh(c), c)))(c_t))
        else:
            want["h"].append(jax.grad(lambda h: loss_from(t, (h,)))(hs[t]))
    return {k: jnp.stack(v) for k, v in want.items() if v}


@pytest.mark.parametrize("cell", CELLS)
def test_hidden_grads_with_padding_equal_unpadded(cell):
    """With readout_loss(length=L), garbage inputs past L change nothing at t < L and give 0 after."""
    L, B, I, H = SMALL
    T = L + 4
    params = random_params(cell, 13, I, H)
    xs, h0 = random_inputs(14, L, B, I, H)
    garbage = jnp.asarray(5.0 * np.random.default_rng(15).standard_normal((T - L, B, I)), jnp.float32)
    padded = jnp.concatenate([xs, garbage])
    for placement in ("last", "all"):
        short = rnnviz.hidden_grads(
            cell, params, xs, readout(L, placement), h0
        )
        long = rnnviz.hidden_grads(
            cell, params, padded, readout(L, placement), h0
        )
        for name in short:
            np.testing.assert_allclose(long[name][:L], short[name], rtol=1e-6, atol=1e-7)
            np.testing.assert_array_equal(long[name][L:], 0.0)


# --- 6. Closed forms of REFERENCES.md, far below float32's range ---------------------------


def vanilla_orthogonal_params(rho, I, H, seed):
    """tanh RNN with W_hh = ρQ (Q orthogonal), zero biases; W_ih random (inputs will be 0)."""
    rng = np.random.default_rng(seed)
    return CellParams(
        jnp.asarray(rng.standard_normal((H, I)), jnp.float32),
        jnp.asarray(rho * orthogonal(H, seed), jnp.float32),
        jnp.zeros((H,), jnp.float32),
        jnp.zeros((H,), jnp.float32),
    )


@pytest.mark.parametrize("rho, T", [(0.75, 256), (0.5, 300)])
def test_closed_form_vanilla_orthogonal_profile(rho, T):
    """Zero inputs/biases/h0, W_hh = ρQ: ‖∂h_{T−1}/∂h_t‖₂ = ρ^(T−1−t), Frobenius ρ^(T−1−t)·√H,
    to 1e-4 relative at every t, including 1e-31 (ρ=0.75) and 1e-90 (ρ=0.5)."""
    B, I, H = 2, 3, 16
    params = vanilla_orthogonal_params(rho, I, H, seed=20)
    xs = jnp.zeros((T, B, I), jnp.float32)
    expected = rho ** np.arange(T - 1, -1, -1, dtype=np.float64)
    assert expected[0] < 1e-30
    spectral = rnnviz.jacobian_norms("rnn", params, xs, ord=2)
    frob = rnnviz.jacobian_norms("rnn", params, xs, ord="fro")
    assert spectral.shape == (T, B) and spectral.dtype == np.float64
    np.testing.assert_allclose(spectral, np.broadcast_to(expected[:, None], (T, B)), rtol=1e-4)
    np.testing.assert_allclose(frob, np.broadcast_to(expected[:, None] * np.sqrt(H), (T, B)), rtol=1e-4)


def test_closed_form_vanilla_orthogonal_hidden_grads():
    """Same network, "last" readout (unit-norm v): ‖∂L/∂h_t‖ = ρ^(T−1−t) per sequence, checked to
    1e-4 relative wherever the value is >= 1e-30 (float32 gradients; values reach 1e-25 and below)."""
    rho, T, B, I, H = 0.75, 256, 2, 3, 16
    params = vanilla_orthogonal_params(rho, I, H, seed=21)
    xs = jnp.zeros((T, B, I), jnp.float32)
    loss = readout(T, "last")
    grads = rnnviz.hidden_grads("rnn", params, xs, loss)
    norms = bptt.per_step_norms(grads["h"])
    expected = rho ** np.arange(T - 1, -1, -1, dtype=np.float64)
    checked = expected >= 1e-30
    assert expected[checked].min() < 1e-29 and checked.sum() > 230
    np.testing.assert_allclose(norms[checked], expected[checked], rtol=1e-4)
    # Each sequence separately, not only the batch RMS.
    per_seq = np.linalg.norm(np.asarray(grads["h"], np.float64), axis=2)
    np.testing.assert_allclose(per_seq[checked], np.broadcast_to(expected[checked, None], (checked.sum(), B)), rtol=1e-4)


@pytest.mark.parametrize("b_z", [0.3, 1.5])
def test_closed_form_gru_zero_weights(b_z):
    """GRU, all weights zero, update bias b_z: z ≡ σ(b_z) and ∂h_{T−1}/∂h_t = σ(b_z)^(T−1−t)·I, so
    the ord=2 profile is σ(b_z)^(T−1−t) (down to 1e-72) and the "last"-readout gradient norm too."""
    T, B, I, H = 300, 2, 3, 8
    rng = np.random.default_rng(22)
    b_ih = rng.uniform(-1, 1, 3 * H)
    b_hh = rng.uniform(-1, 1, 3 * H)
    b_ih[H:2 * H], b_hh[H:2 * H] = b_z, 0.0
    params = CellParams(
        jnp.zeros((3 * H, I), jnp.float32), jnp.zeros((3 * H, H), jnp.float32),
        jnp.asarray(b_ih, jnp.float32), jnp.asarray(b_hh, jnp.float32),
    )
    xs, h0 = random_inputs(23, T, B, I, H)
    _, gates = rnnviz.unroll("gru", params, xs, h0)
    np.testing.assert_allclose(gates["z"], sigmoid(np.float32(b_z)), rtol=1e-6)
    z = float(np.asarray(gates["z"], np.float64)[0, 0, 0])  # the float32 z actually used
    expected = z ** np.arange(T - 1, -1, -1, dtype=np.float64)
    assert expected[0] < 1e-25
    profile = rnnviz.jacobian_norms("gru", params, xs, h0, ord=2)
    np.testing.assert_allclose(profile, np.broadcast_to(expected[:, None], (T, B)), rtol=1e-4)
    frob = rnnviz.jacobian_norms("gru", params, xs, h0, ord="fro")
    np.testing.assert_allclose(frob, np.broadcast_to(expected[:, None] * np.sqrt(H), (T, B)), rtol=1e-4)
    grads = rnnviz.hidden_grads(
        "gru", params, xs, readout(T, "last"), h0
    )
    checked = expected >= 1e-30
    np.testing.assert_allclose(bptt.per_step_norms(grads["h"])[checked], expected[checked], rtol=1e-4)


def test_closed_form_lstm_constant_error_carousel():
    """LSTM, all weights zero, b_g = 0: c ≡ 0, and along the cell path ∂c_{T−1}/∂c_t = σ(b_f)^(T−1−t),
    so grads["c"][t] / grads["c"][T−1] = σ(b_f)^(T−1−t), checked to 1e-4 down to ~1e-28.

    With W_hh = 0, h_t feeds nothing, so grads["h"][t] = 0 for t < T−1 and the h-profile (c held)
    is exactly 0 there; grads["c"][T−1] = v·o·tanh'(0) = o/√H.
    """
    T, B, I, H = 200, 2, 3, 8
    b_f = 0.96  # σ(b_f)^199 ≈ 1e-28: below 1e-25, still a normal float32
    b_i, b_g, b_o = 0.7, 0.0, 0.5
    b_ih = np.repeat([b_i, b_f, b_g, b_o], H)
    params = CellParams(
        jnp.zeros((4 * H, I), jnp.float32), jnp.zeros((4 * H, H), jnp.float32),
        jnp.asarray(b_ih, jnp.float32), jnp.zeros((4 * H,), jnp.float32),
    )
    xs, _ = random_inputs(24, T, B, I, H)
    hs, gates = rnnviz.unroll("lstm", params, xs)
    np.testing.assert_array_equal(gates["c"], 0.0)
    np.testing.assert_array_equal(hs, 0.0)
    np.testing.assert_allclose(gates["f"], sigmoid(np.float32(b_f)), rtol=1e-6)
    f = float(np.asarray(gates["f"], np.float64)[0, 0, 0])
    o = float(np.asarray(gates["o"], np.float64)[0, 0, 0])
    expected = f ** np.arange(T - 1, -1, -1, dtype=np.float64)
    assert 1e-30 < expected[0] < 1e-25

    grads = rnnviz.hidden_grads(
        "lstm", params, xs, readout(T, "last")
    )
    gc = np.asarray(grads["c"], np.float64)
    np.testing.assert_allclose(gc[-1], o / np.sqrt(H), rtol=1e-6)
    ratio = gc / gc[-1]
    np.testing.assert_allclose(ratio, np.broadcast_to(expected[:, None, None], gc.shape), rtol=1e-4)
    np.testing.assert_array_equal(np.asarray(grads["h"])[:-1], 0.0)
    profile = rnnviz.jacobian_norms("lstm", params, xs, ord=2)
    np.testing.assert_array_equal(profile[:-1], 0.0)
    np.testing.assert_allclose(profile[-1], 1.0)


# --- 7. Jacobian profile against brute force; padding ---------------------------------------


def jacobians_by_jacrev(cell, params, xs, h0):
    """(T, B, H, H): ∂h_{T−1}/∂h_t per t and sequence, from one jax.jacrev over a Python-loop
    unroll in which a perturbation is added to each h_t after its step (the LSTM's c_t untouched)."""
    T, B = xs.shape[:2]
    H = h0.shape[1]

    def last_h(eps):  # eps (T, B, H)
        carry = (h0, jnp.zeros_like(h0)) if cell == "lstm" else (h0,)
        for t in range(T):
            carry, _ = STEPS[cell](params, carry, xs[t])
            carry = (carry[0] + eps[t],) + carry[1:]
        return carry[0]

    J = np.asarray(jax.jit(jax.jacrev(last_h))(jnp.zeros((T, B, H), xs.dtype)))  # (B, H, T, B, H)
    out = np.zeros((T, B, H, H))
    for b in range(B):
        np.testing.assert_array_equal(np.delete(J[b], b, axis=2), 0.0)  # sequences do not interact
        out[:, b] = np.moveaxis(J[b, :, :, b, :], 1, 0)
    return out


def small_jacobian_case(cell, seed):
    T, B, I, H = SMALL
    params = random_params(cell, seed, I, H, scheme="glorot", gain=1.4)
    xs, h0 = random_inputs(seed + 1, T, B, I, H)
    return params, xs, h0


@pytest.mark.parametrize("cell", CELLS)
def test_jacobian_profile_matches_jacrev(cell):
    """jacobian_norms (float32, both ords) equals the norms of ∂h_{T−1}/∂h_t from jax.jacrev over
    the whole unroll in float64 (LSTM: c_t held), per sequence."""
    params, xs, h0 = small_jacobian_case(cell, 30)
    J = jacobians_by_jacrev(cell, as_f64(params), jnp.asarray(xs, jnp.float64), jnp.asarray(h0, jnp.float64))
    assert np.linalg.norm(J, 2, axis=(2, 3)).min() > 1e-4
    for ord in ("fro", 2):
        profile = rnnviz.jacobian_norms(cell, params, xs, h0, ord=ord)
        np.testing.assert_allclose(profile, np.linalg.norm(J, ord, axis=(2, 3)), rtol=1e-4)


@pytest.mark.parametrize("cell", CELLS)
def test_jacobian_profile_matches_finite_differences_of_reference(cell):
    """Independent of JAX autodiff: central differences of the NumPy float64 reference (perturb
    h_t, hold c_t, rerun the rest) give the same ‖∂h_{T−1}/∂h_t‖ as jacobian_norms."""
    params, xs, h0 = small_jacobian_case(cell, 32)
    T, B, _, H = SMALL
    w = as_np(params)
    hs, gates = reference_unroll(cell, *w, xs, h0)
    c = gates.get("c")
    eps = 1e-6
    J = np.zeros((T, B, H, H))
    J[T - 1] = np.eye(H)
    for t in range(T - 1):
        for j in range(H):
            d = np.zeros((B, H))
            d[:, j] = eps  # sequences are independent: perturb unit j of every sequence at once
            up = reference_unroll(cell, *w, xs[t + 1:], hs[t] + d, None if c is None else c[t])[0][-1]
            down = reference_unroll(cell, *w, xs[t + 1:], hs[t] - d, None if c is None else c[t])[0][-1]
            J[t, :, :, j] = (up - down) / (2 * eps)
    for ord in ("fro", 2):
        profile = rnnviz.jacobian_norms(cell, params, xs, h0, ord=ord)
        np.testing.assert_allclose(profile, np.linalg.norm(J, ord, axis=(2, 3)), rtol=1e-4)


# Each cell once; the norm only enters at the end, so the two ords alternate over the cells.
@pytest.mark.parametrize("cell, ord", [("rnn", "fro"), ("rnn_relu", 2), ("lstm", 2), ("gru", "fro")])
def test_padded_jacobian_profile_equals_unpadded(cell, ord):
    """jacobian_log10_norms with garbage (huge values, NaN) past `length` equals the unpadded
    profile on the first `length` steps, and is -inf on the padding."""
    L, B, I, H = SMALL
    T = L + 4
    params, xs, _ = small_jacobian_case(cell, 30)
    garbage = 1e3 * np.random.default_rng(36).standard_normal((T - L, B, I))
    garbage[1, 0, 0] = np.nan
    padded = jnp.concatenate([xs, jnp.asarray(garbage, jnp.float32)])
    logs = np.asarray(bptt.jacobian_log10_norms(cell, params, padded, None, L, ord))
    with np.errstate(divide="ignore"):  # an exact 0 (dead relu path) is -inf in both
        want = np.log10(rnnviz.jacobian_norms(cell, params, xs, ord=ord))
    assert logs.shape == (T, B)
    np.testing.assert_allclose(logs[:L], want, rtol=0, atol=1e-5)
    assert np.all(np.isneginf(logs[L:]))


# --- 8. Pascanu's bound ---------------------------------------------------------------------


@pytest.mark.parametrize("cell, scheme, gain", [
    ("rnn", "pytorch", 1.0), ("rnn", "glorot", 1.5), ("rnn_relu", "he", 1.0), ("rnn_relu", "orthogonal", 1.2),
])
def test_pascanu_bound_holds(cell, scheme, gain):
    """‖∂h_{T−1}/∂h_t‖₂ <= (γλ₁)^(T−1−t) (Pascanu et al. 2013, γ = 1 for tanh and relu) at every t."""
    T, B, I, H = 40, 2, 3, 4
    params = random_params(cell, 40, I, H, scheme=scheme, gain=gain)
    xs, h0 = random_inputs(41, T, B, I, H)
    profile = rnnviz.jacobian_norms(cell, params, xs, h0, ord=2)
    bound = bptt.pascanu_bound(cell, params, T)
    lam1 = np.linalg.norm(np.asarray(params.w_hh, np.float64), 2)
    np.testing.assert_allclose(bound, lam1 ** np.arange(T - 1, -1, -1), rtol=1e-12)
    assert bound.shape == (T,) and bound[-1] == 1.0
    assert np.all(profile <= bound[:, None] * (1 + 1e-5))
    assert np.all(profile[-5:] > 0)  # not met trivially by zeros (dead relu paths are exact 0s)


def test_pascanu_bound_is_none_for_gated_cells():
    """The theorem is stated for vanilla cells only."""
    for cell in ("lstm", "gru"):
        assert bptt.pascanu_bound(cell, random_params(cell, 0), 10) is None


# --- 9. Initialisation schemes --------------------------------------------------------------


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("cell", CELLS)
def test_init_shapes_and_dtypes(cell, scheme):
    """PyTorch's fused layout (G·H, I), (G·H, H), (G·H,) ×2 in float32, finite; non-PyTorch
    schemes start with zero biases."""
    I, H = 3, 4
    p = rnnviz.init_params(key(50), cell, I, H, scheme=scheme)
    assert isinstance(p, CellParams)
    assert p.w_ih.shape == (G[cell] * H, I) and p.w_hh.shape == (G[cell] * H, H)
    assert p.b_ih.shape == p.b_hh.shape == (G[cell] * H,)
    for a in p:
        assert a.dtype == jnp.float32 and np.isfinite(np.asarray(a)).all()
    if scheme != "pytorch":
        np.testing.assert_array_equal(p.b_ih, 0.0)
        np.testing.assert_array_equal(p.b_hh, 0.0)
    assert np.abs(np.asarray(p.w_hh)).max() > 0


def test_init_rejects_unknown_scheme_and_cell():
    with pytest.raises(ValueError, match="unknown scheme"):
        rnnviz.init_params(key(0), "rnn", 3, 4, scheme="xavier")
    with pytest.raises(ValueError, match="unknown cell"):
        rnnviz.init_params(key(0), "lstmx", 3, 4)
    with pytest.raises(ValueError, match="radius kind"):
        rnnviz.init_params(key(0), "rnn", 3, 4, spectral_radius=1.0, radius_kind="norm")
    with pytest.raises(ValueError, match="T_max > 2"):
        rnnviz.init_params(key(0), "lstm", 3, 4, chrono_tmax=2.0)


@pytest.mark.parametrize("kind", ["eigen", "singular"])
@pytest.mark.parametrize("scheme", ["pytorch", "glorot", "he", "orthogonal"])
@pytest.mark.parametrize("cell", CELLS)
def test_spectral_radius_sets_each_gate_block(cell, scheme, kind):
    """radius_kind="eigen": max|eig| of every W_hh gate block = target; "singular": λ₁ = target."""
    H, target = 4, 1.3
    p = rnnviz.init_params(key(51), cell, 3, H, scheme=scheme, gain=0.7,
                           spectral_radius=target, radius_kind=kind)
    for block in np.split(np.asarray(p.w_hh, np.float64), G[cell]):
        if kind == "eigen":
            measured = np.abs(np.linalg.eigvals(block)).max()
        else:
            measured = np.linalg.svd(block, compute_uv=False)[0]
        assert measured == pytest.approx(target, rel=2e-6)


def test_eigen_and_singular_radius_differ_for_non_normal_weights():
    """For a random (non-normal) W, the eigenvalue-rescaled W has λ₁ above the target."""
    p = rnnviz.init_params(key(52), "rnn", 3, 4, scheme="glorot", spectral_radius=1.0)
    w = np.asarray(p.w_hh, np.float64)
    assert np.abs(np.linalg.eigvals(w)).max() == pytest.approx(1.0, rel=2e-6)
    assert np.linalg.norm(w, 2) > 1.05


@pytest.mark.parametrize("cell", CELLS)
def test_orthogonal_and_identity_schemes(cell):
    """Orthogonal: QᵀQ = gain²·I per gate block; identity: each block is gain·I exactly."""
    H = 4
    for gain in (1.0, 1.7):
        q = rnnviz.init_params(key(53), cell, 3, H, scheme="orthogonal", gain=gain)
        for block in np.split(np.asarray(q.w_hh, np.float64), G[cell]):
            np.testing.assert_allclose(block.T @ block, gain**2 * np.eye(H), atol=1e-5)
        ident = rnnviz.init_params(key(54), cell, 3, H, scheme="identity", gain=gain)
        for block in np.split(np.asarray(ident.w_hh), G[cell]):
            np.testing.assert_array_equal(block, np.float32(gain) * np.eye(H, dtype=np.float32))


def test_pytorch_and_glorot_and_he_distributions():
    """LSTM (4 gate blocks). PyTorch: every weight and bias in U(±1/√H) and filling it; Glorot: within
    ±√(6/(fan_in+fan_out)) per block; He: std √(2/fan_in) per block."""
    I, H, cell = 24, 48, "lstm"
    p = rnnviz.init_params(key(55), cell, I, H, scheme="pytorch")
    bound = 1 / np.sqrt(H)
    for a in p:
        a = np.asarray(a)
        assert np.abs(a).max() <= bound and np.abs(a).max() > 0.95 * bound
    gl = rnnviz.init_params(key(56), cell, I, H, scheme="glorot")
    assert np.abs(np.asarray(gl.w_ih)).max() <= np.sqrt(6 / (I + H))
    assert np.abs(np.asarray(gl.w_hh)).max() <= np.sqrt(6 / (2 * H))
    he = rnnviz.init_params(key(57), cell, I, H, scheme="he")
    assert np.std(np.asarray(he.w_hh)) == pytest.approx(np.sqrt(2 / H), rel=0.05)
    assert np.std(np.asarray(he.w_ih)) == pytest.approx(np.sqrt(2 / I), rel=0.05)


@pytest.mark.parametrize("scheme", ["pytorch", "glorot"])
def test_forget_bias_sets_total_lstm_forget_bias(scheme):
    """b_ih + b_hh on the forget block (i, f, g, o order) is exactly forget_bias; the rest unchanged."""
    H = 4
    base = rnnviz.init_params(key(58), "lstm", 3, H, scheme=scheme)
    p = rnnviz.init_params(key(58), "lstm", 3, H, scheme=scheme, forget_bias=1.0)
    total = np.asarray(p.b_ih) + np.asarray(p.b_hh)
    np.testing.assert_array_equal(total[H:2 * H], 1.0)
    others = np.r_[0:H, 2 * H:4 * H]
    np.testing.assert_array_equal(total[others], (np.asarray(base.b_ih) + np.asarray(base.b_hh))[others])
    np.testing.assert_array_equal(p.w_hh, base.w_hh)


@pytest.mark.parametrize("scheme", ["pytorch", "orthogonal"])
def test_chrono_initialisation(scheme):
    """Chrono (Tallec & Ollivier 2018): total b_f in [0, log(T_max − 1)], spread over it; total b_i = −b_f."""
    I, H, tmax = 24, 48, 50.0  # the shape of the distribution test: compiled ops are reused
    p = rnnviz.init_params(key(59), "lstm", I, H, scheme=scheme, chrono_tmax=tmax, forget_bias=1.0)
    total = np.asarray(p.b_ih, np.float64) + np.asarray(p.b_hh, np.float64)
    b_i, b_f = total[:H], total[H:2 * H]
    assert b_f.min() >= 0.0 and b_f.max() <= np.log(tmax - 1) * (1 + 1e-6)
    np.testing.assert_array_equal(b_i, -b_f)
    # exp(b_f) ~ U[1, T_max − 1]: Kolmogorov–Smirnov distance below the 1% critical value (0.23).
    u = np.sort(np.exp(b_f))
    cdf = (u - 1.0) / (tmax - 2.0)
    n = np.arange(1, H + 1) / H
    assert max(np.abs(cdf - n).max(), np.abs(cdf - (n - 1 / H)).max()) < 0.23


def test_update_bias_sets_total_gru_z_bias():
    """GRU update_bias: total bias of the z block (r, z, n order) is exactly update_bias."""
    H = 4
    base = rnnviz.init_params(key(60), "gru", 3, H)
    p = rnnviz.init_params(key(60), "gru", 3, H, update_bias=2.0)
    total = np.asarray(p.b_ih) + np.asarray(p.b_hh)
    np.testing.assert_array_equal(total[H:2 * H], 2.0)
    others = np.r_[0:H, 2 * H:3 * H]
    np.testing.assert_array_equal(total[others], (np.asarray(base.b_ih) + np.asarray(base.b_hh))[others])


# --- 10. from_torch ---------------------------------------------------------------------------


def torch_state_dict(cell, H, I, seed, biases=True):
    """Hand-made weights with torch's names and shapes (no torch needed)."""
    rng = np.random.default_rng(seed)
    k = 1 / np.sqrt(H)
    sd = {
        "weight_ih_l0": rng.uniform(-k, k, (G[cell] * H, I)).astype(np.float32),
        "weight_hh_l0": rng.uniform(-k, k, (G[cell] * H, H)).astype(np.float32),
    }
    if biases:
        sd["bias_ih_l0"] = rng.uniform(-k, k, G[cell] * H).astype(np.float32)
        sd["bias_hh_l0"] = rng.uniform(-k, k, G[cell] * H).astype(np.float32)
    return sd


@pytest.mark.parametrize("biases", [True, False])
@pytest.mark.parametrize("cell", CELLS)
def test_from_torch_reproduces_reference(cell, biases):
    """Torch-layout weights go in unchanged and give the reference outputs; missing biases are 0."""
    T, B, I, H = SMALL
    sd = torch_state_dict(cell, H, I, 70, biases)
    params = rnnviz.from_torch(cell, sd)
    zeros = np.zeros(G[cell] * H, np.float32)
    want = [sd["weight_ih_l0"], sd["weight_hh_l0"], sd.get("bias_ih_l0", zeros), sd.get("bias_hh_l0", zeros)]
    for got, w in zip(params, want):
        assert got.dtype == jnp.float32
        np.testing.assert_array_equal(got, w)
    xs, h0 = random_inputs(71, T, B, I, H)
    hs, gates = rnnviz.unroll(cell, params, xs, h0)
    ref_hs, ref_gates = reference_unroll(cell, *want, xs, h0)
    np.testing.assert_allclose(hs, ref_hs, rtol=2e-5, atol=2e-6)
    for name, ref in ref_gates.items():
        np.testing.assert_allclose(gates[name], ref, rtol=2e-5, atol=2e-6)


@pytest.mark.parametrize("given, claimed", [("lstm", "gru"), ("gru", "lstm"), ("rnn", "lstm"), ("lstm", "rnn")])
def test_from_torch_wrong_cell_raises(given, claimed):
    """Weights of one cell passed as another raise a ValueError naming the key, shape and cell."""
    sd = torch_state_dict(given, 5, 3, 72)
    with pytest.raises(ValueError, match=rf"weight_hh_l0 has shape \({G[given] * 5}, 5\); a {claimed} needs"):
        rnnviz.from_torch(claimed, sd)


def test_from_torch_bad_shapes_and_keys_raise():
    sd = torch_state_dict("lstm", 5, 3, 73)
    with pytest.raises(ValueError, match="weight_ih_l0"):
        rnnviz.from_torch("lstm", {**sd, "weight_ih_l0": sd["weight_ih_l0"][:15]})
    with pytest.raises(ValueError, match="bias_hh_l0 has shape"):
        rnnviz.from_torch("lstm", {**sd, "bias_hh_l0": sd["bias_hh_l0"][:5]})
    with pytest.raises(ValueError, match="weight_hh_l0"):
        rnnviz.from_torch("lstm", {k: v for k, v in sd.items() if k != "weight_hh_l0"})
    with pytest.raises(ValueError, match="unknown cell"):
        rnnviz.from_torch("LSTM", sd)


# --- 11. Blow-ups are reported, not raised --------------------------------------------------


def exploding_relu_run():
    """IRNN with gain 3 (W_hh = 3I) over 200 noisy steps: h grows ~3^t and overflows float32."""
    T, B, I, H = 200, 2, 3, 4
    params = rnnviz.init_params(key(80), "rnn_relu", I, H, scheme="identity", gain=3.0)
    xs = rnnviz.make_inputs(key(81), "noise", T, B, I)
    return params, xs


def test_exploding_relu_state_is_located_without_raising():
    """A forward overflow gives inf/NaN in hs, no exception anywhere, and first_nonfinite names
    the step where the float64 reference crosses float32's max."""
    params, xs = exploding_relu_run()
    T = xs.shape[0]
    hs = np.asarray(rnnviz.unroll("rnn_relu", params, xs)[0])
    bad = ~np.isfinite(hs).reshape(T, -1).all(axis=1)
    assert bad.any() and not bad[:10].any()
    first = bptt.first_nonfinite(hs)
    assert first == np.flatnonzero(bad)[0] and bptt.last_nonfinite(hs) == T - 1
    assert np.isfinite(hs[:first]).all()
    ref_hs, _ = reference_unroll("rnn_relu", *as_np(params), xs)
    assert first == np.flatnonzero(np.abs(ref_hs).max(axis=(1, 2)) > F32_MAX)[0]
    loss = readout(T, "last")
    grads = rnnviz.hidden_grads("rnn_relu", params, xs, loss)  # must not raise
    profile = rnnviz.jacobian_norms("rnn_relu", params, xs, ord=2)  # nor this
    assert grads["h"].shape == hs.shape and profile.shape == (T, 2)


def test_gradients_after_forward_overflow_are_not_reported_as_zero():
    """Once h overflowed, ∂L/∂h_t for earlier t is undefined; it must not read as a vanished 0."""
    params, xs = exploding_relu_run()
    T = xs.shape[0]
    first = bptt.first_nonfinite(np.asarray(rnnviz.unroll("rnn_relu", params, xs)[0]))
    loss = readout(T, "last")
    norms = bptt.per_step_norms(rnnviz.hidden_grads("rnn_relu", params, xs, loss)["h"])
    assert not np.any(norms[:first] == 0.0)


def test_exploding_gradient_is_located_and_profile_stays_exact():
    """tanh RNN, zero inputs/biases/h0, W_hh = 3Q: hs stay 0 but ∂L/∂h_t = 3^(T−1−t)·(unit vector)
    overflows float32 going back. The grads hold inf/NaN from the step the float64 recursion
    crosses float32's max (±1 step for summation order), last_nonfinite names it, the finite
    ones equal 3^(T−1−t), and the log-space profile is exact up to 3^199 ≈ 1e95."""
    T, B, I, H = 200, 2, 3, 8
    params = vanilla_orthogonal_params(3.0, I, H, seed=82)
    xs = jnp.zeros((T, B, I), jnp.float32)
    hs, _ = rnnviz.unroll("rnn", params, xs)
    np.testing.assert_array_equal(hs, 0.0)
    loss = readout(T, "last")
    g = np.asarray(rnnviz.hidden_grads("rnn", params, xs, loss)["h"])
    bad = ~np.isfinite(g).reshape(T, -1).all(axis=1)
    last = bptt.last_nonfinite(g)
    assert last == np.flatnonzero(bad)[-1] and bptt.first_nonfinite(g) == 0
    assert np.isfinite(g[last + 1:]).all() and not np.isfinite(g[: last + 1]).reshape(last + 1, -1).all(axis=1).any()
    # float64 recursion ∂L/∂h_{t−1} = W_hhᵀ ∂L/∂h_t from v = 1/√H, with the same float32 W_hh.
    w = np.asarray(params.w_hh, np.float64)
    v, crossed = np.full(H, 1 / np.sqrt(H)), None
    for t in range(T - 1, -1, -1):
        if np.abs(v).max() > F32_MAX:
            crossed = t
            break
        v = w.T @ v
    assert crossed is not None and abs(last - crossed) <= 1
    expected = 3.0 ** np.arange(T - 1, -1, -1, dtype=np.float64)
    np.testing.assert_allclose(bptt.per_step_norms(g)[last + 1:], expected[last + 1:], rtol=1e-4)
    profile = rnnviz.jacobian_norms("rnn", params, xs, ord=2)
    np.testing.assert_allclose(profile, np.broadcast_to(expected[:, None], (T, B)), rtol=1e-4)


def test_nonfinite_locators_on_known_arrays():
    """first/last_nonfinite on hand-placed inf/NaN, on clean arrays, and with time on another axis."""
    a = np.zeros((12, 3, 4))
    assert bptt.first_nonfinite(a) is None and bptt.last_nonfinite(a) is None
    a[5, 1, 2] = np.inf
    a[9, 0, 0] = np.nan
    assert bptt.first_nonfinite(a) == 5 and bptt.last_nonfinite(a) == 9
    assert bptt.first_nonfinite(np.moveaxis(a, 0, 1), axis_time=1) == 5


# --- 12. Tasks --------------------------------------------------------------------------------


def test_adding_problem_markers_and_targets():
    """Exactly two markers per sequence, one in each half; target = sum of the marked values."""
    T, B = 51, 500
    xs, ys = rnnviz.adding_problem(key(90), T, B)
    xs, ys = np.asarray(xs), np.asarray(ys)
    assert xs.shape == (T, B, 2) and ys.shape == (B,)
    assert xs.dtype == np.float32 and ys.dtype == np.float32
    values, markers = xs[..., 0], xs[..., 1]
    assert values.min() >= 0 and values.max() <= 1
    assert set(np.unique(markers)) == {0.0, 1.0}
    np.testing.assert_array_equal(markers.sum(axis=0), 2)
    np.testing.assert_array_equal(markers[: T // 2].sum(axis=0), 1)
    np.testing.assert_array_equal(markers[T // 2:].sum(axis=0), 1)
    np.testing.assert_allclose(ys, (values * markers).sum(axis=0), rtol=1e-6)


def test_adding_problem_no_memory_baseline_is_one_sixth():
    """Predicting 1 always gives MSE ≈ 1/6 (Arjovsky et al. 2016's baseline)."""
    _, ys = rnnviz.adding_problem(key(91), 20, 40000)
    mse = float(np.mean((np.asarray(ys, np.float64) - 1.0) ** 2))
    assert mse == pytest.approx(1 / 6, abs=0.006)


@pytest.mark.parametrize("kind", ["noise", "zeros", "sine", "adding"])
def test_make_inputs_shapes_dtype_and_determinism(kind):
    """(T, B, I) float32, a pure function of the key: same key same inputs, new key new inputs."""
    T, B, I = 30, 4, 2
    a = np.asarray(rnnviz.make_inputs(key(92), kind, T, B, I))
    b = np.asarray(rnnviz.make_inputs(key(92), kind, T, B, I))
    c = np.asarray(rnnviz.make_inputs(key(93), kind, T, B, I))
    assert a.shape == (T, B, I) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    if kind == "zeros":
        np.testing.assert_array_equal(a, 0.0)
    else:
        assert not np.array_equal(a, c)
    if kind == "sine":
        np.testing.assert_allclose(a[20:], a[:-20], atol=1e-5)  # period 20 steps
        np.testing.assert_allclose(a[..., 0] ** 2 + a[..., 1] ** 2, 1.0, atol=1e-5)  # sin, cos
    if kind == "adding":
        np.testing.assert_array_equal(a, np.asarray(rnnviz.adding_problem(key(92), T, B)[0]))


def test_make_inputs_rejects_bad_arguments():
    with pytest.raises(ValueError, match="2 input channels"):
        rnnviz.make_inputs(key(0), "adding", 10, 2, 3)
    with pytest.raises(ValueError, match="unknown input kind"):
        rnnviz.make_inputs(key(0), "ramp", 10, 2)


# --- 13. steps_per_decade -------------------------------------------------------------------


def test_steps_per_decade_on_geometric_profiles():
    """0.9^(T−1−t) falls 10× every 1/log10(1/0.9) ≈ 21.85 steps back; 1.1^k grows; ~constant is flat."""
    T = 120
    k = np.arange(T - 1, -1, -1, dtype=np.float64)
    steps, direction = bptt.steps_per_decade(0.9**k)
    assert direction == "falls" and steps == pytest.approx(1 / np.log10(1 / 0.9), rel=1e-9)
    steps, direction = bptt.steps_per_decade(1.1**k)
    assert direction == "grows" and steps == pytest.approx(1 / np.log10(1.1), rel=1e-9)
    flat = 1.0 + 0.01 * np.sin(np.arange(T))
    assert bptt.steps_per_decade(flat) == (None, "flat")
    # Values below the floor, zeros and inf/NaN are left out of the fit.
    profile = 0.5**k
    profile[:10] = 0.0
    profile[10] = np.nan
    profile[11] = np.inf
    steps, direction = bptt.steps_per_decade(profile)
    assert direction == "falls" and steps == pytest.approx(1 / np.log10(2), rel=1e-9)
    assert bptt.steps_per_decade(np.full(T, 1e-40)) == (None, None)


# --- 14. The engine's one scan: its final carry ---------------------------------------------

PAD_FROM = 4  # the tests' `length`: steps from here on are padding with inputs that move a state


def start_carry(cell, h0):
    """A nonzero start carry: (h0,), or (h0, c0) with c0 ≠ 0 for the LSTM."""
    return (h0, 0.7 * h0[:, ::-1]) if cell == "lstm" else (h0,)


def loop_final_carry(cell, params, xs, carry, steps):
    """The carry after running STEPS[cell] at `steps`, in that order: a plain Python loop."""
    for t in steps:
        carry, _ = STEPS[cell](params, carry, xs[t])
    return carry


@pytest.mark.parametrize("length", [None, PAD_FROM])
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("cell", CELLS)
def test_scan_final_carry_is_the_state_after_the_last_real_step(cell, reverse, length):
    """`_scan`'s final carry is the state after step length − 1 running forward, after step
    0 running backward from step length − 1; the padding outputs the start state."""
    T, B, I, H = SMALL
    params = random_params(cell, 21, I, H)
    xs, h0 = random_inputs(22, T, B, I, H)
    xs = xs.at[PAD_FROM:].set(3.0)
    carry0 = start_carry(cell, h0)
    n = T if length is None else length
    want = loop_final_carry(cell, params, xs, carry0, range(n - 1, -1, -1) if reverse else range(n))
    carry, outs = bptt._scan(STEPS[cell], params, xs, carry0, reverse=reverse, length=length)
    assert len(carry) == len(carry0)
    last = 0 if reverse else n - 1
    for name, got, ref in zip(("h", "c"), carry, want):
        np.testing.assert_allclose(got, ref, rtol=1e-6, atol=1e-6, err_msg=name)
        np.testing.assert_array_equal(got, outs[name][last], err_msg=name)
    if length is not None:
        for name, a in zip(("h", "c"), carry0):
            np.testing.assert_array_equal(outs[name][length:],
                                          np.broadcast_to(a, outs[name][length:].shape))


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_scan_goes_on_from_its_final_carry(cell, reverse):
    """A sequence cut in two, the second scan started from the first's final carry, is the
    uncut scan: the carry is what an encoder hands a decoder or a truncation cuts."""
    T, B, I, H = SMALL
    params = random_params(cell, 23, I, H)
    xs, h0 = random_inputs(24, T, B, I, H)
    step, carry0, cut = STEPS[cell], start_carry(cell, h0), 2
    whole_carry, whole = bptt._scan(step, params, xs, carry0, reverse=reverse)
    first, second = (xs[cut:], xs[:cut]) if reverse else (xs[:cut], xs[cut:])
    middle, _ = bptt._scan(step, params, first, carry0, reverse=reverse)
    end, rest = bptt._scan(step, params, second, middle, reverse=reverse)
    part = slice(None, cut) if reverse else slice(cut, None)
    for name in whole:
        np.testing.assert_allclose(rest[name], whole[name][part], rtol=1e-6, atol=1e-7)
    for a, b in zip(end, whole_carry):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("length", [None, PAD_FROM])
@pytest.mark.parametrize("cell", CELLS)
def test_network_scan_final_carries_of_a_bidirectional_stack(cell, length):
    """`_network_scan`'s carries[k][d] of a 2-layer bidirectional stack: the forward state
    after step length − 1, the backward state after x_0, per layer; as the NumPy stack run
    on the real steps gives them, and as the scan's own outputs hold them there."""
    T, B, I, H = SMALL
    L, D = 2, 2
    net = rnnviz.init_params(key(25), cell, I, H, layers=L, bidirectional=True)
    xs, _ = random_inputs(26, T, B, I, H)
    xs = xs.at[PAD_FROM:].set(3.0)
    rng = np.random.default_rng(27)
    h0 = jnp.asarray(0.5 * rng.standard_normal((L * D, B, H)), jnp.float32)
    c0 = jnp.asarray(0.5 * rng.standard_normal((L * D, B, H)), jnp.float32)
    c0 = c0 if cell == "lstm" else None
    scan = bptt._network_scan(cell, net, xs, bptt._carries0(cell, net, xs, h0, c0),
                              length=length)
    n = T if length is None else length
    layers = [[tuple(np.asarray(a, np.float64) for a in p) for p in layer] for layer in net.layers]
    _, ref_hs, ref_gates = reference_stack(cell, layers, np.asarray(xs)[:n], np.asarray(h0),
                                           None if c0 is None else np.asarray(c0))
    for k in range(L):
        for d in range(D):
            last = n - 1 if d == 0 else 0
            want = [ref_hs[k][d][last]] + ([ref_gates[k][d]["c"][last]] if cell == "lstm" else [])
            got = scan.carries[k][d]
            assert len(got) == len(want)
            for name, a, ref in zip(("h", "c"), got, want):
                where = f"layer {k}, direction {d}, {name}"
                np.testing.assert_allclose(a, ref, rtol=2e-5, atol=2e-6, err_msg=where)
                np.testing.assert_array_equal(a, scan.outs[k][d][name][last], err_msg=where)
