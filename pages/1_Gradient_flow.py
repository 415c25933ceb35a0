"""Gradient flow: how ∂L/∂h_t shrinks or grows going back through time."""
import numpy as np
import streamlit as st

from rnnviz.engine.bptt import FLOOR
from rnnviz.engine.cells import CELL_LABELS
from rnnviz.experiments import claims, one_layer, presets
from rnnviz.experiments.one_layer import blowup_explanation, forward_sentence, summary_sentence
from rnnviz.presentation import plots, ui

config, overlay = ui.flow_page("Gradient flow through time", ":material/trending_down:",
                               overlay=True)
with ui.computing("Computing the exact gradient (the first view compiles for a few seconds)…"):
    # The student's model (the chosen layer of it), or the drawn network.
    config, view, result = ui.drawn_or_model(
        config, "flow", ui.gradient_flow, one_layer.gradient_flow)

label, value, help_text = claims.rate_metric(result.facts)
left, right = st.columns([1, 3])
left.metric(label, value, help=help_text)
headline = summary_sentence(result, config.T)
if view is not None:  # which layer and direction of the student's model
    headline = f"{view.title}: {headline[0].lower()}{headline[1:]}"
right.subheader(headline)
st.caption(
    "The loss reads the hidden state through a fixed readout of norm 1, so at the step it "
    "reads, ‖∂L/∂h‖ = 1. **Follow the curve to the left**: every step back multiplies the "
    "gradient by one more step Jacobian. Below 1 it vanishes, above 1 it explodes."
)
problem = blowup_explanation(result, config.T)
if problem:
    st.error(problem, icon=":material/warning:")

st.markdown("#### How large is the gradient that reaches step t?")
if view is None:  # a preset's settings: what the chart shows, right above it
    ui.preset_narration(presets.FLOW, result)
norms = {"‖∂L/∂h_t‖": result.grad_norms}
if result.cell_grad_norms is not None:
    norms["‖∂L/∂c_t‖ (cell state)"] = result.cell_grad_norms
bound = result.bound if config.loss == "last" else None
st.plotly_chart(
    ui.figure("gradient_profile", norms, FLOOR, "Gradient norm per time step (log scale)", bound,
                           styles={name: plots.cell_line(config.cell, dash=dash)
                                   for name, dash in zip(norms, ("solid", "dot"))}),
    width="stretch",
)
if view is not None:
    ui.model_view_note(view, loss=True)
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

if overlay.knob is not None:
    st.markdown(f"#### One setting, several values: {ui.OVERLAY_LABELS[overlay.knob]}")
    runs = [(name, ui.gradient_flow(c)) for name, c in one_layer.overlay_configs(config, overlay)]
    st.plotly_chart(
        ui.figure("profile_overlay", [(name, r.grad_norms) for name, r in runs], FLOOR,
                              "‖∂L/∂h_t‖ for each value (log scale)"),
        width="stretch",
    )
    st.markdown("\n".join(f"- **{name}**: {summary_sentence(r, r.facts.T)}" for name, r in runs))

st.markdown("#### Which hidden units still receive a learning signal?")
st.plotly_chart(
    ui.figure("gradient_heatmap", result.grad_map, FLOOR, "|∂L/∂h_t| per hidden unit (log colour)"),
    width="stretch",
)
st.caption("Dark: the gradient there is tiny. The colour bar spans the smallest to the "
           "largest nonzero value; values below 1e-30 are clipped to 1e-30. Grey cells are "
           "exactly 0 with no path to the loss (no dependence). Blank cells are inf/NaN.")

st.markdown("#### The forward pass behind it: how large is h_t, how much do the slopes pass?")
marks = {}
if result.state_blowup_step is not None:
    marks[f"h_t overflows at t = {result.state_blowup_step}"] = result.state_blowup_step
elif result.grad_blowup_step is not None:
    marks[f"gradient overflows at t = {result.grad_blowup_step}"] = result.grad_blowup_step
fwd = result.forward
st.plotly_chart(
    ui.figure("forward_panel", 
        fwd.state_norms, fwd.per_step,
        f"mean {fwd.slope_name}(a_t)" if fwd.slope_name else "fraction saturated",
        marks, "‖h_t‖ and " + (f"the mean slope {fwd.slope_name}" if fwd.slope_name
                              else "the gates' saturated fraction") + " per step",
        cell=config.cell),
    width="stretch",
)
st.caption(forward_sentence(result) + (
    "" if fwd.slope_name else " A gate counts as saturated below 0.1 or above 0.9 (the tanh "
    "candidates below −0.9 or above 0.9): there its slope, and the gradient through it, is "
    "almost 0."))

trained = ui.trained_model(config.cell) if view is None else None
if trained:
    st.markdown(f"#### Your trained {CELL_LABELS[config.cell]}: before and after training")
    before, after = trained["profiles"]
    st.plotly_chart(
        ui.figure("gradient_profile", {"at initialisation": before, "after training": after}, FLOOR,
                               "‖∂ℓ/∂h_t‖ of the task loss", y_title="‖∂ℓ/∂h_t‖ (log scale)",
                               styles={"at initialisation": plots.cell_line(config.cell, "init"),
                                       "after training": plots.cell_line(config.cell, "trained")}),
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
    file_name=f"rnnviz_gradient_flow_{'model_' if view else ''}{config.cell}_T{config.T}.csv",
    mime="text/csv",
)
