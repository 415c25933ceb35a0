"""The gradient-flow experiment: padded buckets give the exact unpadded numbers; config parsing."""
import functools

import jax
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import rnnviz
from rnnviz.engine.bptt import per_step_norms, per_unit_magnitudes
from rnnviz.engine.cells import CELLS
from rnnviz.engine.init import SCHEMES
from rnnviz.experiments import one_layer


def direct_norms(c: one_layer.FlowConfig) -> np.ndarray:
    """∂L/∂h_t norms without buckets: the public API on exactly T steps."""
    params, xs = one_layer.params_and_inputs(c)
    xs = xs[: c.T]
    loss = functools.partial(rnnviz.readout_loss, length=c.T, placement=c.loss)
    return rnnviz.hidden_grads(c.cell, params, xs, loss)["h"]


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("loss", ["last", "all"])
def test_bucketed_flow_equals_unpadded(cell, loss):
    """Padding to a length bucket changes nothing in the first T steps."""
    c = one_layer.FlowConfig(cell=cell, T=37, H=8, loss=loss, inputs="adding")
    result = one_layer.gradient_flow(c)
    g = direct_norms(c)
    np.testing.assert_allclose(result.grad_norms, per_step_norms(g), rtol=1e-5, atol=0)
    np.testing.assert_allclose(result.grad_map, per_unit_magnitudes(g), rtol=1e-5, atol=0)
    if loss == "last":
        assert result.grad_norms[-1] == pytest.approx(1.0, rel=1e-5)  # unit readout


def test_prefix_property_of_inputs():
    """A longer sequence extends the same inputs, across a bucket boundary too."""
    key = jax.random.PRNGKey(3)
    short = one_layer.padded_inputs(key, "noise", 30, 32)[:30]
    long = one_layer.padded_inputs(key, "noise", 40, 64)[:30]
    np.testing.assert_array_equal(short, long)


def test_adding_markers_fall_within_length():
    xs = np.asarray(one_layer.padded_inputs(jax.random.PRNGKey(0), "adding", 21, 32))
    markers = xs[:, :, 1]
    assert (markers[21:] == 0).all()
    assert (markers[:21].sum(axis=0) == 2).all()


def test_orthogonal_closed_form_on_page_numbers():
    """Zero inputs, orthogonal ×ρ: the page's curve is exactly ρ^(T−1−t), down to 1e-30."""
    rho, T = 0.7, 200
    c = one_layer.FlowConfig(cell="rnn", T=T, H=16, init="orthogonal", gain=rho, inputs="zeros")
    r = one_layer.gradient_flow(c)
    expected = rho ** np.arange(T - 1, -1, -1.0)
    ok = expected >= 1e-30
    np.testing.assert_allclose(r.grad_norms[ok], expected[ok], rtol=1e-4)
    assert r.grad_norms[ok].min() < 1e-25
    assert r.facts.direction == "falls" and r.facts.geometric
    assert r.steps_per_decade == pytest.approx(1 / np.log10(1 / rho), rel=1e-3)
    np.testing.assert_allclose(r.bound, expected, rtol=1e-4)  # λ₁ = ρ up to float32
    assert r.facts.below_floor_from is not None


def test_exploding_state_is_reported_not_raised():
    c = one_layer.FlowConfig(cell="rnn_relu", T=400, init="identity", gain=1.6)
    r = one_layer.gradient_flow(c)
    assert r.state_blowup_step is not None and 0 < r.state_blowup_step < 400
    text = one_layer.blowup_explanation(r, c.T)
    assert str(r.state_blowup_step) in text and "overflow" in text
    assert "blew up" in one_layer.summary_sentence(r, c.T)


def test_exploding_gradient_is_reported():
    c = one_layer.FlowConfig(cell="rnn", T=1000, init="orthogonal", gain=1.2, inputs="zeros")
    r = one_layer.gradient_flow(c)
    assert r.state_blowup_step is None
    assert r.grad_blowup_step is not None
    assert np.isfinite(r.grad_norms[r.grad_blowup_step + 1 :]).all()
    assert "overflowed float32" in one_layer.blowup_explanation(r, c.T)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("scheme", SCHEMES)
def test_every_cell_and_scheme_runs(cell, scheme):
    r = one_layer.gradient_flow(one_layer.FlowConfig(cell=cell, init=scheme, T=20, H=8))
    assert r.grad_norms.shape == (20,) and r.grad_map.shape == (20, 8)


def test_query_round_trip():
    c = one_layer.FlowConfig(cell="lstm", T=321, H=64, gain=0.95, radius=1.05,
                             radius_kind="singular", chrono=500, seed=42, loss="all")
    again, notices = one_layer.FlowConfig.from_query(c.to_query())
    assert again == c and notices == []


@pytest.mark.parametrize(
    "raw, field",
    [({"cell": "transformer"}, "cell"), ({"T": "-5"}, "T"), ({"T": "abc"}, "T"),
     ({"H": "1e12"}, "H"), ({"gain": "nan"}, "gain"), ({"seed": "1e400"}, "seed")],
)
def test_malformed_query_gives_notice_and_safe_value(raw, field):
    c, notices = one_layer.FlowConfig.from_query(raw)
    assert len(notices) == 1 and field in notices[0]
    assert c == one_layer.FlowConfig.from_query({})[0] or field in ("T", "H")


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(
    st.sampled_from([f.key for f in one_layer.FIELDS] + ["junk", ""]),
    st.one_of(st.text(), st.lists(st.text(), max_size=3),
              st.floats(allow_nan=True, allow_infinity=True).map(str),
              st.integers(min_value=-10**30, max_value=10**30).map(str)),
))
def test_any_query_gives_a_valid_config(raw):
    c, notices = one_layer.FlowConfig.from_query(raw)
    again, more = one_layer.FlowConfig.from_query(c.to_query())
    assert again == c and more == []
    assert 2 <= c.T <= one_layer.MAX_T and c.cell in CELLS


def test_gate_activity_matches_unroll():
    """The gates page shows the same activations as the public unroll, in gate order."""
    c = one_layer.FlowConfig(cell="lstm", T=50, H=8)
    r = one_layer.gate_activity(c)
    params = one_layer.make_params(c)
    key = jax.random.fold_in(jax.random.PRNGKey(c.seed), 1)
    xs = one_layer.padded_inputs(key, c.inputs, c.T, one_layer.bucket(c.T))[: c.T]
    hs, gates = rnnviz.unroll("lstm", params, xs)
    assert list(r.gates) == ["i", "f", "g", "o"]
    np.testing.assert_allclose(r.gates["f"], gates["f"][:, 0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(r.c, gates["c"][:, 0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(r.h, hs[:, 0], rtol=1e-5, atol=1e-6)
    prod = np.cumprod(np.asarray(gates["f"], np.float64)[1:], axis=0)
    expected = np.log10(prod).mean(axis=1)  # geometric mean over the batch
    np.testing.assert_allclose(r.horizon.log10_product[1:], expected, rtol=1e-4)


def unpadded_inputs(c):
    key = jax.random.fold_in(jax.random.PRNGKey(c.seed), 1)
    return one_layer.padded_inputs(key, c.inputs, c.T, one_layer.bucket(c.T))[: c.T]


@pytest.mark.parametrize("cell", CELLS)
def test_jacobian_page_numbers_equal_public_api(cell):
    from rnnviz.engine import jacobians

    c = one_layer.FlowConfig(cell=cell, T=40, H=8)
    r = one_layer.jacobian_analysis(c)
    params, xs = one_layer.make_params(c), unpadded_inputs(c)[:, : one_layer.JACOBIAN_SEQUENCES]
    profile = rnnviz.jacobian_norms(cell, params, xs, ord=2)
    with np.errstate(divide="ignore"):
        expected = np.exp(np.mean(np.log(profile), axis=1))
    np.testing.assert_allclose(r.profile, expected, rtol=1e-4)
    svals = jacobians.step_jacobian_singular_values(cell, params, xs)
    # The page's SVDs run at the padded width (32): singular values below ~1e-6·σ₁ of the
    # same J_t are float32 round-off (step_jacobian_singular_values), differently so.
    np.testing.assert_allclose(r.svals, jacobians.singular_value_quantiles(svals), rtol=1e-4,
                               atol=1e-5 * np.nanmax(svals))


def test_orthogonal_closed_form_on_jacobian_page():
    """Zero inputs, W_hh = ρQ: every singular value of J_t is ρ, the product is ρ^(T−1−t)."""
    rho, T = 0.8, 300
    r = one_layer.jacobian_analysis(one_layer.FlowConfig(cell="rnn", T=T, H=16, gain=rho,
                                                         inputs="zeros"))
    np.testing.assert_allclose(r.svals, rho, rtol=1e-5)
    assert r.steps.tolist() == list(range(0, T, 4))  # bucket 512 samples one step in 4
    np.testing.assert_allclose(r.profile, rho ** (T - 1.0 - r.steps), rtol=1e-4)
    assert r.profile[0] < 1e-28 and r.verdict.verdict == "vanishing guaranteed"
    np.testing.assert_allclose(np.abs(r.spectrum.eigenvalues["h"]), rho, rtol=1e-5)


@pytest.mark.parametrize("cell", CELLS)
def test_connectivity_page_numbers_equal_public_api(cell):
    from rnnviz.engine import jacobians

    c = one_layer.FlowConfig(cell=cell, T=300, H=8)  # bucket 512: stride 4
    r = one_layer.connectivity_map(c)
    expected = jacobians.connectivity(cell, one_layer.make_params(c), unpadded_inputs(c), stride=4)
    assert r.stride == 4 and r.log10_map.shape == (75, 75)
    np.testing.assert_allclose(r.log10_map, expected, atol=1e-3)


def test_both_loss_placements_share_one_compiled_program():
    from rnnviz.engine import programs

    programs.clear()
    c = one_layer.FlowConfig(cell="gru", T=50, H=8)
    one_layer.gradient_flow(c)
    compiles = programs.stats()["compiles"]
    one_layer.gradient_flow(one_layer.FlowConfig(cell="gru", T=50, H=8, loss="all"))
    assert programs.stats()["compiles"] == compiles


def test_warm_up_compiles_what_the_views_then_use():
    """After the warm-up of the pages' catalogue, computing a setting's views compiles
    nothing, and gives the same numbers as without a warm-up."""
    from rnnviz.engine import programs
    from rnnviz.experiments import catalogue

    c = one_layer.FlowConfig(cell="lstm", T=70, H=8, init="glorot", inputs="sine")
    views = (one_layer.gradient_flow, one_layer.jacobian_analysis, one_layer.connectivity_map)
    programs.clear()
    cold = [view(c) for view in views]
    programs.clear()
    entries = one_layer.catalogue()
    assert catalogue.warm_up(entries, patient=False) == len(entries)
    compiles = programs.stats()["compiles"]
    warm = [view(c) for view in views]
    assert programs.stats()["compiles"] == compiles
    np.testing.assert_array_equal(warm[0].grad_norms, cold[0].grad_norms)
    np.testing.assert_array_equal(warm[1].profile, cold[1].profile)
    np.testing.assert_array_equal(warm[2].log10_map, cold[2].log10_map)


@pytest.mark.parametrize("cell", CELLS)
def test_padded_units_stay_zero_and_change_no_real_unit(cell):
    """The one-pass program runs a cell of H = 8 at 32 units: the 24 added units are exactly
    0 in every state and gradient, and the real ones are what `bptt.flow` gives the cell
    itself (to float32 rounding: the matrix products sum over more, zero, terms)."""
    from rnnviz.engine.bptt import flow, readout_loss

    c = one_layer.FlowConfig(cell=cell, H=8, T=90, init="glorot", gain=1.5)
    params, xs = one_layer.params_and_inputs(c)
    padded = one_layer.pad_units(cell, params, 32)
    _, hs, gates, grads = one_layer._flow_program(cell, padded, xs, c.T, np.bool_(True),
                                                  np.int32(8))
    for a in (hs, grads["h"], *([grads["c"], gates["c"]] if cell == "lstm" else [])):
        assert a.shape[-1] == 32 and not np.asarray(a)[..., 8:].any()
    loss, want_hs, want_gates, want = flow(cell, params, xs,
                                           lambda h: readout_loss(h, c.T, "last"))
    got = one_layer._padded_flow(cell, params, xs, c.T, "last")

    def close(a, b):  # float32 rounding of values as large as the array's largest
        b = np.asarray(b)  # (`_padded_flow` runs at padded_length(T), past xs's steps)
        a = np.asarray(a)[: len(b)] if np.ndim(a) else a
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6 * np.abs(b).max())

    close(got[0], loss)
    close(got[1], want_hs)
    for name in want_gates:
        close(got[2][name], want_gates[name])
    for name in want:
        close(got[3][name], want[name])


def test_hidden_sizes_share_two_one_pass_programs():
    """H = 8, 16 and 32 run in one compiled one-pass program, 64 and 128 in another."""
    from rnnviz.engine import programs

    runs = [one_layer.params_and_inputs(one_layer.FlowConfig(cell="gru", H=H, T=50))
            for H in one_layer.HIDDEN_SIZES]
    programs.clear()
    counts = []
    for params, xs in runs:
        before = programs.stats()["compiles"]
        one_layer._padded_flow("gru", params, xs, 50, "all")
        counts.append(programs.stats()["compiles"] - before)
    assert counts == [1, 0, 0, 1, 0]
    assert one_layer.padded_width(200) == 200  # a wider uploaded cell runs at its own width


def test_jacobian_analyses_of_every_length_share_one_program_per_size():
    """The singular values and the profile of every length bucket and stride run in one
    program per (cell, width): the numbers are the public API's on the unpadded inputs."""
    from rnnviz.engine import jacobians, programs

    configs = [one_layer.FlowConfig(cell="gru", H=16, T=T, gain=1.2) for T in (30, 200, 300, 700)]
    programs.clear()
    results = [one_layer.jacobian_analysis(c) for c in configs]
    names = [key[0].__name__ for key in programs._programs]
    assert names.count("_jacobian_program") == 1  # the singular values and the profile
    for c, r in zip(configs, results):
        stride = one_layer.jacobian_stride(c.T, c.H)
        xs = unpadded_inputs(c)[:, : one_layer.JACOBIAN_SEQUENCES]
        params = one_layer.make_params(c)
        assert r.stride == stride and r.steps.tolist() == list(range(0, c.T, stride))
        svals = jacobians.step_jacobian_singular_values("gru", params, xs, stride=stride)
        np.testing.assert_allclose(r.svals, jacobians.singular_value_quantiles(svals), rtol=1e-4)
        profile = rnnviz.jacobian_norms("gru", params, xs, ord=2)[r.steps]
        np.testing.assert_allclose(r.profile, np.exp(np.mean(np.log(profile), axis=1)),
                                   rtol=1e-4)


def test_connectivity_maps_of_every_length_and_small_size_share_one_program():
    """One map program per cell for every length bucket and stride and for H = 8, 16, 32
    (padded to 32 units, the padded steps skipped): each map is the public API's map of the
    cell itself on its own unpadded inputs."""
    from rnnviz.engine import jacobians, programs

    configs = [one_layer.FlowConfig(cell="lstm", H=H, T=T, init="glorot", gain=1.3)
               for H, T in ((8, 30), (16, 100), (32, 200), (8, 300), (16, 1000))]
    programs.clear()
    maps = [one_layer.connectivity_map(c) for c in configs]
    assert [key[0].__name__ for key in programs._programs].count("_connectivity_log10") == 1
    assert [m.stride for m in maps] == [1, 1, 2, 4, 8]  # at most MAX_MAP_STEPS = 128
    for c, m in zip(configs[:4], maps):
        want = jacobians.connectivity("lstm", one_layer.make_params(c), unpadded_inputs(c),
                                      stride=m.stride)
        assert m.log10_map.shape == want.shape == (len(m.steps),) * 2
        np.testing.assert_allclose(m.log10_map, want, atol=1e-3, equal_nan=True)
