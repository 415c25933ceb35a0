"""Analyses behind the explorer pages: W_hh spectra, the Pascanu et al. verdict, step-Jacobian
singular values, input-output connectivity maps and gate statistics. Returns numpy.
"""
import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from rnnviz.engine import programs
from rnnviz.engine.bptt import (
    FLOOR,
    _carries0,
    _join_directions,
    _network_scan,
    as_array,
    check_start_state,
)
from rnnviz.engine.cells import (
    GATE_NAMES,
    STEPS,
    CellParams,
    Network,
    as_network,
    check_cell,
    check_network,
)

VANILLA = ("rnn", "rnn_relu")
# γ bounds |act'| in Pascanu et al. 2013: tanh' ≤ 1, relu' ∈ {0, 1}.
GAMMA = {"rnn": 1.0, "rnn_relu": 1.0}
# Relative distance from λ₁ = 1/γ inside which the verdict is "borderline": float32 rounding
# of an orthogonal W_hh already puts λ₁ ~1e-7 away from 1.
BORDERLINE_RTOL = 1e-4

# Gates whose range is [-1, 1] (tanh): the LSTM candidate g and the GRU candidate n.
TANH_GATES = ("g", "n")
# Karpathy, Johnson & Fei-Fei 2015: a sigmoid gate is left-saturated below 0.1 and
# right-saturated above 0.9; for tanh gates we use -0.9 and 0.9, the same margin of 0.1
# (in units of half the range) from each end.
SIGMOID_THRESHOLDS = (0.1, 0.9)
TANH_THRESHOLDS = (-0.9, 0.9)
CONNECTIVITY_MODES = ("auto", "forward", "reverse")


# ----------------------------------------------------------------------------------------
# Spectrum of W_hh and the Pascanu et al. verdict


def spectrum_blocks(cell: str) -> tuple:
    """Names of W_hh's square blocks: ("h",) for the vanilla cells, else the gate names."""
    check_cell(cell)
    return GATE_NAMES[cell] or ("h",)


def block_label(cell: str, block: str) -> str:
    """PyTorch-style name of a recurrent block: "W_hh" (vanilla), "W_hf" (LSTM forget) etc."""
    return "W_hh" if cell in VANILLA else f"W_h{block}"


class Spectrum(NamedTuple):
    """Eigen- and singular-value summary of each square block of W_hh, keyed by block name."""

    eigenvalues: dict  # block -> (H,) complex128, sorted by decreasing |λ|
    lambda1: dict  # block -> float, largest singular value (spectral norm)
    radius: dict  # block -> float, spectral radius max |λ|


def w_hh_spectrum(cell: str, params: CellParams) -> Spectrum:
    """Eigenvalues, largest singular value λ₁ and spectral radius of each block of W_hh.

    W_hh is (G·H, H) with G fused gate blocks (PyTorch order: LSTM i, f, g, o; GRU r, z, n);
    each H×H block is analysed on its own, in float64 on the host.

    Returns:
      Spectrum with dicts keyed by `spectrum_blocks(cell)`: ``{"h": ...}`` for the vanilla
      cells, ``{"i", "f", "g", "o"}`` for the LSTM, ``{"r", "z", "n"}`` for the GRU.
    """
    check_cell(cell)
    w = np.asarray(params.w_hh, np.float64)
    H = w.shape[1]
    eig, lam1, rad = {}, {}, {}
    for k, name in enumerate(spectrum_blocks(cell)):
        block = w[k * H:(k + 1) * H]
        ev = np.linalg.eigvals(block).astype(np.complex128)
        ev = ev[np.argsort(-np.abs(ev), kind="stable")]
        eig[name] = ev
        lam1[name] = float(np.linalg.norm(block, 2))
        rad[name] = float(np.max(np.abs(ev))) if ev.size else 0.0
    return Spectrum(eig, lam1, rad)


class Verdict(NamedTuple):
    """What Pascanu, Mikolov & Bengio 2013 can say about a cell's W_hh."""

    applies: bool  # False for gated cells
    gamma: float  # bound on |act'|; NaN where the theorem does not apply
    lambda1: float  # largest singular value of W_hh (vanilla); NaN for gated cells
    threshold: float  # 1/γ
    verdict: str  # "vanishing guaranteed" | "explosion possible" | "borderline" | "not applicable"
    explanation: str  # one sentence for the page


def pascanu_verdict(cell: str, params: CellParams) -> Verdict:
    """The sufficient / necessary conditions of Pascanu, Mikolov & Bengio 2013, Sec. 2.1.

    With ‖diag(act'(a))‖ ≤ γ and λ₁ the largest singular value of W_hh:
    λ₁ < 1/γ is *sufficient* for vanishing (‖∂h_T/∂h_k‖ ≤ (γλ₁)^(T−k));
    λ₁ > 1/γ is *necessary*, not sufficient, for explosion. γ = 1 for tanh and relu.
    Within a relative `BORDERLINE_RTOL` of 1/γ the verdict is "borderline".
    For the LSTM and GRU the verdict is "not applicable" (see the explanation string).

    References:
      Pascanu, Mikolov & Bengio 2013, "On the difficulty of training recurrent neural
      networks", arXiv 1211.5063.
    """
    check_cell(cell)
    if cell not in VANILLA:
        path = (
            "the cell state's own path c_t = f_t ⊙ c_{t−1} + … has Jacobian diag(f_t)"
            if cell == "lstm"
            else "the update gate's path h_t = z_t ⊙ h_{t−1} + … has Jacobian diag(z_t)"
        )
        return Verdict(
            False, np.nan, np.nan, np.nan, "not applicable",
            "The theorem assumes h_t = act(W_hh h_{t−1} + …) with a single weight matrix, but in "
            f"the {cell.upper()} {path}, which bypasses W_hh, so no singular value of W_hh "
            "decides vanishing or explosion; look at the step-Jacobian singular values instead.",
        )
    gamma = GAMMA[cell]
    lam1 = float(np.linalg.norm(np.asarray(params.w_hh, np.float64), 2))
    threshold = 1.0 / gamma
    act = "tanh" if cell == "rnn" else "relu"
    if abs(lam1 - threshold) <= BORDERLINE_RTOL * threshold:
        verdict = "borderline"
        text = (
            f"λ₁ = {lam1:.4g} equals 1/γ = {threshold:g} (γ = {gamma:g} for {act}), where neither "
            "condition of the theorem holds: gradients may vanish, stay level or grow, "
            "depending on the inputs and the state."
        )
    elif lam1 < threshold:
        verdict = "vanishing guaranteed"
        text = (
            f"λ₁ = {lam1:.4g} < 1/γ = {threshold:g} (γ = {gamma:g} for {act}) is sufficient for "
            f"vanishing: ‖∂h_T/∂h_k‖ ≤ {gamma * lam1:.4g}^(T−k) for every input."
        )
    else:
        verdict = "explosion possible"
        text = (
            f"λ₁ = {lam1:.4g} > 1/γ = {threshold:g} (γ = {gamma:g} for {act}) is necessary but not "
            f"sufficient for explosion: gradients can grow, but saturated {act} units "
            "(act' < 1) may still make them vanish."
        )
    return Verdict(True, gamma, lam1, threshold, verdict, text)


def complex_xy(eigenvalues) -> tuple:
    """(real, imag) float32 arrays of complex eigenvalues, for a scatter plot."""
    ev = np.asarray(eigenvalues)
    return ev.real.astype(np.float32), ev.imag.astype(np.float32)


def circle(radius: float = 1.0, n: int = 181) -> tuple:
    """(x, y) float32 points of a circle of `radius` about 0 (the unit circle, or 1/γ)."""
    a = np.linspace(0.0, 2.0 * np.pi, n)
    return (radius * np.cos(a)).astype(np.float32), (radius * np.sin(a)).astype(np.float32)


# ----------------------------------------------------------------------------------------
# Step Jacobians along the forward trajectory


def _states(cell, outs) -> tuple:
    """The recurrent state parts of a scan's outputs: (h,), or (h, c) for the LSTM."""
    return (outs["h"], outs["c"]) if cell == "lstm" else (outs["h"],)


def _prev_states(carry0, states, reverse=False) -> tuple:
    """The state entering each step, in the direction's own order: s_{t−1} running forward
    (carry0 at t = 0), s_{t+1} running backward (carry0 at t = T − 1)."""
    if reverse:
        return tuple(jnp.concatenate([s[1:], c[None]]) for c, s in zip(carry0, states))
    return tuple(jnp.concatenate([c[None], s[:-1]]) for c, s in zip(carry0, states))


def _finite_steps(carry0, states):
    """(T, B): True where every state part at step t, and the start state, is finite."""
    finite = jnp.all(jnp.stack([jnp.isfinite(s).all(axis=-1) for s in states]), axis=0)
    return finite & jnp.all(jnp.stack([jnp.isfinite(c).all(axis=-1) for c in carry0]), axis=0)


def _trajectory(cell, params, xs, h0):
    """The forward pass of one layer, as the analyses need it.

    Returns:
      carry0; prev, the state entering each step (tuple of (T, B, H) per state part); and
      ok (T, B), True while every state up to and including step t is finite. Past an
      overflow the Jacobians are meaningless (inf·0 = NaN), so results there become NaN.
    """
    carry0, inputs, prev, ok = _network_trajectory(cell, as_network(params), xs, h0)
    return carry0[0][0], prev[0][0], ok


def _network_trajectory(cell, net: Network, xs, h0, length=None):
    """The forward pass of every layer and direction, as the analyses need it.

    Returns:
      (carries0, inputs, prev, ok): carries0[k][d] the start carries; inputs[k] (T, B, ·)
      what layer k reads; prev[k][d] the state entering each step in that direction's own
      order (tuple per state part); ok (T, B), True where every state that output step t
      depends on is finite: all steps ≤ t of every layer for a unidirectional network,
      every real step (< length) once a backward direction reads the whole sequence.
    """
    carries0 = _carries0(cell, net, xs, h0)
    outs = _network_scan(cell, net, xs, carries0, length=length).outs
    inputs = (xs,) + tuple(_join_directions([o["h"] for o in row]) for row in outs[:-1])
    prev = tuple(tuple(_prev_states(carries0[k][d], _states(cell, o), reverse=d == 1)
                       for d, o in enumerate(row)) for k, row in enumerate(outs))
    finite = [_finite_steps(carries0[k][d], _states(cell, o))
              for k, row in enumerate(outs) for d, o in enumerate(row)]
    finite = finite[0] if len(finite) == 1 else jnp.all(jnp.stack(finite), axis=0)
    if net.num_directions == 1:
        ok = jax.lax.cummin(finite.astype(jnp.int32), axis=0).astype(bool)
    else:
        t = jnp.arange(xs.shape[0])[:, None]
        real = t < (xs.shape[0] if length is None else length)
        ok = jnp.broadcast_to(jnp.all(finite | ~real, axis=0), finite.shape)
    return carries0, inputs, prev, ok


def sampled_steps(T: int, stride: int = 1) -> np.ndarray:
    """The time steps an analysis run with `stride` samples: 0, stride, 2·stride, … < T."""
    return np.arange(0, T, max(1, int(stride)))


def _sampled_slots(T: int, stride: int, slots: int | None, multiple: int = 1) -> np.ndarray:
    """`sampled_steps(T, stride)` padded with -1 (an empty slot) to `slots` entries, rounded
    up to a multiple of `multiple` (None: no padding beyond that), as int32 data: a program
    that takes them serves every length and stride with the same slot count."""
    steps = sampled_steps(T, stride)
    n = len(steps)
    slots = n if slots is None else int(slots)
    if slots < n:
        raise ValueError(f"{n} sampled steps do not fit in {slots} slots")
    slots = -(-slots // multiple) * multiple
    return np.concatenate([steps, np.full(slots - n, -1)]).astype(np.int32)


def _check_stride(stride) -> int:
    stride = int(stride)
    if stride < 1:
        raise ValueError(f"stride must be a positive integer, got {stride}")
    return stride


def _step_jacobian_svals(cell, params, xs, h0, steps, time_chunk, units=None):
    """Traceable body of `step_jacobian_singular_values`; `units` as in `_real_state_block`."""
    step = STEPS[cell]
    carry0, prev, ok = _trajectory(cell, params, xs, h0)
    n_parts = len(carry0)
    keep = _real_state_block(n_parts, carry0[0].shape[-1], units)

    def one(prev_b, x_b):  # one sequence, one step: prev_b tuple of (H,), x_b (I,)
        def f(s):
            new = step(params, tuple(jnp.split(s, n_parts)), x_b)[0]
            return jnp.concatenate(new)

        jac = jax.jacfwd(f)(jnp.concatenate(prev_b))  # (S, S), S = n_parts * H
        if keep is not None:
            jac = jnp.where(keep, jac, 0.0)
        # Keep inf/NaN away from LAPACK (rows past an overflow are set to NaN below).
        jac = jnp.where(jnp.isfinite(jac).all(), jac, 0.0)
        return jnp.linalg.svd(jac, compute_uv=False)

    def chunk(ts):  # (time_chunk,) steps, -1 for an empty slot: (time_chunk, B, S)
        at = jnp.maximum(ts, 0)
        p, x = tuple(a[at] for a in prev), xs[at]
        svals = jax.vmap(jax.vmap(one))(p, x)
        return jnp.where((ts >= 0)[:, None, None] & ok[at][:, :, None], svals, jnp.nan)

    def empty(ts):  # a chunk of empty slots costs no SVD
        S = sum(c.shape[-1] for c in carry0)
        return jnp.full((time_chunk, xs.shape[1], S), jnp.nan, xs.dtype)

    # The steps are data: one program serves every length and stride of a padded input.
    # One chunk at a time keeps only `time_chunk` Jacobians (B, S, S) alive.
    chunks = steps.reshape(-1, time_chunk)
    svals = jax.lax.map(lambda ts: jax.lax.cond(ts[0] >= 0, chunk, empty, ts), chunks)
    return svals.reshape((-1,) + svals.shape[2:])


def _real_state_block(n_parts: int, width: int, units):
    """(S, S) bool, S = n_parts·width: True where row and column are both real units, for a
    cell padded from `units` to `width` units per state part (`one_layer.pad_units`); None
    when `units` is None (nothing padded).

    A padded unit stays 0, but its own Jacobian entry need not be 0 (a GRU's is z = σ(0) =
    ½, an LSTM's c-unit's f = ½), and no real unit reads it. Zeroing the padded rows and
    columns leaves J_t's real block alone in a block-diagonal [J 0; 0 0] (up to a
    permutation), whose singular values are J_t's followed by zeros: sorted in decreasing
    order, the first n_parts·units are exactly J_t's own."""
    if units is None:
        return None
    real = jnp.tile(jnp.arange(width) < units, n_parts)
    return real[:, None] & real[None, :]


_step_jacobian_svals_jit = programs.jit(
    _step_jacobian_svals, static_argnames=("cell", "time_chunk"), one_at_a_time=True
)


def state_size(cell: str, params: CellParams) -> int:
    """S, the size of the recurrent state: H, or 2H for the LSTM's (h, c)."""
    return params.w_hh.shape[1] * (2 if cell == "lstm" else 1)


def step_jacobian_singular_values(
    cell: str,
    params: CellParams,
    xs,
    h0=None,
    length: int | None = None,
    stride: int = 1,
    time_chunk: int = 16,
    slots: int | None = None,
) -> np.ndarray:
    """Singular values of the step Jacobian J_t = ∂s_t/∂s_{t−1} along the forward trajectory.

    The state s is h for the vanilla cells and the GRU (J_t is H×H; for the vanilla cells
    J_t = diag(act'(a_t)) W_hh), and the full state s = (h, c) for the LSTM (J_t is 2H×2H,
    blocks ordered h then c). The full state, not the h→h block, because only full-state
    Jacobians multiply: ∂s_T/∂s_k = J_T ⋯ J_{k+1}, the product `bptt.jacobian_norms` carries
    (the h→h block of a product is not the product of h→h blocks, and the LSTM's constant
    error carousel ∂c_t/∂c_{t−1} = diag(f_t) lives in the c→c block).

    Computed with jax.jacfwd of the step, vmapped over the batch, in chunks of `time_chunk`
    steps (memory O(time_chunk·B·S²)), and an SVD in the dtype of xs: in float32, singular
    values below ~1e-6·σ₁ of the same J_t are round-off. The SVDs dominate the cost
    (T·B of them, O(S³) each) and run in LAPACK, i.e. OpenBLAS on CPU: on a busy machine its
    threads can make them 10-100× slower; run the process with OPENBLAS_NUM_THREADS=1.

    Args:
      xs: (T, B, I). h0: (B, H) or None for zeros.
      length: keep only the steps t < length (the rest is padding).
      stride: compute J_t only at t ∈ `sampled_steps(T, stride)`; cost falls by `stride`.
      slots: run with this many sampled steps, the ones past n empty (costing nothing but
        their chunk's share): one compiled program then serves every length and stride of
        inputs padded to one shape. None: n.
    Returns:
      (n, B, S) numpy array, n = len(sampled_steps(T or length, stride)), singular values in
      decreasing order; row i belongs to the step t = i·stride that consumes x_t. NaN for a
      sequence from the step where its forward pass overflowed.
    """
    check_cell(cell)
    stride = _check_stride(stride)
    xs = as_array(xs)
    T = xs.shape[0] if length is None else length
    n = len(sampled_steps(T, stride))
    time_chunk = max(1, min(int(time_chunk), n if slots is None else int(slots)))
    steps = _sampled_slots(T, stride, slots, multiple=time_chunk)  # whole chunks
    return np.asarray(_step_jacobian_svals_jit(cell, params, xs, h0, steps, time_chunk))[:n]


def singular_value_quantiles(svals, quantiles=(0.0, 0.5, 1.0)) -> np.ndarray:
    """Quantiles of the singular values at each step, pooled over batch and state: (Q, T).

    For a band plot of `step_jacobian_singular_values`: by default smallest, median and
    largest. Steps that are all NaN (after an overflow) give NaN.
    """
    s = np.asarray(svals, np.float64)
    s = s.reshape(s.shape[0], -1)
    out = np.full((len(quantiles), s.shape[0]), np.nan)
    rows = ~np.isnan(s).all(axis=1)
    if rows.any():
        out[:, rows] = np.nanquantile(s[rows], quantiles, axis=1)
    return out


# ----------------------------------------------------------------------------------------
# Connectivity ‖∂h_t/∂x_s‖ (Madsen 2019)


def _renorm(parts, axes):
    """Divide a tuple of arrays by their joint max |entry| over `axes`; return log10 of it.

    All-zero slices keep scale 1 (log 0) so a source not yet injected stays exactly zero.
    """
    m = jnp.max(jnp.stack([jnp.max(jnp.abs(a), axis=axes) for a in parts]), axis=0)
    m = jnp.where(m > 0, m, 1.0)
    return tuple(a / jnp.expand_dims(m, axes) for a in parts), jnp.log10(m)


def _log10_fro(a, axes):
    """log10 of the Frobenius norm over `axes`, scaled before squaring; -inf for exact zeros."""
    m = jnp.max(jnp.abs(a), axis=axes)
    safe = jnp.where(m > 0, m, 1.0)
    q = a / jnp.expand_dims(safe, axes)
    n = jnp.sqrt(jnp.sum(q * q, axis=axes))
    return jnp.where(m > 0, jnp.log10(safe) + jnp.log10(n), -jnp.inf)


def _live_scale(parts, log_scale, axes):
    """log_scale where the tangents `parts` are nonzero over `axes`, -inf where all zero, so
    that an exact zero never sets the scale of a sum."""
    m = jnp.max(jnp.stack([jnp.max(jnp.abs(a), axis=axes) for a in parts]), axis=0)
    return jnp.where(m > 0, log_scale, -jnp.inf)


def _common_scale(scales):
    """The larger of the live log10 scales, 0 where all are -inf (everything zero), and the
    factor 10^(scale − common) for each (0 for an all-zero term)."""
    m = functools.reduce(jnp.maximum, scales)
    m = jnp.where(jnp.isneginf(m), 0.0, m)
    return m, [jnp.power(10.0, a - m) for a in scales]


def _push_and_inject(step, params, q, prev_k, x, k, src):
    """Layer 0's step k: Q ← J_k Q with x_k held, then Q_s ← ∂s_k/∂x_k for the source s = k."""
    n, I, B, _ = q[0].shape
    eye = jnp.broadcast_to(jnp.eye(I, dtype=x.dtype)[:, None, :], (I, B, I))

    def push(tangent):  # J_k · tangent
        return jax.jvp(lambda s: step(params, s, x)[0], (prev_k,), (tangent,))[1]

    def inject(e):  # ∂s_k/∂x_k · e
        return jax.jvp(lambda u: step(params, prev_k, u)[0], (x,), (e,))[1]

    flat = tuple(a.reshape(n * I, B, -1) for a in q)
    q = tuple(a.reshape(n, I, B, -1) for a in jax.vmap(push)(flat))
    d = jax.vmap(inject)(eye)  # tuple of (I, B, ·)
    is_k = (src == k)[:, None, None, None]
    return tuple(jnp.where(is_k, dk[None], a) for a, dk in zip(q, d))


def _push_with_input(step, params, q, log_scale, prev_k, x, du_k):
    """A layer above's step k: Q ← J_k Q + (∂s_k/∂u_k) du_k, the two terms brought to the
    larger of their log10 scales first. Returns (q, log_scale)."""
    n, I, B, _ = q[0].shape
    u, log_u = du_k
    log_scale, (f_q, f_u) = _common_scale(
        [_live_scale(q, log_scale, (1, 3)), _live_scale((u,), log_u, (1, 3))])
    flat = tuple((a * f_q[:, None, :, None]).reshape(n * I, B, -1) for a in q)
    u = (u * f_u[:, None, :, None]).reshape(n * I, B, -1)

    def push(tangent, tangent_u):  # J_k · tangent + ∂s_k/∂u_k · tangent_u
        return jax.jvp(lambda s, v: step(params, s, v)[0], (prev_k, x), (tangent, tangent_u))[1]

    return tuple(a.reshape(n, I, B, -1) for a in jax.vmap(push)(flat, u)), log_scale


def _tangent_scan(step, params, xs, prev, src, du=None, reverse=False, length=None, norms=True,
                  start=None):
    """Forward mode through one layer and direction: carry Q_s = ∂s_k/∂x_s for every source s.

    Q is (n, I, B, ·) per state part for the n sources `src` (I: the network's input size;
    cost ∝ T·n·B·S·H·I). Layer 0 (du None) reads x, whose tangent e_i enters at the source
    step alone (`_push_and_inject`). A layer above reads u, the layer below's output, with
    du_k = ∂u_k/∂x_s given as (values (T, n, I, B, ·), log10 scales (T, n, B))
    (`_push_with_input`). Each source is renormalised every step and its scale carried as
    a log, so 1e-300 stays exact.

    Args:
      xs: (T, B, ·) the layer's inputs. prev: the state entering each step (see
        `_network_trajectory`). reverse: the backward direction, run from the end.
      length: steps ≥ length are padding and are skipped (one `lax.cond` each, so a
        program padded to the longest sequence costs the real steps only): Q stays as it
        was and they output a zero tangent. Running backward, that is exact: the state
        there is the start state, which no input moves. Running forward, nothing before
        them reads them.
      norms: return only log10 ‖∂h_k/∂x_s‖_F (T, n, B); else the tangents of h,
        (q (T, n, I, B, H), log10 scale (T, n, B)) with ∂h_k/∂x_s = q·10^scale.
      start: steps k < start are skipped as padding is (forward direction only): exact
        when no tangent is nonzero before it, i.e. `start` ≤ every source and the layer's
        input tangents du are zero before their sources (layer 0, or a one-way stack).
    """
    B = xs.shape[1]
    n = src.shape[0]
    I = xs.shape[2] if du is None else du[0].shape[2]
    q0 = tuple(jnp.zeros((n, I, B, a.shape[-1]), xs.dtype) for a in prev)

    def body(carry, inputs):
        q, log_scale = carry
        k, x, prev_k, du_k = inputs
        if du is None:
            q = _push_and_inject(step, params, q, prev_k, x, k, src)
        else:
            q, log_scale = _push_with_input(step, params, q, log_scale, prev_k, x, du_k)
        q, log_m = _renorm(q, (1, 3))  # (n, B)
        log_scale = log_scale + log_m
        out = log_scale + _log10_fro(q[0], (1, 3)) if norms else (q[0], log_scale)
        return (q, log_scale), out

    init = (q0, jnp.zeros((n, B), xs.dtype))
    steps = (jnp.arange(xs.shape[0]), xs, prev, du)
    _, outs = jax.lax.scan(_skip_padding(body, length, tangents=not norms,
                                         start=None if reverse else start),
                           init, steps, reverse=reverse)
    return outs


def _skip_padding(body, length, tangents: bool = False, start=None):
    """A scan body that runs only at steps start ≤ k < length (k the first of its inputs;
    None: no bound); at the others it keeps the carry (tangents, log10 scales (n, B)) and
    outputs what a zero tangent gives: log10 norms -inf of the scales' shape, or (with
    `tangents`) zero tangents of the first state part at the carried scale. Before the
    first source the carry is zero and the body would output exactly that. No autodiff
    runs through these scans, so the `lax.cond` costs a branch per step and nothing else."""
    if length is None and start is None:
        return body

    def padding(carry, inputs):
        q, log_scale = carry
        if tangents:
            return carry, (jnp.zeros_like(q[0]), log_scale)
        return carry, jnp.full_like(log_scale, -jnp.inf)

    def runs(k):
        inside = True if length is None else k < length
        return inside if start is None else inside & (k >= start)

    return lambda carry, inputs: jax.lax.cond(runs(inputs[0]), body, padding, carry, inputs)


def _join_tangents(parts):
    """Layer k's output tangents [forward, backward] along the units, at a common scale:
    what layer k + 1 reads, (values (T, n, I, B, D·H), log10 scales (T, n, B))."""
    if len(parts) == 1:
        return parts[0]
    scale, factors = _common_scale([_live_scale((q,), log, (2, 4)) for q, log in parts])
    values = [q * f[:, :, None, :, None] for (q, _), f in zip(parts, factors)]
    return jnp.concatenate(values, axis=-1), scale


def _log10_hypot(logs):
    """log10 √(Σ 10^(2·a)) of log10 norms: the norm of the [forward, backward] Jacobian."""
    if len(logs) == 1:
        return logs[0]
    ln10 = float(np.log(10.0))  # a Python float: the result keeps the dtype of `logs`
    return 0.5 * functools.reduce(jnp.logaddexp, [2.0 * ln10 * a for a in logs]) / ln10


# The tangents a layer hands to the next are (T, n, I, B, D·H): cap their bytes per chunk
# of sources (stacks only; a single layer keeps nothing but the carry).
CONNECTIVITY_CHUNK_BYTES = 32 * 2**20
# Sources per chunk: each chunk's forward scans start at its first source, so the work
# is about n·T/2 source-steps instead of slots·T (measured on the Connectivity page's map,
# 256 slots: LSTM, H = 128, T = 600, 4.0 → 1.5 s; RNN, H = 32, T = 600, 0.21 → 0.08 s).
CONNECTIVITY_CHUNK_SOURCES = 16


def _connectivity_forward(cell, params, xs, h0, src, length=None):
    """Forward mode through every layer and direction of a network (or one layer).

    The sources `src` (steps, -1 for an empty slot) are carried at once (`_tangent_scan`) through
    layer 0; each layer's output tangents ∂u_t/∂x_s at every t feed the next layer, and the
    top layer's give log10 ‖∂y_t/∂x_s‖ for y_t = [h_fwd_t, h_bwd_t]. A stack runs its
    sources in chunks of at most `CONNECTIVITY_CHUNK_BYTES` of tangents.
    Returns (n, n, B): rows t and columns s at the source steps `src`.
    """
    net = as_network(params)
    step = STEPS[cell]
    T, B, I = xs.shape
    _, inputs, prev, ok = _network_trajectory(cell, net, xs, h0, length)

    def rows_for(src):  # (T, n, B) for the sources `src`, in increasing order
        du = None
        for k, layer in enumerate(net.layers):
            top = k == net.num_layers - 1
            # Nothing reaches a forward direction before the first source while every
            # layer below reads one way only: those steps are skipped.
            causal = all(D == 1 for D in net.directions[:k])
            outs = [_tangent_scan(step, p, inputs[k], prev[k][d], src, du, reverse=d == 1,
                                  length=length, norms=top,
                                  start=src[0] if causal else None)
                    for d, p in enumerate(layer)]
            if top:
                return _log10_hypot(outs)
            du = _join_tangents(outs)

    widest = max(D * H for D, H in zip(net.directions, net.hidden_sizes))  # D_k·H_k
    per_source = T * I * B * widest * xs.dtype.itemsize if net.num_layers > 1 else 0
    rows = chunked_rows(rows_for, src, per_source, T, B, xs.dtype)
    at = jnp.maximum(src, 0)  # the rows at the source steps (an empty slot's are cut off)
    return jnp.where(ok[at, None, :], rows[at], jnp.nan)


def _connectivity_reverse(cell, params, xs, h0, out, length=None):
    """Reverse mode: carry P_t = ∂h_t/∂s_k for every output t at once (cost ∝ T²·B·S·H²).

    P is (n, H, B, ·) per state part for the n outputs `out` (-1: an empty slot). At step
    k (backwards): P_t ← [I, 0] if k is an output t; one vjp of the step, vmapped over the
    n·H rows, gives both ∂h_t/∂x_k (column k) and P ← P J_k. Columns are kept at the
    output steps only; steps ≥ length are skipped (`_skip_padding`).
    """
    step = STEPS[cell]
    T, B, I = xs.shape
    carry0, prev, ok = _trajectory(cell, params, xs, h0)
    H = carry0[0].shape[-1]
    n = out.shape[0]
    p0 = tuple(jnp.zeros((n, H, B, c.shape[-1]), xs.dtype) for c in carry0)
    eye = jnp.broadcast_to(jnp.eye(H, dtype=xs.dtype)[:, None, :], (H, B, H))
    start = (eye,) + tuple(jnp.zeros_like(eye) for _ in carry0[1:])

    def body(carry, inputs):
        p, log_scale = carry
        k, x, prev_k = inputs
        is_k = out == k
        p = tuple(jnp.where(is_k[:, None, None, None], s[None], a) for a, s in zip(p, start))
        log_scale = jnp.where(is_k[:, None], 0.0, log_scale)
        _, vjp = jax.vjp(lambda s, u: step(params, s, u)[0], prev_k, x)
        p_prev, g_x = jax.vmap(vjp)(tuple(a.reshape(n * H, B, -1) for a in p))
        col = log_scale + _log10_fro(g_x.reshape(n, H, B, I), (1, 3))  # (n_out, B)
        p_prev, log_m = _renorm(tuple(a.reshape(n, H, B, -1) for a in p_prev), (1, 3))
        return (p_prev, log_scale + log_m), col

    init = (p0, jnp.zeros((n, B), xs.dtype))
    _, cols = jax.lax.scan(_skip_padding(body, length), init, (jnp.arange(T), xs, prev),
                           reverse=True)
    at = jnp.maximum(out, 0)
    rows = jnp.swapaxes(cols[at], 0, 1)  # (n_out, n_src, B)
    return jnp.where(ok[at, None, :], rows, jnp.nan)


# The sampled steps are data, not a compiled constant: one program serves every length and
# stride of a padded input (see `connectivity`'s `slots`).
@programs.jit(static_argnames=("cell", "mode"))
def _connectivity_log10(cell, params, xs, h0, mode, steps, length=None):
    if mode == "forward":
        return _connectivity_forward(cell, params, xs, h0, steps, length)
    return _connectivity_reverse(cell, params, xs, h0, steps, length)


def _rms_log10(logs, axis):
    """log10 of the root mean square of 10**logs along `axis`, without leaving log space."""
    logs = np.asarray(logs, np.float64)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        top = np.max(logs, axis=axis, keepdims=True)
        shift = np.where(np.isfinite(top), top, 0.0)
        mean_sq = np.mean(np.power(10.0, 2.0 * (logs - shift)), axis=axis, keepdims=True)
        out = shift + 0.5 * np.log10(mean_sq)
        # All entries exactly zero: -inf; any +inf: +inf (overflow is a result); NaN stays NaN.
        out = np.where(np.isneginf(top), -np.inf, np.where(np.isposinf(top), np.inf, out))
    return np.squeeze(out, axis=axis)


def connectivity(
    cell: str,
    params: CellParams | Network,
    xs,
    h0=None,
    length: int | None = None,
    stride: int = 1,
    mode: str = "auto",
    slots: int | None = None,
) -> np.ndarray:
    """log10 of the connectivity map ‖∂y_t/∂x_s‖ for output step t and input step s.

    As in Madsen 2019, "Visualizing memorization in RNNs" (Distill), with the output y_t the
    hidden state (no readout): h_t of one layer, or a network's top output [h_fwd_t,
    h_bwd_t] (D·H, torch's ``output``). Entry [t, s] is the Frobenius norm of the Jacobian
    ∂y_t/∂x_s, root-mean-square over the batch. For one layer or a unidirectional stack,
    causality makes it zero for s > t; those entries are NaN (not computed). A network with
    a backward direction in any layer (also a mixed stack, a Bidirectional layer under a
    one-way one) reads the sequence from the end too, so its map fills both triangles. An exact zero (e.g. a dead relu path) is -inf. Once the forward
    pass overflows (a state is inf/NaN in any sequence at step k), rows t ≥ k are NaN too
    (every row, for a bidirectional network): `bptt.first_nonfinite(hs)` gives k for the
    page to explain.

    Returned in log10 because the values span hundreds of decades: every Jacobian is carried
    renormalised with its scale as a log (see `bptt.jacobian_log10_norms`), so 1e-200 comes
    out as -200, never as 0. Use `display_log10` to clip for a heatmap.

    Algorithm: one scan per layer and direction, no T separate backward passes. Forward
    mode carries ∂s_k/∂x_s (S×I) for all sources s at once and multiplies by J_k each
    step: T²/2·S²·I per sequence, memory O(T·B·S·I) (a stack: T²·S·(S + D·H)·I per layer
    and direction, and the tangents that one layer hands the next, in chunks of sources of
    at most `CONNECTIVITY_CHUNK_BYTES`). Reverse mode (one layer only) carries ∂h_t/∂s_k
    (H×S) for all outputs t and pays also for ∂h_t/∂x_k: T²/2·H·S·(S + I), memory
    O(T·B·H·S). S = H, or 2H for the LSTM. "auto" takes the cheaper, forward unless
    H·(S + I) < S·I (only an LSTM with I > 2H), and forward for every stack.
    Measured on 2 shared CPU cores (float32, H=64, B=4, I=2, after a compile of ~1-2 s):
    T=200 0.04-0.25 s, T=500 0.2-0.9 s (LSTM slowest); `stride` divides these.

    Args:
      params: CellParams (one layer) or a cells.Network.
      xs: (T, B, I); pad it and pass `length` to avoid recompiling (padding after
        `length` changes nothing before it: a unidirectional map is causal, and a backward
        direction starts at step length − 1); the padded steps are skipped, not computed.
      h0: (B, H) for one layer, (L·D, B, H) for a network, or None for zeros.
      length: if given, keep only the steps t, s < length.
      stride: sample both axes at t, s ∈ `sampled_steps(T, stride)`; the values are
        exact, the cost falls by the factor `stride` (a screen shows a few hundred pixels).
      mode: "auto", "forward" or "reverse" (same numbers, different cost; "reverse" for
        one layer only).
      slots: run with this many sampled steps, the ones past n empty: one compiled
        program then serves every length and stride of inputs padded to one shape (an
        empty slot costs as much as a sampled step). None: n.
    Returns:
      (n, n) float64 numpy array of log10 ‖∂y_t/∂x_s‖_F, rows t, columns s, with
      n = len(sampled_steps(T or length, stride)).
    """
    check_cell(cell)
    if mode not in CONNECTIVITY_MODES:
        raise ValueError(f"mode must be one of {CONNECTIVITY_MODES}, got {mode!r}")
    stride = _check_stride(stride)
    xs = as_array(xs)
    net = check_network(cell, params)
    check_start_state(params, xs, h0)
    if net.num_layers == 1 and net.num_directions == 1:
        params = net.layers[0][0]  # one layer: the one-layer program, either mode
    elif mode == "reverse":
        raise ValueError("reverse-mode connectivity is implemented for one unidirectional "
                         "layer; use mode='forward' (or 'auto') for a network")
    else:
        mode = "forward"
    I = xs.shape[2]
    if mode == "auto":
        H, S = params.w_hh.shape[1], state_size(cell, params)
        mode = "reverse" if H * (S + I) < S * I else "forward"
    T = xs.shape[0] if length is None else length
    n = len(sampled_steps(T, stride))
    steps = _sampled_slots(T, stride, slots)
    logs = _rms_log10(_connectivity_log10(cell, params, xs, h0, mode, steps,
                                          None if length is None else np.int32(length)),
                      axis=2)[:n, :n]
    if net.num_directions == 1:
        logs[np.triu_indices(n, k=1)] = np.nan
    return logs


def display_log10(log10_map, floor: float = FLOOR):
    """A log10 map ready for a heatmap: float32 values clipped at log10(floor), and a mask.

    Returns:
      (values, below) with values float32 (NaN kept, so the causal triangle stays blank)
      and below a bool array marking entries smaller than `floor` (shown as "< floor").
    """
    a = np.asarray(log10_map, np.float64)
    lo = np.log10(floor)
    with np.errstate(invalid="ignore"):
        below = a < lo
    return np.where(below, lo, a).astype(np.float32), below


def connectivity_profile(log10_map) -> np.ndarray:
    """Mean log10 connectivity at each lag t − s (the diagonals of the map): (T,) float64.

    Lag 0 is the main diagonal. Exact zeros (-inf) pull the mean to -inf; NaN (overflow) is
    skipped.
    """
    a = np.asarray(log10_map, np.float64)
    T = a.shape[0]
    with np.errstate(invalid="ignore"):
        return np.array([np.nanmean(np.diagonal(a, -lag)) for lag in range(T)])


# ----------------------------------------------------------------------------------------
# Gate statistics (Karpathy, Johnson & Fei-Fei 2015)


class GateSaturation(NamedTuple):
    """Saturation of one gate, from (T, B, H) activations."""

    left: np.ndarray  # (H,) fraction of (time, batch) entries below the low threshold
    right: np.ndarray  # (H,) fraction above the high threshold
    left_overall: float  # fraction of all entries below the low threshold
    right_overall: float
    thresholds: tuple  # (low, high)


def gate_saturation(gates: dict, length: int | None = None) -> dict:
    """Fraction of time each unit's gate is saturated, per gate (Karpathy et al. 2015).

    A sigmoid gate (LSTM i, f, o; GRU r, z) is left-saturated below 0.1 and right-saturated
    above 0.9. The tanh candidates (LSTM g, GRU n) range over [-1, 1] and use -0.9 and 0.9.

    Args:
      gates: the gate dict of `bptt.unroll`, name -> (T, B, H); "c" and "h" (states, not
        gates) are skipped.
      length: use only the first `length` steps (the rest is padding).
    Returns:
      {gate name: GateSaturation}; an empty dict for the vanilla cells.
    """
    out = {}
    for name, a in gates.items():
        if name in ("c", "h"):
            continue
        a = np.asarray(a, np.float64)
        if length is not None:
            a = a[:length]
        low, high = TANH_THRESHOLDS if name in TANH_GATES else SIGMOID_THRESHOLDS
        a = a.reshape(-1, a.shape[-1])  # (T·B, H)
        left, right = a < low, a > high
        out[name] = GateSaturation(
            left.mean(axis=0), right.mean(axis=0),
            float(left.mean()), float(right.mean()), (low, high),
        )
    return out


class ForgetHorizon(NamedTuple):
    """How long the LSTM's forget gates let the cell state remember step 0."""

    log10_product: np.ndarray  # (T, H) log10 ∏_{k=1..t} f_k, mean over the batch (0 at t=0)
    steps_below: np.ndarray  # (H,) first t with product < `level`; inf if never within T
    median_steps: float  # median of steps_below over units (inf if most never get there)
    decay_steps: np.ndarray  # (H,) steps per decade, 1 / mean(−log10 f), inf for f ≡ 1


def forget_horizon(f, level: float = 0.1, length: int | None = None) -> ForgetHorizon:
    """The memory horizon implied by the LSTM forget gates.

    Along the cell-state path ∂c_t/∂c_s = diag(∏_{k=s+1..t} f_k) (the constant error
    carousel); from s = 0 that is the fraction of c_0 (what step 0 wrote) still in c_t.
    Summed as log f in float64, so products of 1e-300 are exact.

    Args:
      f: forget-gate activations (T, B, H) (as from `bptt.unroll`) or (T, H).
      level: the product below which a unit counts as having forgotten (0.1: ten times).
      length: use only the first `length` steps.
    Returns:
      ForgetHorizon; log10 products are averaged over the batch in log space (geometric
      mean of the products).
    """
    f = np.asarray(f, np.float64)
    if f.ndim == 2:
        f = f[:, None, :]
    if length is not None:
        f = f[:length]
    T, _, H = f.shape
    with np.errstate(divide="ignore"):
        log_f = np.log10(f)  # f = 0 exactly -> -inf: forgotten at once
    log_prod = np.concatenate([np.zeros_like(log_f[:1]), np.cumsum(log_f[1:], axis=0)])
    log_prod = log_prod.mean(axis=1)  # (T, H)
    below = log_prod < np.log10(level)
    steps = np.where(below.any(axis=0), np.argmax(below, axis=0), np.inf).astype(np.float64)
    rate = -log_f[1:].mean(axis=(0, 1)) if T > 1 else np.zeros(H)  # decades lost per step
    with np.errstate(divide="ignore"):
        decay = np.where(rate > 0, 1.0 / rate, np.inf)
    return ForgetHorizon(log_prod, steps, float(np.median(steps)), decay)


def chunked_rows(rows_for, src, per_source: int, T: int, B: int, dtype,
                 most: int | None = None):
    """rows_for over the source steps `src` (n,), sorted with the empty slots (-1) last, in
    chunks of at most `most` (CONNECTIVITY_CHUNK_SOURCES) sources and CONNECTIVITY_CHUNK_BYTES of
    tangents (`per_source` bytes each; 0: no tangents kept): (T, n, B). A chunk's scans
    can start at its first source (`_tangent_scan`'s `start`), so small chunks skip most of
    the steps before their sources; a chunk of empty slots only is skipped (log10 0 =
    -inf), and a -1 slot is never injected (its rows are cut off)."""
    n = src.shape[0]
    m = min(n, most or CONNECTIVITY_CHUNK_SOURCES)
    if per_source:
        m = min(m, CONNECTIVITY_CHUNK_BYTES // per_source)
    m = int(max(1, m))
    chunks = -(-n // m)
    padded = jnp.concatenate([src, jnp.full((chunks * m - n,), -1, src.dtype)])

    def chunk_rows(chunk):
        empty = lambda c: jnp.full((T, m, B), -jnp.inf, dtype)  # noqa: E731
        return jax.lax.cond(chunk[0] >= 0, rows_for, empty, chunk)

    rows = jax.lax.map(chunk_rows, padded.reshape(chunks, m))  # (chunks, T, m, B)
    return jnp.moveaxis(rows, 0, 1).reshape(T, chunks * m, B)[:, :n]
