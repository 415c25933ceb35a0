"""The engine: the cells, their initialisation, the synthetic tasks, validated settings,
the table of compiled programs, backpropagation through time (`bptt`: the one scan, unroll,
the zero-perturbation gradients, Jacobian norms), step Jacobians and connectivity
(`jacobians`), and the trainer. Pure JAX and numpy, no Streamlit. Imports point down only
(presentation -> experiments -> engine): nothing here imports rnnviz.experiments or
rnnviz.presentation."""
