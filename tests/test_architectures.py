"""The Architectures page: each architecture's map ‖∂ℓ_j/∂x_i‖ against separate jax.grad
calls at the real shapes (no padding, no vmap) and against finite differences, where the
losses attach and inputs enter, and every sentence against the maps."""
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rnnviz.engine.cells import STEPS, init_carry
from rnnviz.experiments import architectures as arch
from rnnviz.experiments import one_layer
from rnnviz.experiments.claims import format_value
from tests.test_app import open_page as open_app_page

T, H = 6, 8


def config(cell, **kw):
    return arch.ArchConfig(cell=cell, T=T, H=H, **kw)


def states(cell, params, xs, carry=None):
    """Python loop of the cell over xs (T, B, I) at its real width: the states and the
    final carry."""
    carry = init_carry(cell, jnp.zeros((xs.shape[1], H), xs.dtype)) if carry is None else carry
    hs = []
    for x in xs:
        carry, _ = STEPS[cell](params, carry, x)
        hs.append(carry[0])
    return jnp.stack(hs), carry


def ell(hs, j):
    """ℓ_j per sequence: the unit-norm readout of h_j (B,)."""
    return hs[j].sum(-1) / np.sqrt(H)


def reference(c):
    """The four maps, one jax.grad of Σ_b ℓ_j per output j (each sequence's ℓ_j depends on
    its own inputs only, so row b of the gradient is ∂ℓ_j,b/∂x)."""
    enc = one_layer.make_params(c.flow_config(0))
    dec = one_layer.make_params(c.flow_config(1))
    xs = jnp.asarray(arch.inputs(c)[:c.T], jnp.float32)

    def one_cell(xs, j):
        return ell(states(c.cell, enc, xs)[0], j).sum()

    def seq2seq(xs, j):
        _, carry = states(c.cell, enc, xs)
        return ell(states(c.cell, dec, jnp.zeros_like(xs), carry)[0], j).sum()

    def rms(g):  # (T_in, B, I) -> (T_in,)
        return np.sqrt(np.mean(np.sum(np.asarray(g, np.float64) ** 2, -1), -1))

    first_only = xs.at[1:].set(0.0)
    full = np.stack([rms(jax.grad(one_cell)(xs, j)) for j in range(c.T)])
    seeded = np.stack([rms(jax.grad(one_cell)(first_only, j)) for j in range(c.T)])
    ed = np.stack([rms(jax.grad(seq2seq)(xs, j)) for j in range(c.T)])
    return full, seeded, ed


@pytest.mark.parametrize("cell", arch.CELLS)
def test_each_map_equals_separate_gradients_at_the_real_shapes(cell):
    c = config(cell, gain=1.2)
    m = arch.maps(c)
    full, seeded, ed = reference(c)
    np.testing.assert_allclose(m.aligned, full, rtol=2e-4, atol=1e-9)
    np.testing.assert_allclose(m.many_to_one[-1], full[-1], rtol=2e-4, atol=1e-9)
    np.testing.assert_allclose(m.one_to_many[:, 0], seeded[:, 0], rtol=2e-4, atol=1e-9)
    np.testing.assert_allclose(m.encoder_decoder, ed, rtol=2e-4, atol=1e-9)


@pytest.mark.parametrize("cell", arch.CELLS)
def test_losses_attach_and_inputs_enter_where_each_architecture_says(cell):
    m = arch.maps(config(cell))
    assert np.isnan(m.many_to_one[:-1]).all() and np.isfinite(m.many_to_one[-1]).all()
    assert np.isnan(m.one_to_many[:, 1:]).all() and (m.one_to_many[:, 0] > 0).all()
    assert (np.triu(m.aligned, 1) == 0).all() and (m.aligned[np.tril_indices(T)] > 0).all()
    assert (m.encoder_decoder > 0).all()  # every output hears every source input


def test_the_encoder_decoder_map_against_finite_differences():
    """Central differences in float64 on the float64 weights, for a few (j, i)."""
    c = config("gru", gain=1.1)
    enc, dec = (jax.tree.map(lambda a: jnp.asarray(a, jnp.float64),
                             one_layer.make_params(c.flow_config(k))) for k in (0, 1))
    xs = np.asarray(arch.inputs(c)[:T], np.float64)

    def ells(xs):
        _, carry = states("gru", enc, jnp.asarray(xs))
        return np.asarray(states("gru", dec, jnp.zeros_like(xs), carry)[0].sum(-1) / np.sqrt(H))

    m = arch.maps(c).encoder_decoder
    eps = 1e-6
    for j, i in ((0, T - 1), (0, 0), (T - 1, 0), (2, 3)):
        g = np.zeros(xs.shape[1:])  # (B, I)
        for b in range(xs.shape[1]):
            for k in range(xs.shape[2]):
                up, down = xs.copy(), xs.copy()
                up[i, b, k] += eps
                down[i, b, k] -= eps
                g[b, k] = (ells(up)[j, b] - ells(down)[j, b]) / (2 * eps)
        want = np.sqrt(np.mean(np.sum(g ** 2, -1)))
        assert m[j, i] == pytest.approx(want, rel=1e-3), (j, i)


def numbers(text):
    return re.findall(r"\d+(?:\.\d+)?(?:e-?\d+)?", text)


@pytest.mark.parametrize("cell", arch.CELLS)
def test_every_sentence_states_the_maps_numbers(cell):
    m = arch.maps(config(cell))
    s = arch.sentences(m)
    v = format_value
    assert f"x_{T - 1} at {v(m.many_to_one[-1, -1])} and x_0 at {v(m.many_to_one[-1, 0])}" in s["many_to_one"]
    assert f"input at {v(float(np.median(np.diag(m.aligned))))}" in s["aligned"]
    assert f"ℓ_0 at {v(m.aligned[0, 0])} and ℓ_{T - 1} at {v(m.aligned[-1, 0])}" in s["aligned"]
    assert "exactly 0 (grey)" in s["aligned"]
    col = m.one_to_many[:, 0]
    assert f"ℓ_0 hears it at {v(col[0])}, ℓ_{T - 1} at {v(col[-1])}" in s["one_to_many"]
    fades = col[-1] * 1.5 < col[0]
    assert ("learn little" in s["one_to_many"]) == fades
    ed = m.encoder_decoder
    assert f"x_{T - 1} at {v(ed[0, -1])} and the first, x_0, at {v(ed[0, 0])}" in s["encoder_decoder"]
    assert f"hears x_0 at {v(ed[-1, 0])}, along a path of {2 * T - 1} steps" in s["encoder_decoder"]


def test_a_ratio_is_named_by_its_direction_and_size():
    assert arch._ratio(1.0, 0.01) == "100× weaker"
    assert arch._ratio(0.01, 1.0) == "100× stronger"
    assert arch._ratio(1.0, 0.9) == "about as strong"
    assert "not measurable" in arch._ratio(1.0, np.inf)
    assert "not measurable" in arch._ratio(1.0, 0.0)


def test_an_exploding_setting_gives_sentences_and_a_colour_range_not_an_exception():
    m = arch.maps(arch.ArchConfig(cell="rnn", T=arch.MAX_T, gain=4.0))
    assert all(isinstance(t, str) and t for t in arch.sentences(m).values())
    lo, hi = arch.log10_range(m)
    assert np.isfinite([lo, hi]).all() and hi >= lo + 1


def test_the_config_from_a_bad_url_is_clamped_with_notices():
    c, notices = arch.ArchConfig.from_query({"T": "500", "cell": "transformer", "H": "7"})
    assert c.T == arch.MAX_T and c.cell == "rnn" and c.H == 8 and len(notices) == 3


# --- The page -------------------------------------------------------------------------------

PAGE = "pages/10_Architectures.py"


def open_page(query=None):
    return open_app_page(PAGE, query)


def test_the_page_shows_four_diagrams_four_maps_and_their_sentences():
    at = open_page({"cell": "lstm", "T": "12", "H": "16"})
    assert not at.exception
    assert len(at.get("plotly_chart")) == 8
    infos = [i.value for i in at.info]
    assert infos == list(arch.sentences(arch.maps(arch.ArchConfig("lstm", 12, 16))).values())
    for key, value in (("ar_cell", "gru"), ("ar_init", "pytorch")):
        at.selectbox(key=key).set_value(value).run()
    at.slider(key="ar_T").set_value(40).run()
    at.select_slider(key="ar_H").set_value(8).run()
    at.number_input(key="ar_gain").set_value(4.0).run()
    at.number_input(key="ar_seed").set_value(7).run()
    assert not at.exception and len(at.info) == 4
    assert at.query_params["T"] in ("40", ["40"]) and at.query_params["cell"] in ("gru", ["gru"])


def test_a_bad_url_gives_notices_and_the_page_still_draws():
    at = open_page({"T": "9999", "gain": "nan", "cell": "<b>x</b>"})
    assert not at.exception
    assert len(at.warning) == 3 and len(at.get("plotly_chart")) == 8
