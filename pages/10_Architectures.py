"""Architectures: where the loss enters decides how far its gradient must travel."""
import streamlit as st

from rnnviz.engine.cells import CELL_LABELS
from rnnviz.experiments import architectures
from rnnviz.presentation import ui

menu = ui.page_frame("Architectures: where the loss enters, and how far its gradient travels",
                     ":material/account_tree:")
config = ui.architecture_controls()
query = ui.write_url(config.to_query(), "ar")
ui.menu(menu, query)
ui.share_link(query)
ui.show_notices("ar")

st.markdown(
    "Courses draw four shapes of recurrent network. They differ in where inputs enter and "
    "where **losses** attach, and so in which steps a gradient reaches and over how many "
    "steps it must travel. Each shape below is drawn unrolled (left, four steps of T) beside "
    f"its map of **‖∂ℓ_j/∂x_i‖** (right): how strongly the loss of output j reaches input i, "
    f"for a {CELL_LABELS[config.cell]} of H = {config.H} units over T = {config.T} steps, "
    "the same cell and weights in all four. One colour scale for all maps."
)

with ui.computing("Computing the four maps…"):
    maps = architectures.maps(config)
sentences = architectures.sentences(maps)
zrange = architectures.log10_range(maps)
axes = {"encoder_decoder": ("decoder output j", "source input i")}
for kind in architectures.ARCHITECTURES:
    title = architectures.TITLES[kind]
    st.markdown(f"#### {title}")
    left, right = st.columns([1, 1])
    left.plotly_chart(ui.figure("architecture_diagram", kind, ""), width="stretch",
                      key=f"diagram_{kind}")
    y_title, x_title = axes.get(kind, ("output j", "input i"))
    right.plotly_chart(ui.figure("architecture_map", getattr(maps, kind), "", zrange,
                                 y_title, x_title), width="stretch", key=f"map_{kind}")
    st.info(sentences[kind], icon=":material/lightbulb:")

st.caption(
    "Each output's loss is a fixed unit-norm readout of its state, ℓ_j = vᵀh_j, so a value is "
    "the gain or loss of the gradient along the path from x_i. Blank cells: that output has "
    "no loss or that input does not exist in the architecture; grey cells are exactly 0 (no "
    "output hears a later input). The inputs are Gaussian noise; the decoder is a second "
    "draw of the same cell, fed zeros, starting from the encoder's last state. RMS over "
    f"{architectures.BATCH} sequences.")
