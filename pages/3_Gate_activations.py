"""Gate activations: what the LSTM and GRU gates do over time, and what that does to memory."""
import numpy as np
import streamlit as st

from rnnviz.engine.cells import CELL_LABELS
from rnnviz.experiments import one_layer
from rnnviz.presentation import plots, ui

GATE_TEXT = {
    "i": "input gate i: how much of g is written",
    "f": "forget gate f: how much of c is kept",
    "g": "candidate g: what would be written",
    "o": "output gate o: how much of c is shown",
    "r": "reset gate r: how much of h enters n",
    "z": "update gate z: how much of h is kept",
    "n": "candidate n: the proposed new state",
}
TANH_GATES = ("g", "n")

config = ui.flow_page("Gate activations", ":material/tune:", page=ui.GATED_PAGE)

with ui.computing("Running the cell (the first view compiles for a few seconds)…"):
    # The student's model (the chosen layer of it), or the drawn network.
    config, view, result = ui.drawn_or_model(
        config, "gates", ui.gate_activity, one_layer.gate_activity)

st.markdown(
    "A gate is a sigmoid between 0 (closed) and 1 (open). Its slope σ′ = σ(1 − σ) is at most "
    "1/4 and **almost 0 when the gate is saturated**: a saturated gate no longer learns, and "
    "whatever it multiplies passes (≈ 1) or is blocked (≈ 0), the gradient included. An "
    "LSTM whose forget gates sit near 1 passes the cell-state gradient back almost "
    "unchanged; near 0, it cuts it."
)
if result.state_blowup_step is not None:
    st.error(f"The hidden state overflowed float32 (above about 3.4e38) at step "
             f"{result.state_blowup_step}: each step multiplied it by more than 1. Values from "
             "there on are inf/NaN and drawn blank. Lower the gain or use tanh.",
             icon=":material/warning:")
if view is not None:
    ui.model_view_note(view)
if not result.gates and view is not None:
    st.info(f"Your model's cell, a {CELL_LABELS[config.cell]}, has no gates: below is its "
            "hidden state.", icon=":material/info:")
elif not result.gates:
    st.info(f"The {CELL_LABELS[config.cell]} has no gates: choose the LSTM or the GRU in the "
            "sidebar. Below is its hidden state.", icon=":material/info:")
else:
    st.markdown("#### How often is each gate saturated? (Karpathy, Johnson & Fei-Fei 2015)")
    st.plotly_chart(ui.figure("saturation_bars", result.saturation, "Saturated fraction per gate"),
                    width="stretch")
    st.caption("Sigmoid gates count as saturated below 0.1 or above 0.9; the tanh candidates "
               "(g, n) below −0.9 or above 0.9. Over all steps, sequences and units.")

if result.horizon is not None:
    horizon = result.horizon
    st.markdown("#### How long does the cell state remember step 0?")
    st.latex(r"\frac{\partial c_t}{\partial c_0}\Big|_{\text{cell path}} = "
             r"\operatorname{diag}\Big(\prod_{k=1}^{t} f_k\Big)")
    median = horizon.median_steps
    st.metric("Median steps until ∏f < 0.1 (the cell has forgotten 90%)",
              "longer than T" if not np.isfinite(median) else f"{median:.0f}")
    floor = float(np.log10(1e-30))
    st.plotly_chart(
        ui.figure("time_unit_heatmap", 
            np.maximum(horizon.log10_product, floor), "Running product of forget gates ∏f",
            "∏ f", floor, 0.0, log10=True,
        ),
        width="stretch",
    )
    st.caption("Bright: the unit still holds what it wrote at step 0. Dark: forgotten. "
               "Averaged (geometrically) over the sequences of the batch.")

if result.gates:
    st.markdown("#### Each gate over time (first sequence)")
    st.plotly_chart(ui.figure("gate_maps", result.gates, GATE_TEXT, TANH_GATES), width="stretch")

trained = ui.trained_model(config.cell) if view is None else None
if trained and result.gates:
    from rnnviz.engine.jacobians import gate_saturation

    st.markdown(f"#### Your trained {CELL_LABELS[config.cell]}: gates before and after training")
    before, after = (gate_saturation(g) for g in ui.trained_gates(trained))
    top = plots.saturation_top(before, after)  # one scale, so the two can be compared
    for column, (label, saturation) in zip(st.columns(2), (("at initialisation", before),
                                                           ("after training", after))):
        column.plotly_chart(ui.figure("saturation_bars", saturation, label, top=top),
                            width="stretch")
    st.caption(ui.trained_model_caption(trained))

st.markdown("#### The state the gates produce (first sequence)")
states = [("h_t, hidden state", result.h)]
if result.c is not None:
    states.append(("c_t, cell state", result.c))
for column, (label, values) in zip(st.columns(len(states)), states):
    bound = float(np.nanmax(np.abs(values[np.isfinite(values)]), initial=1.0))
    column.plotly_chart(
        ui.figure("time_unit_heatmap", values, label, label.split(",")[0], -bound, bound,
                                colorscale="RdBu"),
        width="stretch",
    )
ui.cell_equations(config.cell)
rows = ["gate,saturated_low,saturated_high"] + [
    f"{n},{s.left_overall:.6f},{s.right_overall:.6f}" for n, s in result.saturation.items()
]
st.download_button("Download the saturation statistics (CSV)", "\n".join(rows) + "\n",
                   file_name=f"rnnviz_gates_{config.cell}.csv", mime="text/csv")
