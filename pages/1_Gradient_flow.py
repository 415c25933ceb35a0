"""Gradient flow: how ∂L/∂h_t shrinks or grows going back through time."""
import numpy as np
import streamlit as st

from rnnviz import plots, ui
from rnnviz.cells import CELL_LABELS
from rnnviz.flow import FLOOR
from rnnviz.gradflow import below_floor_from, blowup_explanation, summary_sentence

config = ui.flow_page("Gradient flow through time", ":material/trending_down:")
with ui.computing("Computing the exact gradient (the first view compiles for a few seconds)…"):
    result = ui.gradient_flow(config)

st.markdown(
    "The loss reads the hidden state through a fixed readout of norm 1, so at the step "
    "it reads, ‖∂L/∂h‖ = 1. **Follow the curve to the left**: every step back multiplies "
    "the gradient by one more step Jacobian. Below 1 it vanishes, above 1 it explodes."
)
left, right = st.columns([1, 2])
left.metric(
    "Steps back per 10× change",
    "—" if result.steps_per_decade is None else f"{result.steps_per_decade:.1f}",
    help="From a straight-line fit of log10‖∂L/∂h_t‖ against t.",
)
right.subheader(summary_sentence(result, config.T))

problem = blowup_explanation(result, config.T)
if problem:
    st.error(problem, icon=":material/warning:")
first_lost = below_floor_from(result)
if first_lost is not None and problem is None:
    st.info(
        f"From step {first_lost} back, ‖∂L/∂h_t‖ is below 1e-30: drawn as crosses on the "
        "dotted floor line, not as a value. A network trained with this gradient learns "
        "nothing from those steps."
    )

st.markdown("#### How large is the gradient that reaches step t?")
norms = {"‖∂L/∂h_t‖": result.grad_norms}
if result.cell_grad_norms is not None:
    norms["‖∂L/∂c_t‖ (cell state)"] = result.cell_grad_norms
bound = result.bound if config.loss == "last" else None
st.plotly_chart(
    plots.gradient_profile(norms, FLOOR, "Gradient norm per time step (log scale)", bound),
    width="stretch",
)
if result.bound is not None:
    st.caption(
        f"Dashed: the bound (γλ₁)^(T−1−t) of Pascanu, Mikolov & Bengio 2013, with γ = 1 "
        f"(max of the activation's slope) and λ₁ = {result.lambda1:.3f} the largest singular "
        "value of W_hh. "
        + ("Here γλ₁ < 1, so the gradient must vanish at least this fast."
           if result.lambda1 < 1 else
           "Here γλ₁ ≥ 1: the bound allows growth. That is necessary for an explosion, "
           "not sufficient: saturated units (act′ < 1) can still make it vanish.")
        + ("" if config.loss == "last" else " (Drawn only when the loss is on the last step.)")
    )
st.latex(ui.BPTT_EQUATION)

st.markdown("#### Which hidden units still receive a learning signal?")
st.plotly_chart(
    plots.gradient_heatmap(result.grad_map, FLOOR, "|∂L/∂h_t| per hidden unit (log10 colour)"),
    width="stretch",
)
st.caption("Dark: the gradient there is tiny. The colour bar spans the smallest to the "
           "largest value; values below 1e-30 are clipped to 1e-30. Blank cells are inf/NaN.")

trained = ui.trained_model(config.cell)
if trained:
    st.markdown(f"#### Your trained {CELL_LABELS[config.cell]}: before and after training")
    before, after = trained["profiles"]
    st.plotly_chart(
        plots.gradient_profile({"at initialisation": before, "after training": after}, FLOOR,
                               "‖∂ℓ/∂h_t‖ of the task loss", y_title="‖∂ℓ/∂h_t‖ (log scale)"),
        width="stretch",
    )
    st.caption(ui.trained_model_caption(trained))

st.markdown("#### The cell")
ui.cell_equations(config.cell)

t = np.arange(config.T)
csv_rows = ["t,grad_norm" + (",cell_grad_norm" if result.cell_grad_norms is not None else "")]
for i in t:
    row = f"{i},{result.grad_norms[i]:.6e}"
    if result.cell_grad_norms is not None:
        row += f",{result.cell_grad_norms[i]:.6e}"
    csv_rows.append(row)
st.download_button(
    "Download the gradient norms (CSV)", "\n".join(csv_rows) + "\n",
    file_name=f"rnnviz_gradient_flow_{config.cell}_T{config.T}.csv", mime="text/csv",
)

# Last, so that the first view's compile and drawing do not compete with the warm-up's.
ui.warm_length_buckets(config.cell, config.H, config.inputs, config.loss)
