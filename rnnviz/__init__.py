"""rnnviz: exact, live views of gradient flow through recurrent networks (no Streamlit here)."""
import os

# JAX's CPU linear algebra (SVDs of step Jacobians) calls scipy's OpenBLAS, whose threads
# fight XLA's for two cores and make small SVDs 10-100x slower; it reads this at load time.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from rnnviz.engine.bptt import hidden_grads, jacobian_norms, layer_norms, readout_loss, unroll
from rnnviz.engine.cells import CELLS, CellParams, Network
from rnnviz.engine.init import from_keras, from_torch, init_params
from rnnviz.engine.tasks import adding_problem, make_inputs

__all__ = [
    "CELLS",
    "CellParams",
    "Network",
    "adding_problem",
    "from_keras",
    "from_torch",
    "hidden_grads",
    "init_params",
    "jacobian_norms",
    "layer_norms",
    "make_inputs",
    "readout_loss",
    "unroll",
]


def __getattr__(name: str):
    """`rnnviz.model_files` and `rnnviz.words` (students' files, and which words a prediction
    hears) are the experiment modules of those names, imported on first use."""
    if name in ("model_files", "words"):
        import importlib

        return importlib.import_module(f"rnnviz.experiments.{name}")
    raise AttributeError(f"module 'rnnviz' has no attribute {name!r}")
