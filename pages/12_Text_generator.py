"""Text generator: the courses' next-character model, trained live as Keras's stateful
training does it, and what the next character still hears of the text before it."""

import numpy as np
import streamlit as st

from rnnviz.engine import chars
from rnnviz.engine.bptt import FLOOR
from rnnviz.engine.cells import CELL_SHORT_NAMES
from rnnviz.experiments import text_lab
from rnnviz.presentation import plots, ui

menu = ui.page_frame("Text generator: what does the next character still hear?",
                     ":material/edit_note:")
page = ui.text_controls()
query = ui.write_url(page.to_query(), "tx")
ui.menu(menu, query)
ui.share_link(query)
ui.show_notices("tx")

st.markdown(
    "The text generator of every course (Keras: `Embedding → SimpleRNN(return_sequences=True, "
    "stateful=True) → Dense(vocab)`) reads a text one character at a time and predicts the "
    f"next. Here an RNN and an LSTM of {chars.HIDDEN} units learn it live, as stateful "
    f"training does: {chars.STREAMS} streams of the text side by side, **k = {page.k}** "
    "characters per step, the state carried to the next step but the gradient cut at each "
    "chunk's start: truncated backpropagation through time."
)

if page.source == "pasted":
    st.text_area(f"Your text ({chars.min_text_length(page.k)} to {chars.MAX_PASTED} "
                 "characters; it stays in this session, not in the link)", key="tx_pasted",
                 max_chars=chars.MAX_PASTED, height=150)
    text = st.session_state.get("tx_pasted") or ""
    origin = "your text"
else:
    text = chars.shipped_text()
    origin = chars.TEXT_SOURCE
ids, notices = chars.encode(text)
for notice in notices:
    st.warning(notice, icon=":material/spellcheck:")
too_short = len(ids) < chars.min_text_length(page.k)
st.caption(f"Training text: {origin}, {len(ids):,} characters.")

left, right, _ = st.columns([1, 1, 3])
train_clicked = left.button("Train", type="primary", icon=":material/play_arrow:",
                            disabled=too_short)
right.button("Stop", icon=":material/stop:")  # any rerun stops a run in progress
if too_short:
    st.info(f"Paste at least {chars.min_text_length(page.k)} characters to train with "
            f"k = {page.k}.", icon=":material/edit_note:")
run = st.session_state.get("tx_run")
if run and run["status"] == "running":
    run["status"] = "stopped"
trained_for = (page.k, page.steps, page.seed, page.source, len(ids))
if run and run["for"] != trained_for:
    run = None  # trained for other settings or text: start afresh
progress, live = st.empty(), st.empty()

if train_clicked and not too_short:
    run = {"for": trained_for, "status": "running", "snaps": {c: [] for c in text_lab.PAIR},
           "unigram": chars.unigram_loss(ids), "length": len(ids)}
    st.session_state["tx_run"] = run
    total = len(text_lab.PAIR) * page.steps
    for n, cell in enumerate(text_lab.PAIR):
        for snap in chars.train(page.config(cell), ids, "\n", page.temperature):
            run["snaps"][cell].append(snap)
            progress.progress(min((n * page.steps + snap.step) / total, 1.0),
                              text=f"{CELL_SHORT_NAMES[cell]}: step {snap.step} of "
                                   f"{page.steps} ({snap.seconds:.0f} s)")
            live.code(f"{CELL_SHORT_NAMES[cell]} at step {snap.step}:\n{snap.sample}",
                      language=None)
    run["status"] = "done"
    progress.empty()
    live.empty()

if not run:
    st.info(f"Press **Train**: {page.steps} steps for each cell.", icon=":material/play_arrow:")
    st.stop()

runs = {CELL_SHORT_NAMES[c]: s for c, s in run["snaps"].items() if s}
if run["status"] == "stopped":
    st.warning("Stopped: " + ", ".join(f"{label} at step {s[-1].step}"
                                       for label, s in runs.items()) + ".",
               icon=":material/timer:")
st.info(text_lab.learning_sentence(runs, run["unigram"]), icon=":material/insights:")
st.plotly_chart(ui.figure(
    "loss_curves", {label: (np.arange(1, sum(len(s.losses) for s in snaps) + 1),
                            np.concatenate([s.losses for s in snaps]),
                            np.zeros(sum(len(s.losses) for s in snaps), bool))
                    for label, snaps in runs.items()},
    run["unigram"], "the characters' frequencies alone", "Training loss (nats per character)",
    styles={CELL_SHORT_NAMES[c]: plots.cell_line(c) for c in run["snaps"]}), width="stretch")

def read_text(text: str) -> None:
    """Put a sample into the box below (a callback: it runs before the box is drawn)."""
    st.session_state["tx_read"] = text


st.markdown(f"#### Samples at temperature {page.temperature:g}")
for column, (cell, snaps) in zip(st.columns(len(runs)), run["snaps"].items()):
    if snaps:
        # Drawn once per model and temperature: a rerun that moves the position reuses it.
        drawn = (cell, snaps[-1].step, page.temperature)
        if drawn not in run.setdefault("samples", {}):
            run["samples"][drawn] = chars.sample(page.config(cell), snaps[-1].state,
                                                 run["length"], "\n", page.temperature,
                                                 page.seed)
        sample = run["samples"][drawn]
        column.markdown(f"**{CELL_SHORT_NAMES[cell]}**, step {snaps[-1].step}")
        column.code(sample, language=None)
        column.button("Read this sample below", key=f"tx_use_{cell}", on_click=read_text,
                      args=(sample[:text_lab.EXPLAIN_LENGTH],), icon=":material/south:")

st.markdown("#### What does the next character hear?")
st.text_area("Text to read (the models predict each next character)", key="tx_read",
             max_chars=text_lab.EXPLAIN_LENGTH, height=80)
read_ids, read_notices = chars.encode(page.read, text_lab.EXPLAIN_LENGTH)
for notice in read_notices:
    st.warning(notice, icon=":material/spellcheck:")
if len(read_ids) < 3:
    st.info("Type at least three characters to read.", icon=":material/edit_note:")
    st.stop()
last = len(read_ids) - 2
st.session_state["tx_position"] = max(1, min(st.session_state["tx_position"], last))
st.slider("Position: the prediction of the character after this one", 1, max(last, 2),
          key="tx_position", disabled=last < 2)
position = min(page.position, last)
explained = {CELL_SHORT_NAMES[c]: text_lab.explain_next(c, snaps[-1].state, read_ids, position)
             for c, snaps in run["snaps"].items() if snaps}
first = max(0, position - text_lab.WINDOW + 1)
shown = [plots.visible_character(ch) for ch in chars.decode(read_ids[first:position + 1])]
nxt = plots.visible_character(chars.decode(read_ids[position + 1:position + 2]))
rows = {f"{label}: p = {ex.p_target:.2f}":
        plots.WordRow(tuple(shown), ex.grad_norms[first:position + 1])
        for label, ex in explained.items()}
st.plotly_chart(ui.figure("word_gradients", rows, FLOOR,
                          f"What the loss of the next character ({nxt}) reaches",
                          verb=nxt, unit="character"), width="stretch")
st.info(text_lab.reach_sentence(explained, position, page.k), icon=":material/lightbulb:")
st.caption(f"‖∂ℓ/∂e_s‖: ℓ = −log p(next character), e_s the embedding of the character s "
           f"steps before (the last {text_lab.WINDOW} shown). Madsen's connectivity "
           "(Distill 2019), live, on your models. ␣ is a space, ⏎ a new line.")
