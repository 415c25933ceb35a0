"""Deep & bidirectional: the gradient through depth and time at once, and both sides of a sequence."""
from dataclasses import replace

import streamlit as st

from rnnviz.engine.bptt import FLOOR
from rnnviz.experiments import deep, model_layers
from rnnviz.presentation import plots, ui

menu = ui.page_frame("Deep & bidirectional networks", ":material/stacks:")
model = ui.current_model()
config = ui.deep_controls(model=model)
query = ui.write_url(config.to_query(), "dp")
ui.menu(menu, query)
ui.share_link(query)
ui.show_notices("dp")

with ui.computing("Computing every layer's gradient (the first view compiles for a few seconds)…"):
    if model is None:
        result = ui.deep_flow(config)
    else:  # the student's own weights: this session only, not cached for others
        if model.reads_final_states:  # the model's output says where the loss reads
            config = replace(config, read="last")
        result = ui.session_memo(("deep", config), lambda: deep.model_flow(model, config))
        config = deep.model_config(model, config)

where = deep.READ_LABELS[config.read]
if model is None:
    st.markdown(
        f"The loss reads the top layer's output at **{where}** through a readout of norm 1. "
        "Each row of the map is one layer (and direction). "
        + ("The backward direction (←) reads the sequence from the end, so its gradient runs "
           "toward later steps. " if config.bidirectional else "")
        + deep.depth_sentence(result)
    )
else:
    st.info(f"**Showing your model: {ui.plain(model.source)}**\n\n"
            f"{model_layers.inputs_sentence(model)} "
            f"{deep.model_read_sentence(model, config.read)}",
            icon=":material/upload_file:")
    st.markdown("Each row of the map is one layer (and direction) of your model. "
                + ("A backward direction (←) reads the sequence from the end, so its gradient "
                   "runs toward later steps. " if model.bidirectional else "")
                + deep.depth_sentence(result))
if result.state_blowup_step is not None:
    st.error(f"The forward pass overflowed float32 at step {result.state_blowup_step}: the "
             "gradient from there on is inf/NaN and not drawn. Lower the gain.",
             icon=":material/warning:")
if model is None:  # a preset's settings: what this map shows, above it
    ui.preset_narration(ui.DEEP_PAGE, result)
labels = [p.label for p in result.profiles]
st.plotly_chart(ui.figure("depth_time_map", labels, result.depth_map, FLOOR, result.read_steps,
                          "‖∂L/∂h_t‖ by layer and time step"), width="stretch")
if model is not None and model.reads_final_states and config.read == "last":
    st.caption(f"Dashed: where the loss reads, the forward state at t = {config.T - 1} and "
               "the backward state at t = 0.")
elif result.read_steps:
    st.caption("Dashed: where the loss reads (t = "
               + ", ".join(str(t) for t in result.read_steps) + ").")

st.markdown("#### Each layer's profile, going back along its own direction")
st.plotly_chart(ui.figure("gradient_profile", {p.label: p.norms for p in result.profiles}, FLOOR,
                          "‖∂L/∂h_t‖ per layer (log scale)",
                          styles=plots.layer_lines(config.cell, labels)), width="stretch")
st.markdown("\n".join(f"- {p.sentence}" for p in result.profiles))
# One row per step, one column per layer and direction: "layer_2_backward" for "layer 2 ←".
columns = [label.replace(" →", " forward").replace(" ←", " backward").replace(" ", "_")
           for label in labels]
csv = "t," + ",".join(columns) + "\n" + "".join(
    f"{t}," + ",".join(f"{v:.6e}" for v in result.depth_map[:, t]) + "\n"
    for t in range(result.depth_map.shape[1]))
st.download_button(
    "Download the depth map (CSV: one row per step, one column per layer and direction)", csv,
    file_name=(f"rnnviz_deep_{'model_' if model is not None else ''}{config.cell}_"
               f"L{config.layers}_T{config.T}.csv"), mime="text/csv")

st.markdown("#### Both sides of the sequence: what does the output at step t hear?")
if model is None:
    with ui.computing("Computing ‖∂y_t/∂x_s‖ for both networks…"):
        pair = ui.two_sided(replace(config, bidirectional=True))
    st.plotly_chart(ui.figure(
        "connectivity_pair", pair.steps,
        {f"{config.layers} layer(s), bidirectional": pair.bidirectional,
         f"{config.layers} layer(s), one direction": pair.unidirectional},
        FLOOR, "‖∂y_t/∂x_s‖ of the top output"), width="stretch")
    st.markdown(deep.two_sided_sentence(pair))
    st.caption("Left: the network with both directions; right: the same layers reading "
               "forward only, whose upper triangle (s > t) is blank: an output cannot depend "
               "on a later input.")
else:
    with ui.computing("Computing ‖∂y_t/∂x_s‖ of your model…"):
        conn = ui.session_memo(("connectivity", config.T, config.seed),
                               lambda: deep.model_connectivity(model, config))
    st.plotly_chart(ui.figure(
        "connectivity_pair", conn.steps, {"your model": conn.log10_map},
        FLOOR, "‖∂y_t/∂x_s‖ of your model's top output"), width="stretch")
    st.markdown(deep.model_connectivity_sentence(conn))
    st.caption("y_t is the state of your model's top recurrent layer at step t (all its "
               "directions side by side"
               + ("" if model.returns_sequences else ", at every step: your model outputs "
                  "only its final state, return_sequences=False")
               + "); x_s is what its first recurrent layer reads at step s"
               + (" (the Embedding's vector of the token at s)" if model.embedding is not None
                  else "") + "."
               + ("" if conn.two_sided else " Blank: s > t, which a one-way model cannot reach."))
