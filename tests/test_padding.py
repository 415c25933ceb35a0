"""Pages 1-5 run a closed catalogue of programs at padded shapes (one_layer.catalogue): every
result equals the unpadded computation at the real shape, per program family.

Lengths run padded to one_layer.PADDED_LENGTHS, cells to one_layer.PADDED_UNITS units (the analyses to ANALYSIS_UNITS). Each
family is compared with the public API (or NumPy) on the unpadded cell and inputs, for every
cell and (T, H) at the edges: T = 2, T at a padded length and one past it, H = 8 (padded
to 32), 64 (padded to 128) and 128 (not padded).
"""
import functools
from dataclasses import replace

import jax
import numpy as np
import pytest

import rnnviz
from rnnviz.engine import bptt, jacobians, programs
from rnnviz.engine.bptt import FLOOR, per_step_norms, per_unit_magnitudes
from rnnviz.engine.cells import CELLS
from rnnviz.engine.tasks import INPUT_KINDS, adding_problem, make_inputs
from rnnviz.experiments import one_layer

RTOL = 1e-5
LOG_ATOL = RTOL / np.log(10)  # log10(1 + RTOL): the same relative tolerance, in log10


# Below this a float32 gradient is at the edge of underflow (the smallest normal float32 is
# 1.2e-38, and XLA on CPU flushes smaller values to 0): float32 rounding either way decides
# whether it is flushed, so there "an exact 0" and "a tiny value" are the same result.
UNDERFLOW = 1e-36


def product_rtol(T: int) -> float:
    """RTOL, or float32 rounding compounded over a product of T step Jacobians (2e-7 a
    step: a padded matrix product sums its zero terms in another order, which moves each
    step's result by an ulp or two), whichever is larger: 2e-4 at T = 1000."""
    return max(RTOL, 2e-7 * T)


def assert_same_magnitudes(got, want, rtol=RTOL):
    """Nonnegative magnitudes equal to `rtol` from FLOOR (1e-30, the smallest the pages
    vouch for) up, on the same side of FLOOR below it, exact zeros where the reference has
    them (up to UNDERFLOW), and inf/NaN where the reference has them."""
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    assert got.shape == want.shape
    np.testing.assert_array_equal(np.isfinite(got), np.isfinite(want))
    with np.errstate(invalid="ignore"):
        np.testing.assert_array_equal(got < UNDERFLOW, want < UNDERFLOW)
        np.testing.assert_array_equal(got < FLOOR, want < FLOOR)
        above = np.isfinite(want) & (want >= FLOOR)
    np.testing.assert_allclose(got[above], want[above], rtol=rtol, atol=0)


def unpadded(c: one_layer.FlowConfig):
    """The config's own cell and its T real input steps, unpadded."""
    return one_layer.make_params(c), one_layer.config_inputs(c)[: c.T]


# ------------------------------------------------------------------------------------ inputs


@pytest.mark.parametrize("seed", [0, 1, 42, 2**31 - 1])
def test_seed_key_is_jaxs(seed):
    np.testing.assert_array_equal(one_layer.seed_key(seed), jax.random.PRNGKey(seed))


@pytest.mark.parametrize("kind", INPUT_KINDS)
def test_one_inputs_program_draws_every_kind_as_tasks_does(kind):
    """The inputs program (every kind in one, the kind as data) draws what tasks.py draws
    with the key fold_in(PRNGKey(seed), 1), at the longest length."""
    c = one_layer.FlowConfig(inputs=kind, seed=7, T=37)
    key = jax.random.fold_in(jax.random.PRNGKey(7), 1)
    if kind == "adding":
        want = adding_problem(key, one_layer.LONGEST, one_layer.BATCH, length=37)[0]
    else:
        want = make_inputs(key, kind, one_layer.LONGEST, one_layer.BATCH, one_layer.INPUT_SIZE)
    got = one_layer.config_inputs(c)
    assert got.shape == (one_layer.LONGEST, one_layer.BATCH, one_layer.INPUT_SIZE)
    # To float32 rounding: the program is compiled without XLA's optimisations (quick_compile),
    # which rounds N(0, 1)'s inverse erf a last bit differently from the eager draw, and the
    # sine's angle (up to 2π·1024/20 ≈ 322, whose float32 spacing is 3e-5) another way.
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=4e-5 if kind == "sine" else 1e-7)
    np.testing.assert_array_equal(one_layer.padded_inputs(key, kind, 37, 64), got[:64])


# ------------------------------------------------------------------------------ gradient flow

# (T, H): the shortest sequence; the edge of the short padded length and one step past it;
# the longest; with unpadded (128) and padded (8, 64) widths.
FLOW_SHAPES = [(2, 8), (256, 64), (257, 8), (1000, 128)]


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("T, H", FLOW_SHAPES)
def test_flow_equals_unpadded(cell, T, H):
    """The Gradient flow / Compare cells / Gate activations program, padded in T and H,
    gives ∂L/∂h_t (and ∂L/∂c_t) and the gates of `hidden_grads` and `unroll` on the
    unpadded cell and inputs."""
    loss = "last" if (T + H) % 2 else "all"
    c = one_layer.FlowConfig(cell=cell, T=T, H=H, loss=loss, init="glorot", gain=1.2)
    r = one_layer.gradient_flow(c)
    params, xs = unpadded(c)
    want = rnnviz.hidden_grads(cell, params, xs,
                               functools.partial(rnnviz.readout_loss, length=T, placement=loss))
    rtol = product_rtol(T)
    assert_same_magnitudes(r.grad_norms, per_step_norms(want["h"]), rtol)
    assert_same_magnitudes(r.grad_map, per_unit_magnitudes(want["h"]).astype(np.float32), rtol)
    if cell == "lstm":
        assert_same_magnitudes(r.cell_grad_norms, per_step_norms(want["c"]), rtol)
    gates = one_layer.gate_activity(c)
    hs, want_gates = rnnviz.unroll(cell, params, xs)
    np.testing.assert_allclose(gates.h, np.asarray(hs)[:, 0], rtol=RTOL, atol=1e-6)
    for name, a in gates.gates.items():
        np.testing.assert_allclose(a, np.asarray(want_gates[name])[:, 0], rtol=RTOL, atol=1e-6)


def test_state_overflowing_after_the_last_real_step_changes_nothing():
    """A relu state that overflows in the padding (after step T) sends nothing back: the
    gradient is the unpadded one, finite."""
    c = one_layer.FlowConfig(cell="rnn_relu", init="identity", gain=1.3, T=400, H=8)
    blowup = one_layer.gradient_flow(c).state_blowup_step
    assert blowup is not None and 256 < blowup
    c = replace(c, T=blowup - 30)  # padded to 1024: the padded steps overflow (the loss at
    # blowup − 3 would itself overflow: its readout sums states near 1e38)
    r = one_layer.gradient_flow(c)
    assert r.state_blowup_step is None and np.isfinite(r.grad_norms).all()
    params, xs = unpadded(c)
    want = rnnviz.hidden_grads("rnn_relu", params, xs,
                               functools.partial(rnnviz.readout_loss, length=c.T))
    assert_same_magnitudes(r.grad_norms, per_step_norms(want["h"]), product_rtol(c.T))


# ---------------------------------------------------------------------------------- jacobians

# Contracting gated cells: their real units shrink a vector by more than the ½ that a
# padded unit keeps on its diagonal (GRU z = σ(0), LSTM c-unit f = σ(0)), which the
# analyses must therefore mask (unmasked, the padded units would set the largest singular
# values and the product's norm).
CONTRACTING = {"gru": dict(gain=0.1, update_bias=-3.0), "lstm": dict(forget_bias=-3.0)}
JACOBIAN_SHAPES = [(2, 8), (256, 8), (257, 64), (700, 128)]


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("T, H", JACOBIAN_SHAPES)
def test_jacobians_equal_unpadded(cell, T, H):
    """The Why-it-vanishes program, padded in T (to LONGEST) and H, gives the singular
    values of every sampled J_t and log10 ‖∂h_{T−1}/∂h_t‖₂ of the unpadded cell: the public
    `step_jacobian_singular_values` and `bptt.jacobian_log10_norms` at the real shape."""
    c = one_layer.FlowConfig(cell=cell, T=T, H=H, **CONTRACTING.get(cell, {}))
    params, xs = unpadded(c)
    xs = xs[:, : one_layer.JACOBIAN_SEQUENCES]
    stride = one_layer.jacobian_stride(T, H)
    steps = jacobians.sampled_steps(T, stride)
    svals, log_profile, finite = (np.asarray(a) for a in one_layer._jacobian_program(
        *one_layer._jacobian_args(c, params, one_layer.config_inputs(c))))
    S = jacobians.state_size(cell, params)
    assert svals.shape[2] == S * one_layer.padded_width(H, one_layer.ANALYSIS_UNITS) // H
    np.testing.assert_array_equal(svals[len(steps):], np.nan)  # the empty slots
    want = jacobians.step_jacobian_singular_values(cell, params, xs, stride=stride)
    # Float32 SVDs (of a 32×32 matrix against an 8×8 one): each singular value to RTOL of
    # the largest of its J_t, below which float32 SVDs give round-off (step_jacobian_...).
    tol = RTOL * want.max(axis=-1, keepdims=True) + 1e-30
    np.testing.assert_array_less(np.abs(svals[: len(steps), :, :S] - want),
                                 np.broadcast_to(tol, want.shape))
    # The padded block's zeros come last (as float32 round-off of the largest).
    padded = svals[: len(steps), :, S:]
    np.testing.assert_array_less(padded, np.broadcast_to(tol, padded.shape))
    want_logs = np.asarray(bptt.jacobian_log10_norms(cell, params, xs, None, T, 2), np.float64)
    # Carried renormalised in log space: no floor, the product's rounding only.
    rtol = product_rtol(T)
    np.testing.assert_allclose(log_profile[steps], want_logs[steps], rtol=0,
                               atol=np.log10(1 + rtol))
    assert np.isneginf(log_profile[T:]).all()
    assert finite[:T].all()
    r = one_layer.jacobian_analysis(c)
    np.testing.assert_allclose(r.profile, 10.0 ** np.mean(want_logs[steps], axis=1), rtol=rtol)
    np.testing.assert_allclose(r.svals, jacobians.singular_value_quantiles(want), rtol=0,
                               atol=tol.max())


def test_contracting_cells_are_below_the_padded_units_half():
    """The contracting settings above shrink by more than ½ (else they would not test the
    masks): most singular values of J_t are below ½, where unmasked padded units' ½ would
    take their places, and the product falls faster than ½ a step."""
    for cell, extra in CONTRACTING.items():
        c = one_layer.FlowConfig(cell=cell, T=60, H=8, **extra)
        r = one_layer.jacobian_analysis(c)
        assert np.all(r.svals[1, 1:] < 0.5)  # the median
        assert r.profile[0] < 0.5 ** (c.T - 1)


# ------------------------------------------------------------------------------ connectivity

MAP_SHAPES = [(2, 8), (256, 8), (257, 64)]


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("T, H", MAP_SHAPES)
def test_connectivity_equals_unpadded(cell, T, H):
    """The Connectivity program, padded in T (to LONGEST) and H, gives the public map of
    the unpadded cell on its T steps: exact zeros (-inf) and NaN where it has them."""
    c = one_layer.FlowConfig(cell=cell, T=T, H=H, init="glorot", gain=1.2)
    r = one_layer.connectivity_map(c)
    params, xs = unpadded(c)
    want = jacobians.connectivity(cell, params, xs, stride=r.stride)
    assert r.log10_map.shape == want.shape
    # log10 of values down to 1e-40 carry their scales as float32 sums over the steps: to
    # RTOL, and to float32 rounding of the exponent (2e-6 of it) where the value is tiny.
    np.testing.assert_allclose(r.log10_map, want.astype(np.float32), rtol=2e-6, atol=LOG_ATOL,
                               equal_nan=True)


# ---------------------------------------------------------------------------------- catalogue


def test_catalogue_is_closed_and_each_entry_one_program():
    """Each entry compiles exactly one program, the families stay within their budgets, and
    once they are compiled no setting of pages 1-5 compiles one of them again."""
    entries = one_layer.catalogue()
    families = {}
    for p in entries:
        families[p.family] = families.get(p.family, 0) + 1
    assert families == {"gradient flow": 16, "jacobians": 12, "connectivity": 12, "inputs": 1}
    assert len({(p.family, p.label) for p in entries}) == len(entries)
    programs.clear()
    with programs.pinned(), programs.compile_only():
        for p in entries:
            before = programs.stats()["compiles"]
            p.call()
            assert programs.stats()["compiles"] == before + 1, p.label
    ours = {"_flow_program", "_jacobian_program", "_connectivity_log10", "_seeded_inputs"}

    def compiled():
        return [k for k in programs._compiled_before if k[0].__name__ in ours]

    n = len(compiled())
    rng = np.random.default_rng(0)
    for _ in range(6):
        c = one_layer.FlowConfig(cell=str(rng.choice(CELLS)), T=int(rng.integers(2, 1001)),
                                 H=int(rng.choice(one_layer.HIDDEN_SIZES)),
                                 inputs=str(rng.choice(INPUT_KINDS)),
                                 loss=str(rng.choice(["last", "all"])),
                                 seed=int(rng.integers(0, 2**31)))
        for view in (one_layer.gradient_flow, one_layer.gate_activity,
                     one_layer.jacobian_analysis, one_layer.connectivity_map):
            view(c)
    assert len(compiled()) == n


def test_first_programs_are_the_defaults_and_presets():
    first = {(p.family, p.label) for p in one_layer.catalogue() if p.first}
    assert first == set().union(*(one_layer.program_labels(c) for c in one_layer.first_configs()))
    assert one_layer.program_labels(one_layer.FlowConfig()) <= first
    assert ("gradient flow", "rnn, T ≤ 256, H ≤ 32") in first
    assert not any("H ≤ 128" in label for _, label in first)  # no preset is that wide
