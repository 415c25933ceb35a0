"""The one-layer engine outputs that must not change when networks arrive (issue 11).

`one_layer_outputs()` uses only calls that existed before stacks and directions were added;
``tests/data/one_layer_before.npz`` holds what it returned with the engine of commit
9d378e3 (rnnviz/cells, flow, init, analysis before the change; jax 0.10.2, float32 on x86
CPU), and tests/test_network.py asserts that today's code returns the same arrays, bit
for bit. Regenerate only from code known to be right:
``python -c "from tests.one_layer_outputs import save; save()"``.
"""
import functools
import pathlib

import jax
import jax.numpy as jnp
import numpy as np

import rnnviz
from rnnviz.engine import jacobians
from rnnviz.engine.init import SCHEMES

FIXTURE = pathlib.Path(__file__).parent / "data" / "one_layer_before.npz"
T, B, I, H = 9, 2, 3, 4


def one_layer_outputs() -> dict:
    """name -> array: init_params, unroll, hidden_grads, jacobian_norms, connectivity."""
    out = {}
    for cell in rnnviz.CELLS:
        for scheme in SCHEMES:
            p = rnnviz.init_params(jax.random.PRNGKey(3), cell, I, H, scheme=scheme)
            out.update({f"{cell}/init/{scheme}/{n}": a for n, a in zip(p._fields, p)})
        p = rnnviz.init_params(jax.random.PRNGKey(4), cell, I, H, scheme="glorot", gain=1.3,
                               spectral_radius=0.9, forget_bias=2.0, update_bias=1.0)
        out.update({f"{cell}/init/options/{n}": a for n, a in zip(p._fields, p)})
        p = rnnviz.init_params(jax.random.PRNGKey(6), cell, I, H)
        rng = np.random.default_rng(7)
        xs = jnp.asarray(rng.standard_normal((T, B, I)), jnp.float32)
        h0 = jnp.asarray(0.5 * rng.standard_normal((B, H)), jnp.float32)
        for start, h, placement in (("zero", None, "last"), ("h0", h0, "all")):
            hs, gates = rnnviz.unroll(cell, p, xs, h)
            out[f"{cell}/unroll/{start}/hs"] = hs
            out.update({f"{cell}/unroll/{start}/{k}": v for k, v in gates.items()})
            loss_fn = functools.partial(rnnviz.readout_loss, length=T, placement=placement)
            grads = rnnviz.hidden_grads(cell, p, xs, loss_fn, h)
            out.update({f"{cell}/grads/{start}/{placement}/{k}": v for k, v in grads.items()})
        out[f"{cell}/jacobian/fro"] = rnnviz.jacobian_norms(cell, p, xs, h0)
        for mode in ("forward", "reverse") if cell == "lstm" else ("forward",):
            out[f"{cell}/connectivity/{mode}"] = jacobians.connectivity(cell, p, xs, mode=mode)
    return {k: np.asarray(v) for k, v in out.items()}


def save(path=FIXTURE) -> None:
    jax.config.update("jax_enable_x64", True)  # as tests/conftest.py runs them
    path.parent.mkdir(exist_ok=True)
    np.savez_compressed(path, **one_layer_outputs())


def load(path=FIXTURE) -> dict:
    with np.load(path, allow_pickle=False) as f:
        return dict(f)
