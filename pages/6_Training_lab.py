"""Training lab: train on a memory task and watch the gradient flow change."""
import time
from dataclasses import replace

import streamlit as st

from rnnviz.engine import train
from rnnviz.engine.bptt import FLOOR
from rnnviz.engine.cells import CELL_LABELS
from rnnviz.engine.tasks import TASKS
from rnnviz.experiments import claims, presets
from rnnviz.presentation import plots, ui

REDRAW_EVERY_S = 0.5

menu = ui.page_frame("Training lab", ":material/model_training:")
config, compare = ui.train_controls()
query = ui.write_url(ui.lab_query(config, compare), "tr")
ui.menu(menu, query)
ui.share_link(query)
ui.show_notices("tr")
ui.model_elsewhere("it trains drawn networks from scratch on a memory task; it does not train "
                   "uploaded weights.")

task = TASKS[config.task]
cells = train.COMPARE_CELLS if compare else (config.cell,)
st.markdown(
    f"**{task.label}**, T = {config.T}. Press **Train** and watch two things: whether the "
    f"loss gets below the no-memory baseline ({task.baseline(config.T):.3g}: "
    f"{task.baseline_label}), and whether the gradient still reaches the early time steps. "
    + ("All three cells train on the same sequences with the same budget." if compare
       else "Switch on *Compare* to train all three cells.")
)
narration = st.empty()
with narration.container():
    ui.preset_narration(presets.LAB)
left, right, _ = st.columns([1, 1, 3])
train_clicked = left.button("Train", type="primary", icon=":material/play_arrow:")
stop_clicked = right.button("Stop", icon=":material/stop:")

run = st.session_state.get("tr_run")
if run and run["status"] == "running":  # a rerun (Stop, or a changed control) interrupted it
    run["status"] = "stopped"
if train_clicked:
    run = {"config": config, "cells": cells, "status": "running",
           "snaps": {cell: [] for cell in cells}}
    st.session_state["tr_run"] = run
if run and not train_clicked and (run["config"], run["cells"]) != (config, cells):
    st.caption("These results are from earlier settings; press Train to run the current ones.")

progress = st.empty()
figures = st.empty()


def draw(run, frame: int = 0) -> None:
    """Loss curves, gradient-flow maps and profiles of everything recorded so far.

    `frame` numbers the redraws of one run, so each redraw's charts have their own keys.
    """
    histories = {c: train.collect(replace(run["config"], cell=c), s)
                 for c, s in run["snaps"].items() if s}
    if not histories:
        return
    first = next(iter(histories.values()))
    if run["status"] != "running":  # say what the finished run shows
        with narration.container():
            if run["status"] in ("stopped", "timed out"):
                steps = {c: s[-1].step for c, s in run["snaps"].items() if s}
                st.warning("This run was cut short (" + run["status"] + ") at " + ", ".join(
                    f"{CELL_LABELS[c]} step {k} of {run['config'].steps}" for c, k in steps.items())
                    + ": what follows describes only the steps recorded.",
                    icon=":material/timer:")
            if not ui.preset_narration(presets.LAB, histories):
                st.info(" ".join(claims.training_outcome(CELL_LABELS[c], h.losses, h.baseline,
                                                         h.diverged)
                                 for c, h in histories.items()), icon=":material/insights:")
            if first.config.truncate is not None:
                st.info(claims.truncation_outcome(
                    first.config.truncate, TASKS[first.config.task], first.config.T,
                    {CELL_LABELS[c]: h.profiles[-1] for c, h in histories.items()}),
                    icon=":material/content_cut:")
    with figures.container():
        for cell, h in histories.items():
            if h.diverged:
                st.error(f"{CELL_LABELS[cell]}: {h.message}", icon=":material/warning:")
        st.markdown("#### Does it learn? Loss against the no-memory baseline")
        st.plotly_chart(ui.figure("loss_curves", 
            {CELL_LABELS[c]: (h.steps, h.losses, h.clipped) for c, h in histories.items()},
            first.baseline, TASKS[first.config.task].baseline_label, "Training loss",
            styles={CELL_LABELS[c]: plots.cell_line(c) for c in histories}),
            width="stretch", key=f"loss_{frame}")
        if first.config.clip is not None:
            st.caption("Open circles: steps where the gradient norm exceeded θ and was "
                       "rescaled to θ (Pascanu et al. 2013).")
        st.markdown("#### Does the gradient reach the early steps? ‖∂ℓ/∂h_t‖ during training")
        st.plotly_chart(ui.figure("training_flow_maps", 
            {CELL_LABELS[c]: (h.snapshot_steps, h.profiles) for c, h in histories.items()},
            FLOOR, "‖∂ℓ/∂h_t‖ during training (log colour)"),
            width="stretch", key=f"maps_{frame}")
        st.caption("One colour scale for all maps. Each row is one snapshot of training: "
                   "bright to the left means the gradient reaches the early steps.")
        st.plotly_chart(ui.figure("gradient_profile", 
            {f"{CELL_LABELS[c]} {label}": h.profiles[i]
             for c, h in histories.items() for i, label in ((0, "at init"), (-1, "now"))},
            FLOOR, "Gradient profile at initialisation and now", y_title="‖∂ℓ/∂h_t‖ (log scale)",
            styles={f"{CELL_LABELS[c]} {label}": plots.cell_line(c, stage)
                    for c in histories for label, stage in (("at init", "init"), ("now", "trained"))}),
            width="stretch", key=f"profile_{frame}")
        st.caption("Measured on a fixed probe batch of 32 sequences, per-sequence loss ℓ, "
                   "root-mean-square over the batch.")


if train_clicked:
    total, frame, started = len(cells) * config.steps, 0, time.monotonic()
    drawn = started
    for n, cell in enumerate(cells):
        for snap in train.train(replace(config, cell=cell)):
            if time.monotonic() - started > train.WALL_CLOCK_LIMIT_S:
                run["status"] = "timed out"
                break
            run["snaps"][cell].append(snap)
            done = n * config.steps + snap.step
            progress.progress(min(done / total, 1.0),
                              text=f"{CELL_LABELS[cell]}: step {snap.step} of {config.steps}")
            if time.monotonic() - drawn > REDRAW_EVERY_S:  # charts cost ~70 ms a redraw
                frame, drawn = frame + 1, time.monotonic()
                draw(run, frame)
            if snap.params is not None:  # the last snapshot: keep the model for other pages
                st.session_state.setdefault("trained", {})[cell] = {
                    "config": replace(config, cell=cell), "params": snap.params,
                    "profiles": (run["snaps"][cell][0].profile, snap.profile),
                }
        if run["status"] == "timed out":
            break
    else:
        run["status"] = "done"
    progress.empty()
    draw(run, frame + 1)
    if run["status"] == "timed out":
        st.warning(f"Stopped at the time limit of this shared server "
                   f"({train.WALL_CLOCK_LIMIT_S:.0f} s per run); everything recorded so far "
                   "is shown. Fewer steps, a smaller batch or hidden size train faster.",
                   icon=":material/timer:")
elif run:
    draw(run)
    if run["status"] == "stopped":
        steps = {c: s[-1].step for c, s in run["snaps"].items() if s}
        st.info("Stopped; everything recorded up to then is kept: "
                + ", ".join(f"{CELL_LABELS[c]} at step {k}" for c, k in steps.items()) + ".")
else:
    st.info(f"Press **Train**: {config.steps} steps per cell.", icon=":material/play_arrow:")

if st.session_state.get("trained"):
    st.caption("Trained models stay in this session: the **Gradient flow** and **Gate "
               "activations** pages show them next to the same cell at initialisation.")
