"""Holding a class: the largest allowed settings finish within their stated bounds, and
sessions never see each other's results."""
import time

import pytest
from streamlit.testing.v1 import AppTest

from rnnviz.engine import train
from rnnviz.experiments import one_layer

EXPLORER_BOUND_S = 60  # the largest settings of an explorer page, compile included
MAX_FLOW = {"cell": "lstm", "T": str(one_layer.MAX_T), "H": str(one_layer.HIDDEN_SIZES[-1])}


def timed_page(page, query):
    at = AppTest.from_file("../app.py", default_timeout=EXPLORER_BOUND_S + 60)
    at.query_params.update(query)
    at.switch_page(page)
    started = time.monotonic()
    at.run()
    return at, time.monotonic() - started


@pytest.mark.parametrize("page", ["pages/1_Gradient_flow.py", "pages/2_Compare_cells.py",
                                  "pages/3_Gate_activations.py", "pages/4_Why_it_vanishes.py",
                                  "pages/5_Connectivity.py"])
def test_largest_settings_finish_within_bound(page):
    at, elapsed = timed_page(page, MAX_FLOW)
    assert not at.exception and not at.warning
    assert elapsed < EXPLORER_BOUND_S
    assert any("Limits on this shared server" in c.value for c in at.sidebar.caption)


def test_largest_training_run_stops_at_the_time_limit(monkeypatch):
    monkeypatch.setattr(train, "WALL_CLOCK_LIMIT_S", 5.0)
    b = train.BOUNDS
    query = {"compare": "false", "cell": "lstm", "task": "copy", "T": str(b["T"][1]),
             "hidden_size": str(b["hidden_size"][1]), "batch_size": str(b["batch_size"][1]),
             "steps": str(b["steps"][1])}
    at, _ = timed_page("pages/6_Training_lab.py", query)
    assert not at.exception and not at.warning
    started = time.monotonic()
    at.button[0].click().run()
    elapsed = time.monotonic() - started
    assert not at.exception
    assert any("time limit" in w.value for w in at.warning)
    # The limit is checked between chunks of at most MAX_CHUNK steps, after a compile.
    assert elapsed < 5.0 + 90


def test_sessions_are_isolated():
    """Two visitors with different settings, interleaved, each see their own numbers."""
    queries = [{"cell": "rnn", "gain": "0.9", "T": "150"},
               {"cell": "gru", "update_bias": "3.0", "T": "300"}]
    sessions = [AppTest.from_file("../app.py", default_timeout=120) for _ in queries]
    for at, q in zip(sessions, queries):
        at.query_params.update(q)
        at.switch_page("pages/1_Gradient_flow.py")
    for _ in range(2):
        for at in sessions:
            at.run()
    sessions[0].slider(key="fl_T").set_value(160)
    sessions[1].slider(key="fl_T").set_value(310)
    for at in sessions:
        at.run()
    for at, q, T in zip(sessions, queries, (160, 310)):
        config = one_layer.FlowConfig.from_query({**q, "T": str(T)})[0]
        expected = one_layer.summary_sentence(one_layer.gradient_flow(config), T)
        assert at.subheader[0].value == expected
        assert at.query_params["T"] in (str(T), [str(T)])
        assert at.query_params["cell"] in (q["cell"], [q["cell"]])
