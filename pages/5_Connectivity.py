"""Connectivity: how much each hidden state still depends on each earlier input."""
import numpy as np
import streamlit as st

from rnnviz.engine.bptt import FLOOR
from rnnviz.experiments import one_layer
from rnnviz.presentation import plots, ui

config = ui.flow_page("Connectivity: what does h_t remember of x_s?", ":material/grid_on:")

with ui.computing("Computing ‖∂h_t/∂x_s‖ for every pair (the first view compiles)…"):
    # The student's model (the chosen layer of it), or the drawn network.
    config, view, r = ui.drawn_or_model(
        config, "connectivity", ui.connectivity_map, one_layer.connectivity_map)

st.markdown(
    "Each row is an output step t, each column an input step s. The colour says how strongly "
    "h_t still reacts to a nudge of the input x_s, as in Madsen's *Visualizing memorization in "
    "RNNs* (Distill 2019), but computed exactly and live. **Read a row from the diagonal to "
    "the left**: how fast it darkens is how fast the network forgets."
)
st.latex(r"C_{t,s} = \Big\|\frac{\partial h_t}{\partial x_s}\Big\|_F = "
         r"\Big\|J_t J_{t-1}\cdots J_{s+1}\,\frac{\partial h_s}{\partial x_s}\Big\|_F,"
         r"\qquad s \le t")
if view is not None:
    ui.model_view_note(view, ": x_s is what this layer reads at step s")
if r.stride > 1:
    st.caption(f"Showing one step in {r.stride} on both axes (the values are exact; a screen "
               f"has fewer pixels than {config.T}² pairs).")
if r.state_blowup_step is not None:
    st.error(f"The hidden state overflowed float32 at step {r.state_blowup_step}: rows from "
             "there on are blank (NaN).", icon=":material/warning:")

st.plotly_chart(
    ui.figure("connectivity_heatmap", r.steps, r.log10_map, FLOOR, "‖∂h_t/∂x_s‖ (log colour)"),
    width="stretch",
)
st.caption("Blank upper triangle: h_t cannot depend on a later input. The colour bar spans "
           "the smallest to the largest nonzero value; values below 1e-30 are clipped to "
           "1e-30. Grey cells are exactly 0: h_t does not depend on x_s at all.")

st.markdown("#### On average, how does the dependence fade with the distance t − s?")
lags = np.arange(r.by_lag.size) * r.stride
st.plotly_chart(
    ui.figure("gradient_profile", {"‖∂h_t/∂x_s‖, geometric mean over t": np.power(10.0, r.by_lag)},
                           FLOOR, "Connectivity against distance",
                           y_title="‖∂h_t/∂x_s‖ (log scale)", t=lags,
                           x_title="distance t − s (steps)", label_side="right",
                           styles={"‖∂h_t/∂x_s‖, geometric mean over t":
                                   plots.cell_line(config.cell)}),
    width="stretch",
)
rows = ["t,s,log10_connectivity"] + [
    f"{t},{s},{r.log10_map[i, j]:.4f}"
    for i, t in enumerate(r.steps) for j, s in enumerate(r.steps) if j <= i
]
st.download_button("Download the map (CSV, log10 values)", "\n".join(rows) + "\n",
                   file_name=f"rnnviz_connectivity_{config.cell}_T{config.T}.csv",
                   mime="text/csv")
