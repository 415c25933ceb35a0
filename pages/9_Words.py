"""Words: train an RNN and an LSTM on subject–verb agreement, type a sentence, and see how
much of the prediction's gradient still reaches each word."""
import time

import streamlit as st

from rnnviz.engine import language, train
from rnnviz.engine.bptt import FLOOR
from rnnviz.engine.cells import CELL_LABELS
from rnnviz.experiments import agreement, word_lab
from rnnviz.presentation import plots, ui

menu = ui.page_frame("Words: which words does the prediction still hear?",
                     ":material/text_fields:")
page = ui.words_controls()
query = ui.write_url(page.to_query(), "wd")
ui.menu(menu, query)
ui.share_link(query)
ui.show_notices("wd")

st.markdown(
    "A network reads a sentence word by word up to its verb and must say whether the verb "
    "is **singular or plural**: “the **keys** to the old cabinet **are**”. The answer is the "
    "subject, many words back, while the nearest noun (“cabinet”) says the opposite. "
    "Train an RNN and an LSTM here, then type a sentence: each word is coloured by the "
    "gradient of the prediction's loss that reaches it (Linzen, Dupoux & Goldberg 2016)."
)

# --- Training ----------------------------------------------------------------------------
left, right, _ = st.columns([1, 1, 3])
train_clicked = left.button("Train", type="primary", icon=":material/play_arrow:")
right.button("Stop", icon=":material/stop:")  # any rerun stops a run in progress
run = st.session_state.get("wd_run")
if run and run["status"] == "running":  # a rerun (Stop, or a changed control) interrupted it
    run["status"] = "stopped"
progress = st.empty()
if train_clicked:
    # Snapshots are kept as they come: a Stop keeps every model reached so far.
    run = {"page": page, "cells": page.cells, "status": "running", "snaps": {}, "seconds": {}}
    st.session_state["wd_run"] = run
    started = time.monotonic()
    total = len(page.cells) * page.steps
    for n, cell in enumerate(page.cells):
        cell_started = time.monotonic()
        snaps = run["snaps"].setdefault(cell, [])
        for snap in train.train_words(page.train_config(cell)):
            snaps.append(snap)
            run["seconds"][cell] = time.monotonic() - cell_started
            progress.progress(min((n * page.steps + snap.step) / total, 1.0),
                              text=f"{CELL_LABELS[cell]}: step {snap.step} of {page.steps}, "
                                   f"held-out accuracy {100 * snap.accuracy:.0f} %")
            if time.monotonic() - started > train.WALL_CLOCK_LIMIT_S:
                run["status"] = "timed out"
                break
        if run["status"] == "timed out":
            break
    else:
        run["status"] = "done"
    progress.empty()

trained = {} if not run else {
    c: agreement.collect(run["page"].train_config(c), s, run["seconds"][c])
    for c, s in run["snaps"].items() if s}
if trained and run.get("accuracy") is None:
    with st.spinner("Measuring accuracy at every distance…"):
        run["accuracy"] = agreement.accuracy_by_distance(
            {c: t.model for c, t in trained.items()}, run["page"].train_config(),
            distances=range(1, language.MAX_DISTANCE + 1))

if not trained:
    st.info(f"Press **Train**: {page.steps} steps for each of "
            f"{', '.join(CELL_LABELS[c] for c in page.cells)} (a few seconds each).",
            icon=":material/play_arrow:")
else:
    if run["status"] != "done":
        st.warning(f"This run was {run['status']}: the models are those reached at " + ", ".join(
            f"{CELL_LABELS[c]} step {int(t.steps[-1])}" for c, t in trained.items()) + ".",
            icon=":material/timer:")
    if (run["page"].train_config(), run["cells"]) != (page.train_config(), page.cells):
        st.caption("These models were trained with earlier settings; press Train to train "
                   "the current ones.")
    st.caption(" · ".join(f"{CELL_LABELS[c]}: held-out accuracy {100 * t.accuracy[-1]:.0f} % "
                          f"after {int(t.steps[-1])} steps ({t.seconds:.1f} s)"
                          for c, t in trained.items()))

# --- The sentence ------------------------------------------------------------------------
st.markdown("#### Your sentence")
box, new = st.columns([2, 1], vertical_alignment="bottom")
if new.button("New sentence", icon=":material/casino:",
              help="Draw one from the language with the distance and attractors set in the "
                   "sidebar."):
    st.session_state["_wd_draws"] = st.session_state.get("_wd_draws", 0) + 1
    st.session_state["wd_text"] = word_lab.new_sentence(page, st.session_state["_wd_draws"]).text
    st.rerun()
box.text_input("Type a sentence up to and including its verb (the models read every word "
               "before the verb)", key="wd_text", max_chars=language.MAX_CHARS)
tokens = language.tokenize(page.text)
reading = language.read_prefix(tokens)
for notice in tokens.notices + reading.notices:
    st.caption(ui.plain(notice))

if trained and len(reading.ids):
    read = word_lab.read_sentence(trained, reading)
    rows = {word_lab.verdict_label(v): plots.WordRow(reading.words, g, reading.subject)
            for v, g in read.values()}
    reaches = {cell: word_lab.relative_reach(g, reading.subject)
               for cell, (_, g) in read.items()} if reading.subject is not None else {}
    st.plotly_chart(ui.figure("word_gradients", rows, FLOOR,
                              "‖∂ℓ/∂e_s‖: the gradient of each model's loss at each word",
                              verb=reading.verb), width="stretch")
    if reading.subject is not None:
        st.markdown(word_lab.reach_sentence(ui.plain(reading.words[reading.subject]), reaches))
    else:
        st.caption("No noun from the language's vocabulary before the verb: no subject to mark.")
    st.caption("ℓ = −log p(the number each model predicts); the colour is ‖∂ℓ/∂e_s‖, the norm of "
               "its gradient with respect to word s's vector, on a log scale shared by the rows. "
               "Words after the verb are not read.")
elif trained:
    st.info("Type at least one word.", icon=":material/keyboard:")

# --- Accuracy against distance, and the word vectors ---------------------------------------
if trained:
    acc = run["accuracy"]
    st.markdown("#### How far back can each cell find the subject?")
    st.plotly_chart(ui.figure(
        "accuracy_by_distance", {c: (acc.distances, a) for c, a in acc.accuracy.items()},
        {"agree with the nearest noun": (acc.distances, acc.nearest_noun),
         "always the majority number": (acc.distances, acc.majority)},
        "Held-out accuracy against subject–verb distance"), width="stretch")
    st.markdown(word_lab.accuracy_sentence(acc.distances, acc.accuracy, acc.nearest_noun))
    st.caption(f"{int(acc.counts[0])} held-out sentences at each distance, drawn like the "
               "training sentences (the same attractors and relative clauses); distances past "
               f"{run['page'].dmax} were never seen in training.")

    st.markdown("#### The word vectors the training made")
    cells = list(trained)
    shown = st.radio("Vectors of", cells, format_func=CELL_LABELS.get, horizontal=True,
                     key="wd_map_cell", index=len(cells) - 1)
    wm = agreement.word_map(trained[shown].model.embedding)
    st.plotly_chart(ui.figure("word_map", wm.xy, wm.words,
                              word_lab.word_kinds(wm.roles, wm.numbers),
                              f"{CELL_LABELS[shown]}: every word's vector, first two principal "
                              "components", explained=float(wm.explained[0])),
                    width="stretch")
    st.caption(f"The two axes hold {100 * float(wm.explained.sum()):.0f} % of the vectors' "
               "variance. Words the task treats alike (singular nouns, plural nouns) should "
               "end up near each other: the number is what the network needs from a noun.")

# --- The student's own Keras model ---------------------------------------------------------
model = ui.current_model()
st.markdown("#### Your own model")
if model is None or model.embedding is None or getattr(model, "head", None) is None:
    st.caption("Upload a Keras model that starts with an Embedding and ends with a Dense layer "
               "(the courses' `Embedding → SimpleRNN → Dense(1, sigmoid)` for sentiment, or a "
               "next-character model) in the sidebar, with its vocabulary here, to see which "
               "words its prediction hears."
               + ("" if model is None else " The model uploaded now has "
                  + ("no Embedding." if model.embedding is None else "no Dense head.")))
else:
    ui.words_of_model(model)
