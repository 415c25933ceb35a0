"""Deep & bidirectional: the gradient through depth and time at once, and both sides of a sequence."""
from dataclasses import replace

import streamlit as st

from rnnviz import deepflow, plots, ui
from rnnviz.flow import FLOOR

menu = ui.page_frame("Deep & bidirectional networks", ":material/stacks:")
config = ui.deep_controls()
model = ui.model_upload("dp_model")
query = ui.write_url(config.to_query(), "dp")
ui.menu(menu, query)
ui.share_link(query)
ui.show_notices("dp")

with ui.computing("Computing every layer's gradient (the first view compiles for a few seconds)…"):
    if model is None:
        result = ui.deep_flow(config)
    else:  # the student's own weights: this session only, not cached for others
        config = deepflow.model_config(model, config)
        result = deepflow.deep_flow(config, model.params, deepflow.model_inputs(model, config))

where = deepflow.READ_LABELS[config.read]
st.markdown(
    f"The loss reads the top layer's output at **{where}** through a readout of norm 1. "
    "Each row of the map is one layer (and direction); **follow a row to see the gradient "
    "fade along time, go down the rows to see it fade with depth**."
    + (" The backward direction (←) read the sequence from the end, so its gradient runs "
       "toward later steps." if config.bidirectional else "")
)
if result.state_blowup_step is not None:
    st.error(f"The forward pass overflowed float32 at step {result.state_blowup_step}: the "
             "gradient from there on is inf/NaN and not drawn. Lower the gain.",
             icon=":material/warning:")
labels = [p.label for p in result.profiles]
st.plotly_chart(ui.figure("depth_time_map", labels, result.depth_map, FLOOR, result.read_steps,
                          "‖∂L/∂h_t‖ by layer and time step"), width="stretch")
if result.read_steps:
    st.caption(f"Dashed: where the loss reads (t = {result.read_steps[0]}).")

st.markdown("#### Each layer's profile, going back along its own direction")
st.plotly_chart(ui.figure("gradient_profile", {p.label: p.norms for p in result.profiles}, FLOOR,
                          "‖∂L/∂h_t‖ per layer (log scale)",
                          styles=plots.layer_lines(config.cell, labels)), width="stretch")
st.markdown("\n".join(f"- {p.sentence}" for p in result.profiles))

if model is None:
    st.markdown("#### Both sides of the sequence: what does the output at step t hear?")
    with ui.computing("Computing ‖∂y_t/∂x_s‖ for both networks…"):
        pair = ui.two_sided(replace(config, bidirectional=True))
    st.plotly_chart(ui.figure(
        "connectivity_pair", pair.steps,
        {f"{config.layers} layer(s), bidirectional": pair.bidirectional,
         f"{config.layers} layer(s), one direction": pair.unidirectional},
        FLOOR, "‖∂y_t/∂x_s‖ of the top output"), width="stretch")
    st.markdown(deepflow.two_sided_sentence(pair))
    st.caption("Left: the network with both directions; right: the same layers reading "
               "forward only, whose upper triangle (s > t) is blank: an output cannot depend "
               "on a later input.")
else:
    st.caption(f"Your model: {model.source}. Inputs: "
               + ("random token ids through its Embedding." if model.embedding is not None
                  else f"Gaussian noise at its input size I = {model.input_size}."))
