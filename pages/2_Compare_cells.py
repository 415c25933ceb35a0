"""Compare cells: RNN, LSTM and GRU on the same inputs, seed, size and initialisation."""
from dataclasses import replace

import numpy as np
import streamlit as st

from rnnviz.engine.bptt import FLOOR
from rnnviz.engine.cells import CELL_LABELS
from rnnviz.experiments import claims, presets
from rnnviz.experiments.one_layer import blowup_explanation, summary_sentence
from rnnviz.presentation import plots, ui

COMPARED = ("rnn", "lstm", "gru")

config = ui.flow_page("Compare cells", ":material/compare_arrows:", choose_cell=False,
                      shows_model=False)
ui.model_elsewhere("it compares the three cells drawn with the same seed, size and "
                   "initialisation, and a trained model is one cell with its own weights.")

with ui.computing("Computing three cells (the first view compiles for a few seconds)…"):
    results = {cell: ui.gradient_flow(replace(config, cell=cell)) for cell in COMPARED}
    # Where the GRU fades fastest, the same GRU at larger update-gate biases, to say why.
    raised = claims.raised_gru_runs(
        results, config.update_bias,
        lambda b: ui.gradient_flow(replace(config, cell="gru", update_bias=b)))

st.markdown(
    "The same inputs, seed, hidden size and initialisation family, three cells. "
    "**Which one still delivers a gradient to the early steps?** A flatter curve means the "
    "cell can learn from further back."
)
for column, (cell, r) in zip(st.columns(len(COMPARED)), results.items()):
    label, value, help_text = claims.rate_metric(r.facts)
    column.metric(f"{CELL_LABELS[cell]}: {label[0].lower()}{label[1:]}", value, help=help_text)
    column.caption(summary_sentence(r, config.T))
    problem = blowup_explanation(r, config.T)
    if problem:
        column.error(problem)

st.markdown("#### The gradient that reaches step t, for each cell")
st.plotly_chart(
    ui.figure("gradient_profile", 
        {CELL_LABELS[c]: r.grad_norms for c, r in results.items()}, FLOOR,
        "‖∂L/∂h_t‖ per time step (log scale)",
        styles={CELL_LABELS[c]: plots.cell_line(c) for c in results},
    ),
    width="stretch",
)
ui.preset_narration(presets.COMPARE, results)  # under the chart it narrates
# Why the GRU fades fastest, under the chart that shows it (above, it pushed the chart
# below the fold at 1024×768).
gru_note = claims.gru_update_gate_note(results, config.update_bias, raised)
if gru_note:
    st.info(gru_note, icon=":material/lightbulb:")
st.markdown("#### Per hidden unit: |∂L/∂h_t|, one colour scale for all three")
st.plotly_chart(
    ui.figure("gradient_heatmap_row", {CELL_LABELS[c]: r.grad_map for c, r in results.items()},
                               FLOOR, "|∂L/∂h_t| per hidden unit (log colour)"),
    width="stretch",
)
st.caption("The colour bar spans the smallest to the largest nonzero value of the three maps; "
           "values below 1e-30 are clipped to 1e-30. Grey cells are exactly 0 with no path to "
           "the loss (no dependence). Blank cells are inf/NaN.")

csv = "t," + ",".join(f"grad_norm_{c}" for c in COMPARED) + "\n" + "".join(
    f"{t}," + ",".join(f"{results[c].grad_norms[t]:.6e}" for c in COMPARED) + "\n"
    for t in np.arange(config.T)
)
st.download_button("Download the three profiles (CSV)", csv,
                   file_name=f"rnnviz_compare_T{config.T}.csv", mime="text/csv")
