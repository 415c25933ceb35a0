"""rnnviz.engine.jacobians against closed forms, brute-force Jacobians and an independent NumPy model."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rnnviz.engine import jacobians as A
from rnnviz.engine.bptt import unroll
from rnnviz.engine.cells import GATE_BLOCKS, CellParams
from rnnviz.engine.init import init_params

try:
    from reference import reference_unroll
except ImportError:  # tests/ imported as a package
    from tests.reference import reference_unroll

CELLS = ("rnn", "rnn_relu", "lstm", "gru")
VANILLA = ("rnn", "rnn_relu")


def orthogonal(H, seed=0):
    q, r = np.linalg.qr(np.random.default_rng(seed).normal(size=(H, H)))
    return q * np.sign(np.diag(r))


def params_from(cell, w_hh_block, I, dtype=np.float32, w_ih=None, b=0.0, biases=None):
    """CellParams whose every recurrent gate block is `w_hh_block` (biases `b` or `biases`)."""
    G, H = GATE_BLOCKS[cell], w_hh_block.shape[0]
    w_hh = np.concatenate([w_hh_block] * G)
    w_ih = np.zeros((G * H, I)) if w_ih is None else w_ih
    b_ih = np.full(G * H, b) if biases is None else np.asarray(biases, np.float64)
    arrays = (w_ih, w_hh, b_ih, np.zeros(G * H))
    return CellParams(*(jnp.asarray(a, dtype) for a in arrays))


def random_setup(cell, T=6, B=2, H=4, I=3, seed=0, dtype=jnp.float64):
    params = init_params(jax.random.PRNGKey(seed), cell, I, H, dtype=dtype)
    xs = jax.random.normal(jax.random.PRNGKey(seed + 1), (T, B, I), dtype)
    return params, xs


# ------------------------------------------------------------------------------ spectrum


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("rho", [0.5, 1.3])
def test_spectrum_of_scaled_orthogonal(cell, rho):
    H = 6
    sp = A.w_hh_spectrum(cell, params_from(cell, rho * orthogonal(H), I=2))
    assert set(sp.eigenvalues) == set(A.spectrum_blocks(cell))
    assert len(sp.eigenvalues) == GATE_BLOCKS[cell]
    for name, ev in sp.eigenvalues.items():
        assert ev.shape == (H,) and np.iscomplexobj(ev)
        np.testing.assert_allclose(np.abs(ev), rho, rtol=1e-6)
        assert sp.radius[name] == pytest.approx(rho, rel=1e-6)
        assert sp.lambda1[name] == pytest.approx(rho, rel=1e-6)


@pytest.mark.parametrize("cell", CELLS)
def test_spectrum_per_gate_block(cell):
    # Block k is (k+1)·g·I: each gate's spectrum must come from its own block.
    H, g = 3, 0.7
    G = GATE_BLOCKS[cell]
    p = params_from(cell, np.eye(H), I=1)
    w_hh = np.concatenate([(k + 1) * g * np.eye(H) for k in range(G)])
    sp = A.w_hh_spectrum(cell, p._replace(w_hh=jnp.asarray(w_hh, jnp.float32)))
    for k, name in enumerate(A.spectrum_blocks(cell)):
        np.testing.assert_allclose(sp.eigenvalues[name], (k + 1) * g, rtol=1e-6)
        assert sp.lambda1[name] == pytest.approx((k + 1) * g, rel=1e-6)
        assert sp.radius[name] == pytest.approx((k + 1) * g, rel=1e-6)
    re, im = A.complex_xy(sp.eigenvalues[A.spectrum_blocks(cell)[0]])
    assert re.dtype == np.float32 and np.allclose(re, g) and np.allclose(im, 0.0)


def test_spectrum_of_rotation_is_complex():
    c, s = np.cos(0.3), np.sin(0.3)
    sp = A.w_hh_spectrum("rnn", params_from("rnn", 0.9 * np.array([[c, -s], [s, c]]), I=1))
    ev = sp.eigenvalues["h"]
    np.testing.assert_allclose(sorted(ev.imag), [-0.9 * s, 0.9 * s], rtol=1e-6)
    np.testing.assert_allclose(ev.real, 0.9 * c, rtol=1e-6)


def test_circle():
    x, y = A.circle(2.0)
    np.testing.assert_allclose(np.hypot(x, y), 2.0, rtol=1e-6)


# ------------------------------------------------------------------------------ verdict


@pytest.mark.parametrize("cell", VANILLA)
@pytest.mark.parametrize(
    "rho, verdict",
    [(0.5, "vanishing guaranteed"), (0.999, "vanishing guaranteed"),
     (1.0, "borderline"), (1.5, "explosion possible")],
)
def test_pascanu_verdict_vanilla(cell, rho, verdict):
    v = A.pascanu_verdict(cell, params_from(cell, rho * orthogonal(5), I=2))
    assert v.applies and v.verdict == verdict
    assert v.gamma == 1.0 and v.threshold == 1.0
    assert v.lambda1 == pytest.approx(rho, rel=1e-6)
    assert f"{rho:.4g}" in v.explanation and v.explanation.count(". ") == 0


@pytest.mark.parametrize("cell", VANILLA)
def test_pascanu_verdict_uses_singular_value_not_eigenvalues(cell):
    # Non-normal: both eigenvalues 0.5 (ρ < 1), but λ₁ > 1, so vanishing is not guaranteed.
    w = np.array([[0.5, 2.0], [0.0, 0.5]])
    assert A.w_hh_spectrum(cell, params_from(cell, w, I=1)).radius["h"] == pytest.approx(0.5)
    v = A.pascanu_verdict(cell, params_from(cell, w, I=1))
    assert v.verdict == "explosion possible" and v.lambda1 > 2.0


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_pascanu_verdict_gated(cell):
    v = A.pascanu_verdict(cell, params_from(cell, 0.5 * orthogonal(4), I=2))
    assert not v.applies and v.verdict == "not applicable"
    assert np.isnan(v.lambda1) and np.isnan(v.gamma)
    assert ("diag(f_t)" if cell == "lstm" else "diag(z_t)") in v.explanation


# ------------------------------------------------------------------------------ step Jacobians


def reference_step_jacobians(cell, params, xs, delta=1e-6):
    """J_t for every t, b by central differences of the NumPy reference model: (T, B, S, S)."""
    p = [np.asarray(a, np.float64) for a in params]
    xs = np.asarray(xs, np.float64)
    T, B, _ = xs.shape
    H = p[1].shape[1]
    hs, gates = reference_unroll(cell, *p, xs)
    cs = gates.get("c")
    lstm = cell == "lstm"
    S = 2 * H if lstm else H
    out = np.zeros((T, B, S, S))
    for t in range(T):
        for b in range(B):
            h_prev = hs[t - 1, b] if t else np.zeros(H)
            c_prev = (cs[t - 1, b] if t else np.zeros(H)) if lstm else np.zeros(H)
            s_prev = np.concatenate([h_prev, c_prev])[:S]
            pert = np.concatenate([np.eye(S), -np.eye(S)]) * delta + s_prev  # (2S, S)
            h0, c0 = pert[:, :H], (pert[:, H:] if lstm else None)
            x = np.repeat(xs[t:t + 1, b:b + 1], 2 * S, axis=1)
            h1, g1 = reference_unroll(cell, *p, x, h0=h0, c0=c0)
            s1 = np.concatenate([h1[0], g1["c"][0]], axis=1) if lstm else h1[0]
            out[t, b] = (s1[:S] - s1[S:]).T / (2 * delta)
    return out


@pytest.mark.parametrize("cell", CELLS)
def test_step_jacobian_singular_values_match_finite_differences(cell):
    params, xs = random_setup(cell, T=4, B=2, H=3, I=2)
    got = A.step_jacobian_singular_values(cell, params, xs, time_chunk=3)
    S = 6 if cell == "lstm" else 3
    assert got.shape == (4, 2, S)
    ref = np.linalg.svd(reference_step_jacobians(cell, params, xs), compute_uv=False)
    np.testing.assert_allclose(got, ref, atol=1e-7)
    sub = A.step_jacobian_singular_values(cell, params, xs, stride=2, length=3)
    np.testing.assert_allclose(sub, got[[0, 2]], rtol=1e-12)


@pytest.mark.parametrize("cell", VANILLA)
def test_step_jacobian_vanilla_closed_form(cell):
    # J_t = diag(act'(a_t)) W_hh, with a_t from the independent NumPy model.
    params, xs = random_setup(cell, T=5, B=3, H=4, I=2, seed=3)
    p = [np.asarray(a, np.float64) for a in params]
    hs, _ = reference_unroll(cell, *p, np.asarray(xs))
    h_prev = np.concatenate([np.zeros((1, 3, 4)), hs[:-1]])
    a = np.asarray(xs) @ p[0].T + p[2] + h_prev @ p[1].T + p[3]
    d = 1.0 - np.tanh(a) ** 2 if cell == "rnn" else (a > 0).astype(float)
    ref = np.linalg.svd(d[..., :, None] * p[1], compute_uv=False)
    np.testing.assert_allclose(A.step_jacobian_singular_values(cell, params, xs), ref, atol=1e-12)


def test_step_jacobian_orthogonal_tanh_zero_input_is_rho():
    rho, H = 0.8, 8
    params = params_from("rnn", rho * orthogonal(H), I=2)
    sv = A.step_jacobian_singular_values("rnn", params, jnp.zeros((5, 2, 2), jnp.float32))
    assert sv.dtype == np.float32
    np.testing.assert_allclose(sv, rho, rtol=1e-5)


def test_singular_value_quantiles():
    # (T=2, B=2, S=2); the second step is past an overflow.
    sv = np.array([[[3.0, 1.0], [2.0, 0.0]], [[np.nan, np.nan], [np.nan, np.nan]]])
    q = A.singular_value_quantiles(sv, (0.0, 0.5, 1.0))
    np.testing.assert_allclose(q[:, 0], [0.0, 1.5, 3.0])
    assert np.isnan(q[:, 1]).all()


def test_step_jacobian_irnn_relu_is_rho():
    # IRNN: W_hh = ρI and h0 > 0 keep every unit active, so J_t = ρI.
    rho = 0.9
    params = params_from("rnn_relu", rho * np.eye(4), I=1)
    h0 = jnp.ones((2, 4), jnp.float32)
    xs = jnp.zeros((6, 2, 1), jnp.float32)
    sv = A.step_jacobian_singular_values("rnn_relu", params, xs, h0=h0)
    np.testing.assert_allclose(sv, rho, rtol=1e-6)


def test_step_jacobian_gru_zero_weights_is_update_gate():
    # All weights zero: h_t = (1 − z) n + z h_{t−1} with constant z = σ(b_z), so J_t = σ(b_z) I.
    H, bz = 4, 1.5
    biases = np.concatenate([np.zeros(H), np.full(H, bz), np.zeros(H)])  # r, z, n
    params = params_from("gru", np.zeros((H, H)), I=2, biases=biases)
    xs = np.random.default_rng(0).normal(size=(5, 2, 2)).astype(np.float32)
    sv = A.step_jacobian_singular_values("gru", params, xs)
    np.testing.assert_allclose(sv, 1.0 / (1.0 + np.exp(-bz)), rtol=1e-6)


def test_step_jacobian_lstm_zero_weights_closed_form():
    # All weights zero, b_g = 0: c stays 0 and, per unit, J = [[0, o·f], [0, f]] on (h, c):
    # singular values f·√(1 + o²) (H times) and 0 (H times).
    H, bf, bo = 3, 2.0, -0.5
    biases = np.concatenate([np.zeros(H), np.full(H, bf), np.zeros(H), np.full(H, bo)])
    params = params_from("lstm", np.zeros((H, H)), I=2, biases=biases, dtype=np.float64)
    sv = A.step_jacobian_singular_values("lstm", params, jnp.zeros((4, 2, 2)))
    f, o = 1 / (1 + np.exp(-bf)), 1 / (1 + np.exp(-bo))
    np.testing.assert_allclose(sv[..., :H], f * np.sqrt(1 + o**2), rtol=1e-12)
    np.testing.assert_allclose(sv[..., H:], 0.0, atol=1e-12)


# ------------------------------------------------------------------------------ connectivity


def brute_force_connectivity(cell, params, xs):
    """RMS over b of ‖∂h_t[b]/∂x_s[b]‖_F, from jax.jacrev of the whole unroll."""
    jac = np.asarray(jax.jacrev(lambda x: unroll(cell, params, x)[0])(xs))  # (T,B,H,T,B,I)
    B = xs.shape[1]
    per_b = np.stack([jac[:, b, :, :, b, :] for b in range(B)])  # (B, T, H, T, I)
    return np.sqrt(np.mean(np.sum(per_b**2, axis=(2, 4)), axis=0))  # (T, T)


@pytest.mark.parametrize("cell", CELLS)
def test_connectivity_matches_brute_force(cell):
    params, xs = random_setup(cell, T=7, B=3, H=4, I=5)  # I > H: both modes, rows ≠ columns
    ref = brute_force_connectivity(cell, params, xs)
    lower = np.tril_indices(7)
    assert np.all(ref[np.triu_indices(7, 1)] == 0.0)  # causality, in the brute force too
    for mode in ("auto", "forward", "reverse"):
        got = A.connectivity(cell, params, xs, mode=mode)
        assert got.shape == (7, 7) and got.dtype == np.float64
        np.testing.assert_allclose(10.0 ** got[lower], ref[lower], rtol=1e-10)
        assert np.isnan(got[np.triu_indices(7, 1)]).all()


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_connectivity_stride_and_length(cell, mode):
    params, xs = random_setup(cell, T=7, B=3, H=4, I=2)  # the shape above: compiled once
    full = A.connectivity(cell, params, xs, mode=mode)
    steps = A.sampled_steps(7, 3)
    np.testing.assert_array_equal(steps, [0, 3, 6])
    sub = A.connectivity(cell, params, xs, stride=3, mode=mode)
    np.testing.assert_allclose(sub, full[np.ix_(steps, steps)], rtol=1e-12)
    other = A.connectivity(cell, params, xs, mode={"forward": "reverse"}.get(mode, "forward"))
    np.testing.assert_allclose(full, other, rtol=1e-10)  # the two modes agree at I < H
    # Padding after `length` changes nothing before it.
    padded = jnp.concatenate([xs[:4], 100.0 * jnp.ones_like(xs[:3])])
    np.testing.assert_allclose(
        A.connectivity(cell, params, padded, length=4, mode=mode), full[:4, :4], rtol=1e-12
    )
    assert A.connectivity(cell, params, padded, length=4, stride=3, mode=mode).shape == (2, 2)


@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_connectivity_closed_form_orthogonal_tanh(mode):
    # h_t = 0 throughout, so ∂h_t/∂x_s = (ρQ)^(t−s) W_ih with W_ih = I: Frobenius ρ^(t−s)·√H.
    rho, H, T = 0.5, 4, 90  # reaches 0.5^89·2 ≈ 3e-27, in float32 (the app's dtype)
    params = params_from("rnn", rho * orthogonal(H), I=H, w_ih=np.eye(H))
    got = A.connectivity("rnn", params, jnp.zeros((T, 2, H), jnp.float32), mode=mode)
    t, s = np.tril_indices(T)
    expected = (t - s) * np.log10(rho) + 0.5 * np.log10(H)
    np.testing.assert_allclose(got[t, s], expected, atol=2e-4)  # 0.05% in the norm itself
    assert got[T - 1, 0] < -26 and np.isfinite(got[t, s]).all()


def test_connectivity_auto_mode_picks_the_cheaper():
    # Forward costs ∝ S²·I, reverse ∝ H·S·(S + I): reverse wins only for an LSTM with I > 2H.
    params, xs = random_setup("lstm", T=3, B=1, H=2, I=5)
    auto = A.connectivity("lstm", params, xs)
    np.testing.assert_array_equal(auto, A.connectivity("lstm", params, xs, mode="reverse"))
    params, xs = random_setup("gru", T=3, B=1, H=2, I=5)
    auto = A.connectivity("gru", params, xs)
    np.testing.assert_array_equal(auto, A.connectivity("gru", params, xs, mode="forward"))


def test_connectivity_below_float64_range():
    # ρ = 0.01 over 200 steps: 1e-398 is below even float64, still exact in log10.
    rho, H, T = 0.01, 3, 200
    params = params_from("rnn", rho * orthogonal(H), I=H, w_ih=np.eye(H))
    got = A.connectivity("rnn", params, jnp.zeros((T, 1, H), jnp.float32))
    assert got[T - 1, 0] == pytest.approx((T - 1) * -2 + 0.5 * np.log10(H), abs=1e-3)
    values, below = A.display_log10(got)
    assert values.dtype == np.float32 and values[T - 1, 0] == pytest.approx(-30.0)
    assert below[T - 1, 0] and not below[3, 0] and not below[0, 1]
    assert np.isnan(values[0, 1])
    profile = A.connectivity_profile(got)  # mean over each diagonal t − s = lag
    np.testing.assert_allclose(profile[:5], np.arange(5) * -2 + 0.5 * np.log10(H), atol=1e-4)


def test_connectivity_exact_zero_is_minus_inf():
    # Dead relu units: every path from an input is exactly zero, reported as -inf, not a number.
    params = params_from("rnn_relu", 0.5 * np.eye(2), I=2, w_ih=np.eye(2), b=-1.0)
    got = A.connectivity("rnn_relu", params, jnp.zeros((4, 1, 2), jnp.float32))
    assert np.isneginf(got[np.tril_indices(4)]).all()


def test_overflow_is_nan_not_a_crash():
    # relu with W_hh = 3I: h_t = (3^(t+1) − 1)/2 overflows float32 at step 80; from there on
    # the Jacobians are meaningless (inf·0) and must not pass for numbers (or exact zeros).
    H, T = 3, 90
    params = params_from("rnn_relu", 3.0 * np.eye(H), I=H, w_ih=np.eye(H))
    xs = jnp.ones((T, 2, H), jnp.float32)
    hs, _ = unroll("rnn_relu", params, xs)
    k = int(np.argmax(~np.isfinite(np.asarray(hs)).all(axis=(1, 2))))
    assert 70 < k < T
    conn = A.connectivity("rnn_relu", params, xs)
    assert np.isnan(conn[k:]).all() and np.isfinite(conn[:k][np.tril_indices(k)]).all()
    assert conn[k - 1, 0] == pytest.approx((k - 1) * np.log10(3.0) + 0.5 * np.log10(H), abs=1e-3)
    sv = A.step_jacobian_singular_values("rnn_relu", params, xs)
    assert np.isnan(sv[k:]).all()
    np.testing.assert_allclose(sv[:k], 3.0, rtol=1e-6)


# ------------------------------------------------------------------------------ gate statistics


def test_gate_saturation_hand_made():
    # Unit 0: 2 of 4 entries < 0.1, 1 > 0.9; unit 1: none, 3 > 0.9 (0.9 itself is not above).
    i = np.array([[[0.05, 0.95], [0.5, 0.91]], [[0.0, 0.99], [0.92, 0.9]]])  # (T=2, B=2, H=2)
    g = np.array([[[-0.95, 0.0], [0.95, 0.0]], [[-0.5, 0.5], [0.0, -0.91]]])  # tanh gate
    sat = A.gate_saturation({"i": i, "g": g, "c": np.zeros_like(i)})
    assert set(sat) == {"i", "g"}  # the cell state is not a gate
    np.testing.assert_allclose(sat["i"].left, [0.5, 0.0])
    np.testing.assert_allclose(sat["i"].right, [0.25, 0.75])
    assert sat["i"].left_overall == 0.25 and sat["i"].right_overall == 0.5
    assert sat["i"].thresholds == (0.1, 0.9)
    np.testing.assert_allclose(sat["g"].left, [0.25, 0.25])  # -0.95, -0.91
    np.testing.assert_allclose(sat["g"].right, [0.25, 0.0])  # 0.95
    assert sat["g"].thresholds == (-0.9, 0.9)
    gru = A.gate_saturation({"z": i, "n": g})  # the GRU's candidate n is a tanh gate too
    np.testing.assert_allclose(gru["n"].left, sat["g"].left)
    assert gru["n"].thresholds == (-0.9, 0.9) and gru["z"].thresholds == (0.1, 0.9)
    # `length` drops the padded steps.
    np.testing.assert_allclose(A.gate_saturation({"i": i}, length=1)["i"].left, [0.5, 0.0])


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_gate_saturation_of_unroll(cell):
    params, xs = random_setup(cell, T=7, B=3, H=4, I=2)
    _, gates = unroll(cell, params, xs)
    sat = A.gate_saturation(gates)
    assert set(sat) == {"lstm": {"i", "f", "g", "o"}, "gru": {"r", "z", "n"}}[cell]
    for s in sat.values():
        assert s.left.shape == (4,) and ((0 <= s.left) & (s.left <= 1)).all()


def test_forget_horizon_against_cumulative_product():
    rng = np.random.default_rng(0)
    f = rng.uniform(0.3, 0.999, size=(30, 3, 5))
    fh = A.forget_horizon(f)
    direct = np.ones((30, 3, 5))
    for t in range(1, 30):
        direct[t] = direct[t - 1] * f[t]  # ∏_{k=1..t} f_k
    expected = np.log10(direct).mean(axis=1)  # geometric mean over the batch
    np.testing.assert_allclose(fh.log10_product, expected, rtol=1e-12, atol=1e-12)
    first = [next((t for t in range(30) if expected[t, j] < -1), np.inf) for j in range(5)]
    np.testing.assert_array_equal(fh.steps_below, first)
    assert fh.median_steps == np.median(first)


def test_forget_horizon_constant_gate():
    # f ≡ 0.5: 0.5^t < 0.1 first at t = 4; a decade every 1/log10(2) ≈ 3.32 steps.
    # f ≡ 1 never forgets; the tiny f = 1e-200 products stay exact in log space.
    f = np.stack([np.full(10, 0.5), np.ones(10), np.full(10, 1e-200)], axis=1)  # (T, H)
    fh = A.forget_horizon(f)
    np.testing.assert_array_equal(fh.steps_below, [4, np.inf, 1])
    assert fh.median_steps == 4
    np.testing.assert_allclose(fh.decay_steps[[0, 2]], [1 / np.log10(2), 1 / 200])
    assert fh.decay_steps[1] == np.inf
    assert fh.log10_product[9, 2] == pytest.approx(-1800.0)
    assert A.forget_horizon(f, length=3).log10_product.shape == (3, 3)
