"""The Deep & bidirectional page's padded programs against the public API at the real shape.

The page runs every setting in a few programs: MAX_LAYERS layers of two directions,
PADDED_T steps, a padded width, read at layer L − 1 (`deep.pad_network`). Each family
is compared with what the unpadded computation gives for the network as set: the
gradients with `rnnviz.hidden_grads` on the real `cells.Network`, the maps with
`jacobians.connectivity` on the real network and steps. Exact zeros must stay exact.
"""
import functools
import itertools
import os

import jax
import numpy as np
import pytest

import rnnviz
from rnnviz.engine import init, jacobians, programs
from rnnviz.engine.bptt import FLOOR, no_dependence
from rnnviz.engine.cells import CELLS
from rnnviz.experiments import deep, one_layer, presets

LENGTHS = (2, 100, 400)
# Every cell at every depth, the directions, widths and lengths taking turns so that each
# meets every cell (each case compiles its own reference: the whole product, 144 cases per
# family, takes ~20 min on two shared cores; RNNVIZ_FULL_GRID=1 runs it), and the largest
# network at the longest length.
GRID = sorted({(c, L, bool((i + j) % 2), (8, 64)[(i + j // 2) % 2], LENGTHS[(i + j) % 3])
               for i, c in enumerate(CELLS) for j, L in enumerate((1, 3, 4))}
              | {("lstm", 4, True, 64, 400)})
if os.environ.get("RNNVIZ_FULL_GRID"):
    GRID = list(itertools.product(CELLS, (1, 3, 4), (False, True), (8, 64), LENGTHS))


def config(cell, layers, bidirectional, H, T, read="last") -> deep.DeepConfig:
    return deep.DeepConfig(cell=cell, layers=layers, bidirectional=bidirectional, H=H,
                           T=T, read=read)


def assert_same_norms(got, want):
    """Equal to ~1e-5 relative down to FLOOR; below it the same steps, and the same exact
    zeros with no path to the loss (`bptt.no_dependence`); inf/NaN where they are.

    Below FLOOR (1e-30) the page says only "below 1e-30", and rightly: there the RMS gathers
    float32 subnormal terms, which XLA flushes to 0 or not depending on how it fused the
    sums (measured: up to 0.7 relative apart between two programs of the same network)."""
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    assert got.shape == want.shape
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_array_equal(np.isinf(got), np.isinf(want))
    np.testing.assert_array_equal(no_dependence(got), no_dependence(want))
    with np.errstate(invalid="ignore"):
        below = np.isfinite(want) & (want < FLOOR)
        np.testing.assert_array_equal(np.isfinite(got) & (got < FLOOR), below)
    shown = np.isfinite(want) & ~below
    np.testing.assert_allclose(got[shown], want[shown], rtol=1e-5, atol=0)


def assert_same_log10(got, want):
    """log10 maps: the same blanks (NaN) and exact zeros (-inf); elsewhere values equal to
    ~1e-5 relative, i.e. log10 within 5e-6 (and 1e-5 relative far from 0)."""
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    assert got.shape == want.shape
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_array_equal(np.isneginf(got), np.isneginf(want))
    ok = np.isfinite(want)
    np.testing.assert_allclose(got[ok], want[ok], rtol=1e-5, atol=5e-6)


def reference_norms(c: deep.DeepConfig, read_at=None) -> np.ndarray:
    """(L·D, T) ‖∂L/∂h_t‖ of the unpadded network on the real T steps."""
    params, xs = deep.make_params(c), deep.inputs(c)[: c.T]
    mask = deep.read_mask(c.read, c.T, c.T) if read_at is None else read_at
    loss = functools.partial(deep.masked_readout_loss, mask=mask)
    grads = rnnviz.hidden_grads(c.cell, params, xs, loss)["h"]
    return np.concatenate(rnnviz.engine.bptt.network_norms(grads))


@pytest.mark.parametrize("cell, layers, bidirectional, H, T", GRID)
def test_padded_flow_equals_hidden_grads_of_the_real_network(cell, layers, bidirectional, H, T):
    c = config(cell, layers, bidirectional, H, T, read="all" if T == 100 else "last")
    r = deep.deep_flow(c)
    assert_same_norms(r.depth_map, reference_norms(c))
    assert len(r.profiles) == layers * (2 if bidirectional else 1)


@pytest.mark.parametrize("cell, layers, bidirectional, H, T", GRID)
def test_padded_map_equals_connectivity_of_the_real_network(cell, layers, bidirectional, H, T):
    c = config(cell, layers, bidirectional, H, T)
    stride = deep.map_stride(T)
    got = deep.page_connectivity(c, stride=stride)
    xs = deep.inputs(c)[:T, : deep.CONNECTIVITY_SEQUENCES]
    assert_same_log10(got, jacobians.connectivity(cell, deep.make_params(c), xs,
                                                  stride=stride))


@pytest.mark.parametrize("read", ("first", "middle"))
def test_padded_flow_keeps_each_directions_exact_zeros(read):
    """Reading the first or middle step, each direction has steps with no path to the loss
    (exactly 0), and the padded program says so at the same steps."""
    c = config("lstm", 3, True, 8, 57, read=read)
    r = deep.deep_flow(c)
    want = reference_norms(c)
    assert (want == 0).any()
    assert_same_norms(r.depth_map, want)


@pytest.mark.parametrize("bidirectional, T", ((False, 150), (True, 60)))
def test_an_overflow_in_the_padding_changes_nothing(bidirectional, T):
    """A relu stack that overflows float32 soon after T steps (identity W_hh, gain 1.6):
    the padded program runs on to step PADDED_T and overflows there, yet the gradients
    and the map are the real network's, finite, with no 0·inf from the padded steps."""
    c = deep.DeepConfig(cell="rnn_relu", init="identity", gain=1.6, layers=3,
                        bidirectional=bidirectional, H=8, T=T)
    padded_ys, _ = deep._padded_flow(*deep._flow_arguments(
        c, deep.make_params(c), deep.inputs(c, padded=deep.PADDED_T)))
    assert c.T < rnnviz.engine.bptt.first_nonfinite(padded_ys) < deep.PADDED_T  # padding only
    r = deep.deep_flow(c)
    assert r.state_blowup_step is None
    want = reference_norms(c)
    assert np.isfinite(want).all()
    assert_same_norms(r.depth_map, want)
    xs = deep.inputs(c)[: c.T, : deep.CONNECTIVITY_SEQUENCES]
    stride = deep.map_stride(c.T)
    assert_same_log10(deep.page_connectivity(c, stride=stride),
                      jacobians.connectivity(c.cell, deep.make_params(c), xs, stride=stride))


def test_an_overflow_is_where_the_real_network_has_it():
    """Overflowing within the real steps: the same blow-up step and the same inf/NaN."""
    c = deep.DeepConfig(cell="rnn_relu", init="identity", gain=1.6, layers=3,
                        bidirectional=False, H=8, T=300, read="first")
    r = deep.deep_flow(c)
    params, xs = deep.make_params(c), deep.inputs(c)[: c.T]
    ys = np.asarray(rnnviz.unroll(c.cell, params, xs)[0])
    assert r.state_blowup_step == rnnviz.engine.bptt.first_nonfinite(ys) < c.T
    assert_same_norms(r.depth_map, reference_norms(c))


def test_pad_network_pads_each_direction_half():
    """A layer above reads [forward | backward] of width 2·width, each real direction's H
    columns at the start of its half; missing directions and layers are zero."""
    c = config("gru", 2, False, 8, 10)
    net = deep.make_params(c)
    padded = deep.pad_network("gru", net, 16)
    assert (padded.num_layers, padded.directions, padded.hidden_size) == (4, (2,) * 4, 16)
    w = padded.layers[1][0].w_ih  # (3·16, 2·16)
    real = np.asarray(net.layers[1][0].w_ih)  # (3·8, 8)
    for g in range(3):
        np.testing.assert_array_equal(w[g * 16: g * 16 + 8, :8], real[g * 8: (g + 1) * 8])
    assert np.count_nonzero(w) == np.count_nonzero(real)
    for k, d in ((0, 1), (1, 1), (2, 0), (3, 1)):
        assert not any(np.any(a) for a in padded.layers[k][d])
    np.testing.assert_array_equal(deep.real_features(8, 2, 16),
                                  np.repeat([True, False, True, False], 8))


# --- the catalogue -----------------------------------------------------------------------

PAGE_PROGRAMS = ("_padded_flow", "_padded_connectivity")


def page_keys() -> set:
    return {key for key in programs._compiled_before if key[0].__name__ in PAGE_PROGRAMS}


def test_catalogue_lists_each_program_once_and_the_first_views_first():
    listed = deep.catalogue()
    assert len(listed) == 2 * len(CELLS) * len(deep.PADDED_WIDTHS) <= 16
    assert {p.family for p in listed} == {"deep flow", "deep connectivity"}
    assert len({(p.family, p.label) for p in listed}) == len(listed)
    first = {(p.family, p.label.split(",")[0], p.label.rsplit("≤ ", 1)[1])
             for p in listed if p.first}
    wanted = [deep.DeepConfig()] + [deep.DeepConfig.from_query(p.query)[0]
                                    for p in presets.PRESETS if p.page == presets.DEEP]
    assert first == {(family, c.cell, str(deep.padded_width(c.H)))
                     for c in wanted for family in ("deep flow", "deep connectivity")}


def random_settings(n: int, seed: int = 0) -> list:
    """Page settings across every cell, depth, directions, H, T and reading."""
    rng = np.random.default_rng(seed)
    return [deep.DeepConfig(cell=str(rng.choice(CELLS)), layers=int(rng.integers(1, 5)),
                            bidirectional=bool(rng.integers(2)),
                            H=int(rng.choice(deep.HIDDEN_SIZES)),
                            T=int(rng.integers(2, deep.MAX_T + 1)),
                            read=str(rng.choice(deep.READS))) for _ in range(n)]


def test_every_setting_runs_a_program_of_the_catalogue(monkeypatch):
    """Each entry is one distinct program, and the page's settings run only those: every
    call's program key (what `programs.jit` compiles once per) recorded, traced only."""
    seen = []

    def record(fun, static, dynamic, compiler_options=None, one_at_a_time=False, light=False):
        leaves, treedef = jax.tree.flatten(dynamic)
        if fun.__name__ in PAGE_PROGRAMS:
            seen.append((fun, static, treedef, tuple(jax.typeof(x) for x in leaves)))
        out = jax.eval_shape(lambda d: fun(**d, **dict(static)), dynamic)
        return jax.tree.map(lambda a: np.zeros(a.shape, a.dtype), out)

    monkeypatch.setattr(programs, "_run", record)
    # The recorder's zeros are no weights: a fresh store of kept draws, dropped afterwards.
    monkeypatch.setattr(init, "_kept", type(init._kept)())
    one_layer._weights.cache_clear()  # and no memoised weights, before or after
    try:
        for p in deep.catalogue():
            p.call()
        listed = set(seen)
        assert len(listed) == len(seen) == len(deep.catalogue())
        seen.clear()
        for c in random_settings(12) + [deep.DeepConfig()]:
            deep.deep_flow(c)
            deep.two_sided(c)
        assert seen and set(seen) <= listed
    finally:
        one_layer._weights.cache_clear()


def test_after_the_default_programs_the_default_view_compiles_none():
    """The real machinery: the default view's catalogue entries compiled ahead (compile
    only), then the default settings compile none of the page's programs."""
    programs.clear()
    with programs.compile_only():
        for p in deep.catalogue():
            if p.first and "lstm," in p.label:
                p.call()
    keys = page_keys()
    assert len(keys) == 2
    deep.deep_flow(deep.DeepConfig())
    deep.two_sided(deep.DeepConfig())
    assert page_keys() == keys
