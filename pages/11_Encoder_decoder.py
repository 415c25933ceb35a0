"""Encoder–decoder: train one live, with the source reversed or with attention, and see how
far each output's gradient travels back to the symbol it must write."""
from dataclasses import replace

import numpy as np
import streamlit as st

from rnnviz.engine import seq2seq
from rnnviz.engine.cells import CELL_LABELS
from rnnviz.experiments import architectures, seq2seq_lab
from rnnviz.presentation import ui

menu = ui.page_frame("Encoder–decoder: one state between the halves, or attention",
                     ":material/translate:")
page = ui.seq2seq_controls()
query = ui.write_url(page.to_query(), "s2")
ui.menu(menu, query)
ui.share_link(query)
ui.show_notices("s2")
configs = page.configs()
labels = seq2seq_lab.RUN_LABELS

st.markdown(
    f"An **encoder** ({CELL_LABELS[page.cell]}, {seq2seq.HIDDEN} units) reads a source of "
    f"{page.L} symbols; a **decoder** starts from its last state and must write the source "
    f"{'back' if page.task == 'copy' else 'backwards'}, fed the previous target at each step. "
    "Without attention, every symbol reaches the decoder only through that one state. "
    f"Train compares the plain model with **{seq2seq_lab.VARIANT_LABELS[page.variant]}** "
    "(same seed and budget)."
)

left, right, _ = st.columns([1, 1, 3])
train_clicked = left.button("Train", type="primary", icon=":material/play_arrow:")
right.button("Stop", icon=":material/stop:")  # any rerun stops a run in progress
run = st.session_state.get("s2_run")
if run and run["status"] == "running":  # a rerun (Stop, or a changed control) interrupted it
    run["status"] = "stopped"
if run and replace(run["page"], source="") != replace(page, source=""):
    run = None  # trained for other settings (a typed source is not one): start afresh
progress = st.empty()
shown, source_notices = seq2seq.encode_source(page.source, page.L)

if train_clicked:
    run = {"page": page, "status": "running", "snaps": {name: [] for name in configs}}
    st.session_state["s2_run"] = run
    total = len(configs) * page.steps
    for n, (name, config) in enumerate(configs.items()):
        for snap in seq2seq.train(config, shown):
            run["snaps"][name].append(snap)
            progress.progress(min((n * page.steps + snap.step) / total, 1.0),
                              text=f"{labels[name]}: step {snap.step} of {page.steps}")
    run["status"] = "done"
    progress.empty()

if run:
    runs = {name: snaps for name, snaps in run["snaps"].items() if snaps}
    if run["status"] == "stopped":
        st.warning("Stopped: " + ", ".join(f"{labels[n]} at step {s[-1].step}"
                                           for n, s in runs.items()) + ".",
                   icon=":material/timer:")
    # The typed source may have changed since training: measure the weights reached on it.
    latest = {name: seq2seq.measure(configs[name], snaps[-1].state, shown)
              for name, snaps in runs.items()}
    st.info(seq2seq_lab.learning_sentence(page, runs), icon=":material/insights:")
    st.plotly_chart(ui.figure(
        "loss_curves", {labels[n]: (np.array([s.step for s in snaps]),
                                    np.array([s.probe_loss for s in snaps]),
                                    np.zeros(len(snaps), bool)) for n, snaps in runs.items()},
        seq2seq.MEMORYLESS_LOSS, f"a uniform guess: log {seq2seq.SYMBOLS}",
        "Loss on a fixed batch of 64 sources"), width="stretch")
    stage = "after training"
else:
    latest = {name: seq2seq.measure(config, seq2seq.initial_state(config), shown)
              for name, config in configs.items()}
    st.info(f"Press **Train**: {page.steps} steps for each of the two models. Below, both "
            "as they start, untrained.", icon=":material/play_arrow:")
    stage = "untrained"

st.markdown(f"#### How far does each output's gradient travel? ‖∂ℓ_j/∂x_i‖, {stage}")
maps = {name: snap.grad_map for name, snap in latest.items()}
zrange = architectures.log10_range(maps.values())
for column, (name, grad_map) in zip(st.columns(len(maps)), maps.items()):
    column.plotly_chart(ui.figure("architecture_map", grad_map, labels[name], zrange,
                                  "output j", "source input i"), width="stretch",
                        key=f"map_{name}")
st.info(seq2seq_lab.map_sentence(page, maps), icon=":material/lightbulb:")
st.caption(f"Row j: how strongly output j's loss reaches each source symbol, RMS over "
           f"{seq2seq.MAP_SOURCES} fixed sources, in the source's own order. The symbol output j "
           "must write is "
           + ("on the diagonal." if page.task == "copy" else "on the anti-diagonal.")
           + (" After training, an output the model is sure of has a small loss and so a small "
              "gradient: the paths themselves show best in the untrained maps (change any "
              "setting to see them)." if run else ""))

st.markdown("#### Your source, decoded greedily")
st.text_input(f"Source: letters {seq2seq.ALPHABET[0]}–{seq2seq.ALPHABET[-1]} "
              f"(the first {page.L} are read)", key="s2_source",
              max_chars=seq2seq_lab.MAX_SOURCE_CHARS)
for notice in source_notices:
    st.warning(notice, icon=":material/spellcheck:")
source_text = seq2seq.decode_symbols(shown[:page.L])
target = seq2seq.decode_symbols(shown[:page.L][::-1] if page.task == "reverse"
                                else shown[:page.L])
rows = [f"{'source':<9} {source_text}", f"{'target':<9} {target}"]
for name, snap in latest.items():
    output = seq2seq.decode_symbols(snap.greedy)
    right_count = sum(a == b for a, b in zip(output, target))
    rows.append(f"{name:<9} {output}   {right_count} of {page.L} right")
st.code("\n".join(rows), language=None)
st.caption("Greedy decoding: each output is the most likely symbol, fed back as the next "
           "step's input (no teacher forcing).")

if "attention" in latest:
    st.markdown("#### Where the attention looks, for your source")
    alpha = latest["attention"].alpha
    st.plotly_chart(ui.figure("attention_weights", alpha, "", source_text,
                              seq2seq.decode_symbols(latest["attention"].greedy)),
                    width="stretch")
    st.info(seq2seq_lab.attention_sentence(alpha, page.task == "reverse"),
            icon=":material/visibility:")
