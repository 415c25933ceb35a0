"""A class of simulated students against one rnnviz server, through Streamlit's own
websocket protocol (no browsers: the figures are the server's).

Usage:
  python scripts/class_load.py                              # free exploration, 30 students
  python scripts/class_load.py --scenario teacher           # the app's presets
  python scripts/class_load.py --students 5 --links 2       # a smoke run
  python scripts/class_load.py --warm -1                    # once the warm-up is done
  python scripts/class_load.py --repeat 3                   # median and spread of 3 runs
  python scripts/class_load.py --url http://127.0.0.1:8080  # an existing server (replicas)
  python scripts/class_load.py --students 5,10,20,30 --warm 300   # the knee, once warm
  python scripts/class_load.py --measure-warm-up            # how long the warm-up takes
  python scripts/class_load.py --scenario lesson --warm -1  # 30 students follow a room
  python scripts/class_load.py --scenario lesson --students 3 --step-seconds 3   # smoke

Each student is one asyncio task that speaks Streamlit 1.67's protocol over
ws://HOST/_stcore/stream (BackMsg and ForwardMsg protobufs from `streamlit.proto`, as the
frontend does): for each of `--links` deep links it opens a new session with
`rerun_script{page_name, query_string}` (a page opened from a link with settings in its
query string), waits for `script_finished`, thinks (`--think`, uniform), moves one widget of
that page (a second `rerun_script` in the same session carrying the widget's new state, with
the page's script hash and the query string the app last wrote), waits for
`script_finished` again, thinks, and closes the session. Widget ids, kinds, options and
bounds come from the element protos in the ForwardMsg deltas, as the frontend reads them.

Scenarios:
  free     every student picks pages and settings at random: a page with settings
           (Gradient flow, Compare cells, Gate activations, Why it vanishes, Connectivity,
           Training lab, Deep & bidirectional), cell, T from 20 to 600 (400 on the deep
           page), H, initialisation, gain, inputs, loss, seed, sometimes a spectral radius,
           a forget or update bias; layers, directions and where the loss reads on the deep
           page; then a random widget of the page to a random value (T again within
           20-600). The Train button is not pressed (30 training runs at once are a
           different load; see scripts/bench_train.py).
  teacher  the class follows the teacher through the presets (rnnviz/experiments/presets.py), in
           order, from a start chosen by --seed; every student makes the same widget move
           (the teacher's instruction) on each preset page. The teacher opens the first
           preset on the projector --lead seconds before the students open it (that view
           is not counted).
  lesson   a teacher's room on the Lesson page (pages/13_Lesson.py, lesson why-rnns-forget):
           the teacher's session opens step 1 and presses "Start a room for a class" (a
           button: its trigger_value in a rerun_script); --students students open
           Lesson?room=CODE within --ramp seconds, each in one session kept open for the
           whole lesson; once all have joined, the teacher presses Next every
           --step-seconds (a teacher talks) through every step to the last, and presses
           Train on each training step (right after arriving there); the class stays on the
           last step for --step-seconds. A student's page follows the room with
           st.fragment(run_every=2.0), which Streamlit runs from the browser: the student
           does what the frontend does with the `auto_rerun` ForwardMsg (a timer sending a
           rerun_script with the fragment's id and is_auto_rerun every interval, answered
           or not; cleared by a full run's new_session and by `stop_auto_rerun`); a poll
           that finds the room moved reruns the whole page (st.rerun(scope="app")).

Measured: per request (open or move; in the lesson: the opens, the room's start and the
teacher's Next) the time from sending the BackMsg to receiving `script_finished`; errors
(a failed connection, a script that did not finish successfully, an uncaught exception
shown to the student, i.e. an Exception element in a delta), time-outs
(--request-timeout); p50 / p95 / max; the server's peak resident memory (VmRSS sampled
every 0.1 s and the kernel's VmHWM, from /proc); its CPU seconds; and, for its own server,
the time of each script run (timed in the server) and every XLA compile (see
app_server.COMPILE_LOG_WRAPPER): how many, how long, which programs; a warning (and exit
status 1) if the app's sources changed during the run. The lesson also measures, per
(student, move), the delay from the end of the teacher's Next request to the end of the
student's full rerun that shows the new step (its heading "#### Step N of M"; negative
where a poll came between the room's move, in Next's callback, and the end of the
teacher's own run), and any step a student never saw (an error); the teacher's Next and
Train times; from the end of Train to each follower's page showing the trained step; the
polls (count, poll -> script_finished) and, for a poll that found the room moved, the time
to the end of the full rerun; the server's RSS during the class and its CPU per minute.

Its own server: `streamlit run app.py` on 127.0.0.1 at a free port, with an empty
persistent XLA cache (JAX_COMPILATION_CACHE_DIR in a fresh temporary folder), stopped by
PID at the end; `--warm S` waits S seconds after the server answers before the class
arrives, with no visitor but one GET of /_stcore/script-health-check (the app's start-up
hook, see README "Performance"). With `--url`, the server is someone else's (e.g.
scripts/replicas.py); `--pids` names its processes for the memory figures.

Bounded: at most --students x --links x 2 requests (the lesson: one open per student, the
teacher's start, one Next per step, one Train per training step, and one poll per student
per 2 s), each at most --request-timeout seconds (Train: TRAIN_TIMEOUT_S), the whole run
at most --max-seconds (checked between requests). Only 127.0.0.1.
"""
import argparse
import asyncio
import json
import random
import re
import statistics
import sys
import time
import urllib.parse
import urllib.request

import websockets
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

from app_server import (AppServer, MemoryMonitor, changed_sources, cpu_seconds, percentile,
                        source_mtimes, status_kb)

sys.path.insert(0, str(__import__("app_server").ROOT))
from rnnviz.engine import train  # noqa: E402  (no jax work at import)
from rnnviz.engine.bptt import LOSS_PLACEMENTS  # noqa: E402
from rnnviz.engine.cells import CELLS  # noqa: E402
from rnnviz.engine.init import RADIUS_KINDS, SCHEMES  # noqa: E402
from rnnviz.engine.tasks import INPUT_KINDS, TASKS  # noqa: E402
from rnnviz.experiments import deep, one_layer, presets  # noqa: E402  (no jax work at import)

FLOW_PAGES = ("Gradient_flow", "Compare_cells", "Gate_activations", "Why_it_vanishes",
              "Connectivity")
LAB_PAGE = "Training_lab"
DEEP_PAGE = "Deep_bidirectional"
FREE_PAGES = FLOW_PAGES + (LAB_PAGE, DEEP_PAGE)
FREE_T = (20, 600)
FINISHED_OK = ForwardMsg.ScriptFinishedStatus.Value("FINISHED_SUCCESSFULLY")
FINISHED_FRAGMENT = ForwardMsg.ScriptFinishedStatus.Value("FINISHED_FRAGMENT_RUN_SUCCESSFULLY")
FINISHED_RERUN = ForwardMsg.ScriptFinishedStatus.Value("FINISHED_EARLY_FOR_RERUN")
WIDGET_KINDS = ("slider", "selectbox", "radio", "checkbox", "number_input")
TARGETS = {"free": {"cold": 3.0, "warm": 1.0}, "teacher": {"cold": 1.0, "warm": 1.0},
           "lesson": {"cold": 3.0, "warm": 1.0}}  # lesson: the opens, the room's start, Next
LESSON_PAGE = "Lesson"  # pages/13_Lesson.py
LESSON_NAME = "why-rnns-forget"
STEP_HEADING = re.compile(r"#### Step (\d+) of (\d+)")  # the Lesson page's step heading
FOLLOW_TARGET_S = 3.0  # a follower sees the teacher's new step (p95), given the 2 s poll
NEXT_TARGET_S = 1.0  # the teacher's Next (p95)
TRAIN_TIMEOUT_S = 600.0  # the teacher's Train: 3 cells x 700 steps while the class polls
LAST_STEP_WAIT_S = 30.0  # after the last Next, at most this for every follower to show it
MEMORY_TARGET_MB = 690.0  # the smallest memory Streamlit Community Cloud grants an app
WARM_UP_THREADS = 2  # rnnviz.presentation.ui.WARM_UP_THREADS (not imported: ui imports streamlit's runtime)


# --- what the students do ---------------------------------------------------------------

def page_of(script_path: str) -> str:
    """The URL path Streamlit gives a page script: pages/1_Gradient_flow.py -> Gradient_flow."""
    name = script_path.rsplit("/", 1)[-1].removesuffix(".py")
    return "" if script_path == "app.py" else name.split("_", 1)[1]


def free_link(rng: random.Random) -> tuple[str, dict]:
    """A random page with random settings in its query string."""
    page = rng.choice(FREE_PAGES)
    if page == LAB_PAGE:
        q = {"compare": rng.choice(["true", "false"]), "task": rng.choice(list(TASKS)),
             "T": rng.randint(10, train.T_MAX), "cell": rng.choice(CELLS),
             "hidden_size": rng.choice([8, 16, 32, 64]), "scheme": rng.choice(SCHEMES),
             "gain": round(rng.uniform(0.5, 1.5), 2), "seed": rng.randint(0, 99)}
        return page, q
    if page == DEEP_PAGE:
        q = {"cell": rng.choice(CELLS), "T": rng.randint(FREE_T[0], deep.MAX_T),
             "H": rng.choice(deep.HIDDEN_SIZES), "layers": rng.randint(1, deep.MAX_LAYERS),
             "bidirectional": rng.choice(["true", "false"]), "read": rng.choice(deep.READS),
             "init": rng.choice(SCHEMES), "gain": round(rng.uniform(0.5, 1.5), 2),
             "inputs": rng.choice(INPUT_KINDS), "seed": rng.randint(0, 99)}
        return page, q
    q = {"T": rng.randint(*FREE_T), "H": rng.choice(one_layer.HIDDEN_SIZES),
         "init": rng.choice(SCHEMES), "gain": round(rng.uniform(0.5, 1.5), 2),
         "inputs": rng.choice(INPUT_KINDS), "loss": rng.choice(LOSS_PLACEMENTS),
         "seed": rng.randint(0, 99)}
    if page != "Compare_cells":
        q["cell"] = rng.choice(CELLS)
    if rng.random() < 0.2:
        q["radius"] = round(rng.uniform(0.5, 1.5), 2)
        q["radius_kind"] = rng.choice(RADIUS_KINDS)
    if q.get("cell") in ("lstm", None) and rng.random() < 0.3:
        q["forget_bias"] = round(rng.uniform(-2.0, 5.0), 1)
    if q.get("cell") in ("gru", None) and rng.random() < 0.3:
        q["update_bias"] = round(rng.uniform(-2.0, 3.0), 1)
    return page, q


def teacher_links(start: int, n: int) -> list[tuple[str, dict]]:
    return [(page_of(p.page), dict(p.query))
            for p in (presets.PRESETS[(start + j) % len(presets.PRESETS)] for j in range(n))]


def new_value(widget: dict, rng: random.Random):
    """(WidgetState field, value) for a random new setting of a widget seen in a delta."""
    kind, el = widget["kind"], widget["proto"]
    if kind == "checkbox":
        return "bool_value", not widget["value"]
    if kind in ("selectbox", "radio"):
        others = [o for i, o in enumerate(el.options) if i != widget["value"]] or list(el.options)
        return "string_value", rng.choice(others)
    if kind == "slider" and el.options:  # a select_slider: formatted options
        return "string_array_value", [rng.choice(list(el.options))]
    lo, hi, step = el.min, el.max, el.step or 1
    if widget["label"].startswith("Sequence length T") and hi >= FREE_T[1]:
        lo, hi = FREE_T
    if widget["label"].startswith("Gain"):
        lo, hi = 0.5, 1.5
    if kind == "number_input":
        lo = lo if el.has_min else 0.0
        hi = min(hi if el.has_max else lo + 99 * step, lo + 99 * step)  # seeds: a few
    value = lo + step * rng.randint(0, int(round((hi - lo) / step)))
    is_int = el.data_type == type(el).DataType.Value("INT")
    if kind == "slider":
        return "double_array_value", [float(round(value) if is_int else round(value, 6))]
    return ("int_value", int(round(value))) if is_int else ("double_value", round(value, 6))


# --- one student ------------------------------------------------------------------------

class Stats:
    def __init__(self):
        self.requests = []  # (kind "open"/"move", page, seconds)
        self.errors = []  # (student, what)
        self.exceptions = []  # (student, page, message)
        self.timeouts = 0
        self.upstreams = {}  # student -> replicas that served it (behind nginx)
        # the lesson scenario (time.perf_counter() seconds)
        self.trains = []  # ("train", page, seconds): the teacher's Train, not in requests
        self.polls = []  # (seconds from a poll's rerun_script to its run's end, status)
        self.reruns = []  # from a poll that found the room moved to the end of the full rerun
        self.follows = []  # (student, step, seconds from the teacher's Next to the student's view)
        self.trained = []  # (student, step, seconds from the teacher's Train to the trained
        #                    step on the student's page)
        self.lesson = {}  # moves, training step, missed (student, step) pairs, ...


class Session:
    """One browser tab's worth of Streamlit session, over one websocket."""

    def __init__(self, ws):
        self.ws = ws
        self.page_hash = ""
        self.query = ""
        self.widgets = {}  # id -> {"kind", "label", "proto", "value"}
        self.buttons = {}  # label -> id (st.button: a trigger, not moved by the students)
        self.step = self.steps = None  # the Lesson page's "#### Step N of M" heading: N, M

    async def request(self, client_state_fill, timeout: float):
        """Send a rerun_script; returns (seconds, finished status, exception messages)."""
        msg = BackMsg()
        client_state_fill(msg.rerun_script)
        t0 = time.perf_counter()
        await self.ws.send(msg.SerializeToString())
        exceptions = []
        self.widgets, self.buttons, self.step, self.steps = {}, {}, None, None
        deadline = t0 + timeout
        while True:
            data = await asyncio.wait_for(self.ws.recv(), max(0.01, deadline - time.perf_counter()))
            fwd = ForwardMsg()
            fwd.ParseFromString(data)
            kind = fwd.WhichOneof("type")
            if kind == "navigation":  # the page this run resolved to (pages are navigated)
                self.page_hash = fwd.navigation.page_script_hash
            elif kind == "page_info_changed":
                self.query = fwd.page_info_changed.query_string
            elif kind == "delta" and fwd.delta.WhichOneof("type") == "new_element":
                self._element(fwd.delta.new_element, exceptions)
            elif kind == "script_finished":
                return time.perf_counter() - t0, fwd.script_finished, exceptions

    def _element(self, el, exceptions):
        kind = el.WhichOneof("type")
        if kind == "exception":
            exceptions.append(f"{el.exception.type}: {el.exception.message}"[:200])
        elif kind == "button":
            self.buttons[el.button.label] = el.button.id
        elif kind == "markdown" and (m := STEP_HEADING.match(el.markdown.body)):
            self.step, self.steps = int(m.group(1)), int(m.group(2))
        elif kind in WIDGET_KINDS:
            w = getattr(el, kind)
            if kind == "checkbox":
                value = w.value if w.set_value else w.default
            elif kind in ("selectbox", "radio"):
                value = w.default if w.HasField("default") else None
                if w.set_value and w.HasField("raw_value") and w.raw_value in w.options:
                    value = list(w.options).index(w.raw_value)
            else:
                value = None
            self.widgets[w.id] = {"kind": kind, "label": w.label, "proto": w, "value": value}


def load_page(base: str, page: str, qs: str, cookies: dict, timeout: float) -> str:
    """GET the page as a browser does before it opens the websocket: keeps the cookies the
    server (or nginx in front of replicas) sets; returns the X-Rnnviz-Upstream header that
    scripts/nginx.conf.template adds (which replica answered), or ""."""
    request = urllib.request.Request(f"{base}/{page}?{qs}")
    if cookies:
        request.add_header("Cookie", "; ".join(f"{k}={v}" for k, v in cookies.items()))
    with urllib.request.urlopen(request, timeout=timeout) as r:
        r.read()
        for header in r.headers.get_all("Set-Cookie") or []:
            name, _, value = header.split(";", 1)[0].partition("=")
            cookies[name.strip()] = value.strip()
        return r.headers.get("X-Rnnviz-Upstream", "")


async def student(i: int, args, links, stats: Stats, base: str, t_end: float, seed: int):
    rng = random.Random(f"{seed}-{i}")
    ws_url = base.replace("http", "ws", 1) + "/_stcore/stream"
    cookies = {}
    await asyncio.sleep(rng.uniform(0, args.ramp))
    for j, (page, query) in enumerate(links(i, rng)):
        if time.time() > t_end:
            stats.errors.append((i, "run time limit reached"))
            return
        qs = urllib.parse.urlencode(query)
        try:
            upstream = await asyncio.to_thread(load_page, base, page, qs, cookies,
                                               args.request_timeout)
            headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())}
            async with websockets.connect(ws_url, subprotocols=["streamlit"], max_size=None,
                                          open_timeout=args.request_timeout,
                                          ping_interval=None, additional_headers=headers) as ws:
                seen = {upstream, ws.response.headers.get("X-Rnnviz-Upstream", "")} - {""}
                stats.upstreams.setdefault(i, set()).update(seen)
                s = Session(ws)

                def open_fill(cs):
                    cs.query_string, cs.page_name = qs, page

                if not await timed(s, "open", page, open_fill, i, stats, args):
                    continue
                await asyncio.sleep(rng.uniform(*args.think))
                movable = [w for w in s.widgets.values()]
                if not movable:
                    continue
                move_rng = random.Random(f"{seed}-link{j}") if args.scenario == "teacher" \
                    else rng
                widget = move_rng.choice(sorted(movable, key=lambda w: w["label"]))
                field, value = new_value(widget, move_rng)

                def move_fill(cs):
                    cs.query_string, cs.page_script_hash = s.query, s.page_hash
                    state = cs.widget_states.widgets.add()
                    state.id = widget["proto"].id
                    if isinstance(value, list):
                        getattr(state, field).data.extend(value)
                    else:
                        setattr(state, field, value)

                await timed(s, "move", page, move_fill, i, stats, args,
                            what=f"{widget['label']} -> {value}")
                await asyncio.sleep(rng.uniform(*args.think))
        except (OSError, websockets.WebSocketException, asyncio.TimeoutError) as e:  # noqa: PERF203
            stats.errors.append((i, f"{page}: connection: {type(e).__name__}: {e}"[:200]))


async def one_view(base: str, page: str, query: dict, stats: Stats, args) -> None:
    """Open one page (a session of its own) and wait for its script to finish."""
    qs = urllib.parse.urlencode(query)
    cookies = {}
    await asyncio.to_thread(load_page, base, page, qs, cookies, args.request_timeout)
    ws_url = base.replace("http", "ws", 1) + "/_stcore/stream"
    headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())}
    async with websockets.connect(ws_url, subprotocols=["streamlit"], max_size=None,
                                  ping_interval=None, additional_headers=headers) as ws:
        s = Session(ws)

        def fill(cs):
            cs.query_string, cs.page_name = qs, page

        await timed(s, "open", page, fill, -1, stats, args)


async def timed(session, kind, page, fill, i, stats, args, what="", timeout=None) -> bool:
    timeout = timeout or args.request_timeout
    try:
        seconds, status, exceptions = await session.request(fill, timeout)
    except asyncio.TimeoutError:
        stats.timeouts += 1
        stats.errors.append((i, f"{kind} {page} {what}: no script_finished within "
                                f"{timeout:.0f} s"))
        return False
    (stats.trains if kind == "train" else stats.requests).append((kind, page, seconds))
    for message in exceptions:
        stats.exceptions.append((i, page, message))
        stats.errors.append((i, f"{kind} {page} {what}: exception shown: {message[:80]}"))
    if status != FINISHED_OK:
        stats.errors.append((i, f"{kind} {page} {what}: script finished with "
                                f"{ForwardMsg.ScriptFinishedStatus.Name(status)}"))
    if args.verbose:
        print(f"  s{i:02d} {kind:4s} {seconds:6.2f} s {page} {what}", flush=True)
    return True


# --- a lesson: the class follows the teacher's room -------------------------------------

def ws_headers(cookies: dict) -> dict:
    return {"Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())}


def press(session: Session, label: str):
    """A click on the button `label` of the session's last run: its trigger in a
    rerun_script with the page's script hash and the query string the app last wrote."""
    button_id = session.buttons[label]

    def fill(cs):
        cs.query_string, cs.page_script_hash = session.query, session.page_hash
        state = cs.widget_states.widgets.add()
        state.id, state.trigger_value = button_id, True
    return fill


class Follower:
    """A student's tab on the Lesson page of a room, kept open as a browser keeps it: one
    websocket for the whole lesson, a reader of its ForwardMsgs, and the frontend's timer
    for each `auto_rerun` (st.fragment(run_every=...)): every `interval` seconds, answered
    or not (setInterval), a rerun_script with the fragment's id and is_auto_rerun, the
    page's script hash and the query string the app last wrote. A full run's new_session
    clears the timers (its fragment's auto_rerun starts one again); stop_auto_rerun cancels
    those it names. A poll is served by the first run that starts after it was sent."""

    def __init__(self, i: int, ws, stats: Stats, args):
        self.i, self.ws, self.stats, self.args = i, ws, stats, args
        self.page_hash, self.query = "", ""
        self.timers = []  # (fragment id, asyncio.Task)
        self.pending, self.serving = [], []  # polls' send times: not yet in a run; in this one
        self.run_full, self.run_step, self.run_train = False, None, False
        self.runs = []  # (finished at, step shown, Train button shown) of each full run
        self.open_sent = None
        self.opened = asyncio.Event()  # the opening run finished (or the session failed)
        self.auto_reruns = 0
        self.moved_by = None  # send time of the poll whose run asked for a full rerun
        self.closing = False

    async def open(self, qs: str) -> None:
        msg = BackMsg()
        msg.rerun_script.query_string, msg.rerun_script.page_name = qs, LESSON_PAGE
        self.open_sent = time.perf_counter()
        await self.ws.send(msg.SerializeToString())

    async def read(self) -> None:
        try:
            async for data in self.ws:
                self._message(data, time.perf_counter())
            if not self.closing:
                self._error("connection closed by the server")
        except websockets.ConnectionClosed as e:
            if not self.closing:
                self._error(f"connection: {type(e).__name__}: {e}")
        finally:
            self._cancel(None)
            self.opened.set()

    def _error(self, what: str) -> None:
        self.stats.errors.append((self.i, f"{LESSON_PAGE}: {what}"[:200]))

    def _message(self, data: bytes, now: float) -> None:
        fwd = ForwardMsg()
        fwd.ParseFromString(data)
        kind = fwd.WhichOneof("type")
        if kind == "new_session":
            self.run_full = not fwd.metadata.run.fragment_ids
            self.run_step, self.run_train = None, False
            if self.run_full:  # the frontend's cleanupAutoReruns
                self._cancel(None)
            self.serving += self.pending
            self.pending = []
        elif kind == "navigation":
            self.page_hash = fwd.navigation.page_script_hash
        elif kind == "page_info_changed":
            self.query = fwd.page_info_changed.query_string
        elif kind == "auto_rerun":
            self.auto_reruns += 1
            task = asyncio.create_task(self._poll(fwd.auto_rerun.fragment_id,
                                                  max(fwd.auto_rerun.interval, 0.1)))
            self.timers.append((fwd.auto_rerun.fragment_id, task))
        elif kind == "stop_auto_rerun":
            self._cancel(set(fwd.stop_auto_rerun.fragment_ids))
        elif kind == "delta" and fwd.delta.WhichOneof("type") == "new_element":
            el = fwd.delta.new_element
            what = el.WhichOneof("type")
            if what == "exception":
                message = f"{el.exception.type}: {el.exception.message}"[:200]
                self.stats.exceptions.append((self.i, LESSON_PAGE, message))
                self._error(f"exception shown: {message[:80]}")
            elif what == "markdown" and (m := STEP_HEADING.match(el.markdown.body)):
                self.run_step = int(m.group(1))
            elif what == "button" and el.button.label == "Train":
                self.run_train = True
        elif kind == "script_finished":
            status = fwd.script_finished
            self.stats.polls += [(now - sent, status) for sent in self.serving]
            if status == FINISHED_RERUN and self.serving and not self.run_full:
                self.moved_by = min(self.serving)
            self.serving = []
            if status not in (FINISHED_OK, FINISHED_FRAGMENT, FINISHED_RERUN):
                self._error(f"script finished with {ForwardMsg.ScriptFinishedStatus.Name(status)}")
            if self.run_full and status != FINISHED_RERUN:
                if not self.opened.is_set():
                    self.stats.requests.append(("open", LESSON_PAGE, now - self.open_sent))
                    if self.auto_reruns == 0:
                        self._error(f"not following: the page (step {self.run_step}) asked "
                                    "for no auto-rerun")
                    self.opened.set()
                elif self.moved_by is not None:
                    self.stats.reruns.append(now - self.moved_by)
                    self.moved_by = None
                if status == FINISHED_OK:
                    self.runs.append((now, self.run_step, self.run_train))
                if self.args.verbose:
                    print(f"  s{self.i:02d} shows step {self.run_step}"
                          f"{' (Train button)' if self.run_train else ''}", flush=True)

    async def _poll(self, fragment_id: str, interval: float) -> None:
        """setInterval(() => sendUpdateWidgetsMessage(fragmentId, true), interval)"""
        t_next = time.perf_counter()
        while True:
            t_next += interval
            await asyncio.sleep(max(0.0, t_next - time.perf_counter()))
            msg = BackMsg()
            cs = msg.rerun_script
            cs.query_string, cs.page_script_hash = self.query, self.page_hash
            cs.fragment_id, cs.is_auto_rerun = fragment_id, True
            self.pending.append(time.perf_counter())
            try:
                await self.ws.send(msg.SerializeToString())
            except websockets.ConnectionClosed:
                return

    def _cancel(self, fragment_ids) -> None:
        """Cancel the timers of these fragments (None: all)."""
        keep = []
        for fragment_id, task in self.timers:
            if fragment_ids is None or fragment_id in fragment_ids:
                task.cancel()
            else:
                keep.append((fragment_id, task))
        self.timers = keep

    def seen(self) -> dict[int, float]:
        """step -> when a full run first showed it."""
        first = {}
        for t, step, _ in self.runs:
            first.setdefault(step, t)
        return first


async def lesson_student(i: int, args, code: str, stats: Stats, base: str, seed: int,
                         followers: dict, joined: asyncio.Event, over: asyncio.Event):
    """Join the room within --ramp, follow it until the lesson is over."""
    rng = random.Random(f"{seed}-{i}")
    await asyncio.sleep(rng.uniform(0, args.ramp))
    qs = urllib.parse.urlencode({"room": code})
    cookies = {}
    try:
        upstream = await asyncio.to_thread(load_page, base, LESSON_PAGE, qs, cookies,
                                           args.request_timeout)
        ws_url = base.replace("http", "ws", 1) + "/_stcore/stream"
        async with websockets.connect(ws_url, subprotocols=["streamlit"], max_size=None,
                                      open_timeout=args.request_timeout, ping_interval=None,
                                      additional_headers=ws_headers(cookies)) as ws:
            seen = {upstream, ws.response.headers.get("X-Rnnviz-Upstream", "")} - {""}
            stats.upstreams.setdefault(i, set()).update(seen)
            f = followers[i] = Follower(i, ws, stats, args)
            reader = asyncio.create_task(f.read())
            await f.open(qs)
            try:
                await asyncio.wait_for(f.opened.wait(), args.request_timeout)
            except asyncio.TimeoutError:
                stats.timeouts += 1
                f._error(f"open: no script_finished within {args.request_timeout:.0f} s")
            joined.set()
            await over.wait()
            f.closing = True
            f._cancel(None)
            await ws.close()
            await reader
    except (OSError, websockets.WebSocketException, asyncio.TimeoutError) as e:
        stats.errors.append((i, f"{LESSON_PAGE}: connection: {type(e).__name__}: {e}"[:200]))
    finally:
        joined.set()


async def run_lesson(args, base: str, students: int, seed: int, stats: Stats,
                     t_end: float) -> None:
    """The teacher (one session, index -1) starts a room at step 1 of LESSON_NAME; the
    class joins within --ramp and follows; the teacher waits until everyone has joined,
    then moves on with Next every --step-seconds to the last step, pressing Train on the
    step that asks for it; then the class stays on the last step for --step-seconds (and
    until every follower shows it, at most LAST_STEP_WAIT_S) and leaves."""
    qs = urllib.parse.urlencode({"lesson": LESSON_NAME, "step": "1"})
    cookies = {}
    await asyncio.to_thread(load_page, base, LESSON_PAGE, qs, cookies, args.request_timeout)
    ws_url = base.replace("http", "ws", 1) + "/_stcore/stream"
    followers, done = {}, {}  # student -> Follower; step -> when the teacher's Next finished
    next_s = {}  # step -> seconds of the teacher's Next to it
    joined = [asyncio.Event() for _ in range(students)]
    over = asyncio.Event()
    tasks, trained_at, code = [], {}, ""  # trained_at: step -> when the teacher's Train finished
    t_lesson = time.perf_counter()
    try:
        async with websockets.connect(ws_url, subprotocols=["streamlit"], max_size=None,
                                      open_timeout=args.request_timeout, ping_interval=None,
                                      additional_headers=ws_headers(cookies)) as ws:
            t = Session(ws)

            def open_fill(cs):
                cs.query_string, cs.page_name = qs, LESSON_PAGE

            start = "Start a room for a class"
            if not await timed(t, "open", LESSON_PAGE, open_fill, -1, stats, args, "(teacher)"):
                return
            if start not in t.buttons:
                stats.errors.append((-1, f"teacher: no '{start}' button on {LESSON_PAGE}?{qs}"))
                return
            if not await timed(t, "start", LESSON_PAGE, press(t, start), -1, stats, args):
                return
            code = urllib.parse.parse_qs(t.query).get("room", [""])[0]
            if not code or t.step is None:
                stats.errors.append((-1, f"teacher: no room or no step after the start "
                                         f"(query {t.query!r}, step {t.step})"))
                return
            step, last = t.step, t.steps
            if args.verbose:
                print(f"  teacher: room {code} at step {step} of {last}", flush=True)
            tasks = [asyncio.create_task(lesson_student(i, args, code, stats, base, seed,
                                                        followers, joined[i], over))
                     for i in range(students)]
            try:
                await asyncio.wait_for(asyncio.gather(*(e.wait() for e in joined)),
                                       args.ramp + args.request_timeout + 10)
            except asyncio.TimeoutError:
                stats.errors.append((-1, "teacher: not every student had joined in time"))
            t_lesson = time.perf_counter()
            while step < last:
                await asyncio.sleep(args.step_seconds)  # the teacher talks
                if time.time() > t_end:
                    stats.errors.append((-1, f"teacher: run time limit reached at step {step}"))
                    break
                if "Next" not in t.buttons:
                    stats.errors.append((-1, f"teacher: no Next button at step {step}"))
                    break
                if not await timed(t, "next", LESSON_PAGE, press(t, "Next"), -1, stats, args,
                                   what=f"-> step {step + 1}"):
                    break
                done[step + 1] = time.perf_counter()
                next_s[step + 1] = next(s for k, _, s in reversed(stats.requests) if k == "next")
                if t.step != step + 1:
                    stats.errors.append((-1, f"teacher: Next from step {step} shows step "
                                             f"{t.step}"))
                    break
                step = t.step
                if "Train" in t.buttons:  # a training step nobody has run on this server
                    bound = max(args.request_timeout, min(TRAIN_TIMEOUT_S, t_end - time.time()))
                    if not await timed(t, "train", LESSON_PAGE, press(t, "Train"), -1, stats,
                                       args, what=f"at step {step}", timeout=bound):
                        break
                    trained_at[step] = time.perf_counter()
            else:
                await asyncio.sleep(args.step_seconds)  # the last step
                deadline = time.perf_counter() + LAST_STEP_WAIT_S
                while time.perf_counter() < deadline and any(
                        last not in f.seen() for f in followers.values()):
                    await asyncio.sleep(0.1)
    finally:
        over.set()
        await asyncio.gather(*tasks)
        lesson_figures(stats, students, followers, done, trained_at)
        stats.lesson.update(room=code, lesson_s=time.perf_counter() - t_lesson,
                            step_seconds=args.step_seconds, next_by_step=next_s)


def lesson_figures(stats: Stats, students: int, followers: dict, done: dict,
                   trained_at: dict) -> None:
    """Per (student, move): when the student's page first showed the teacher's new step,
    from the moment the teacher's Next finished (negative: the student's poll came between
    the room's move, in Next's callback, and the end of the teacher's own run); a pair
    never shown is an error. Per student and training step: when the step first showed its
    result (a full run without the Train button), from the end of the teacher's Train."""
    missed = {}
    for i in range(students):
        f = followers.get(i)
        seen = f.seen() if f else {}
        for step, t_done in sorted(done.items()):
            if step in seen:
                stats.follows.append((i, step, seen[step] - t_done))
            else:
                missed.setdefault(i, []).append(step)
        for train_step, t_trained in sorted(trained_at.items()):
            if train_step not in seen:
                continue
            shown = [t for t, step, train in f.runs if step == train_step and not train]
            if shown:
                stats.trained.append((i, train_step, shown[0] - t_trained))
            else:
                stats.errors.append((i, f"{LESSON_PAGE}: never showed step {train_step} "
                                        "trained"))
    for i, steps in missed.items():
        stats.errors.append((i, f"{LESSON_PAGE}: never saw step(s) {', '.join(map(str, steps))}"))
    stats.lesson = {"moves": len(done), "train_steps": sorted(trained_at),
                    "missed": sum(len(steps) for steps in missed.values()),
                    "students_missing_a_step": len(missed),
                    "auto_reruns": sum(f.auto_reruns for f in followers.values())}


async def run_class(args, base: str, students: int, seed: int) -> Stats:
    stats = Stats()
    if args.scenario == "lesson":
        await run_lesson(args, base, students, seed, stats, time.time() + args.max_seconds)
        return stats
    if args.scenario == "free":
        def links(i, rng):
            return [free_link(rng) for _ in range(args.links)]
    else:
        start = random.Random(seed).randrange(len(presets.PRESETS))

        def links(i, rng):
            return teacher_links(start, args.links)
    t_end = time.time() + args.max_seconds
    if args.scenario == "teacher" and args.lead:
        teacher = Stats()
        await one_view(base, *links(-1, None)[0], teacher, args)
        stats.errors += [(-1, f"teacher: {what}") for _, what in teacher.errors]
        await asyncio.sleep(args.lead)
    await asyncio.gather(*(student(i, args, links, stats, base, t_end, seed)
                           for i in range(students)))
    return stats


# --- one run: server, class, figures ----------------------------------------------------

def warm_up_server(url: str) -> None:
    """The app's start-up hook: one headless run of the home page (see README)."""
    try:
        urllib.request.urlopen(url + "/_stcore/script-health-check", timeout=120).read()
    except OSError as e:
        print(f"script health check failed ({e}); warm-up starts at the first visit")


def wait_for_warm_up(server, max_seconds: float) -> list[str]:
    """Wait (at most max_seconds) until every warm-up thread of `server` has logged that it
    finished; returns those log lines."""
    t0, done = time.time(), []
    while time.time() - t0 < max_seconds:
        time.sleep(1.0)
        done = [line for line in server.log_path.read_text().splitlines()
                if line.startswith("rnnviz warm-up:") and "compiled" in line]
        if len(done) >= WARM_UP_THREADS:
            break
    return done


def measure_warm_up(args) -> int:
    """Start a server with an empty XLA cache, run its start-up hook, and time the app's
    warm-up: until every warm-up thread has logged that it finished (no visitors)."""
    server = AppServer(extra_args=["--server.scriptHealthCheckEnabled", "true"],
                       name="warm_up")
    monitor = MemoryMonitor([server.pid])
    monitor.start()
    try:
        server.wait_healthy()
        t0 = time.time()
        warm_up_server(server.url)
        cpu0 = cpu_seconds(server.pid)
        done = wait_for_warm_up(server, args.max_seconds)
        wall = time.time() - t0
        compiles = server.events("compile")
        print(f"warm-up: {wall:.0f} s from the start-up hook to the last warm-up thread's "
              f"end ({'done' if len(done) >= WARM_UP_THREADS else 'NOT done: time limit'}); "
              f"{len(compiles)} XLA compiles ({sum(c[1] for c in compiles):.0f} s), server "
              f"CPU {cpu_seconds(server.pid) - cpu0:.0f} s, peak RSS {monitor.peak_mb():.0f} MB")
        for line in server.log_path.read_text().splitlines():
            if line.startswith("rnnviz warm-up:"):
                print("  " + line)
        return 0 if len(done) >= WARM_UP_THREADS else 1
    finally:
        monitor.stop()
        server.stop()


def one_run(args, run: int) -> list[dict]:
    """One server (its own, or --url's); one class per size in --students, one after the
    other on it (the first on a cold or --warm server, the later ones on a server warmed
    by the classes before too)."""
    server, sources = None, source_mtimes()
    if args.url:
        base, pids = args.url.rstrip("/"), [int(p) for p in args.pids.split(",") if p]
    else:
        server = AppServer(extra_args=["--server.scriptHealthCheckEnabled", "true"],
                           name="class_load")
        base, pids = server.url, [server.pid]
    results = []
    try:
        if server:
            started = server.wait_healthy()
            print(f"run {run}: server pid {server.pid} healthy after {started:.1f} s "
                  f"(XLA cache {server.xla_cache}, logs {server.dir})", flush=True)
        if args.warm:
            warm_up_server(base)
            if args.warm < 0 and server:  # until the warm-up has compiled the catalogue
                t0 = time.time()
                done = wait_for_warm_up(server, args.max_seconds)
                print(f"run {run}: warm-up {'done' if len(done) >= WARM_UP_THREADS else 'NOT done'}"
                      f" after {time.time() - t0:.0f} s", flush=True)
            else:
                time.sleep(abs(args.warm))
        for n, students in enumerate(args.sizes):
            # VmHWM is the process's peak since it started: for a later class, only the
            # sampled VmRSS is that class's own.
            monitor = MemoryMonitor(pids, use_hwm=n == 0)
            monitor.start()
            cpu0 = sum(cpu_seconds(p) for p in pids)
            rss0 = max((status_kb(p, "VmRSS") for p in pids), default=0) / 1024
            t0 = time.time()
            try:
                stats = asyncio.run(run_class(args, base, students, args.seed + 1000 * n))
            finally:
                monitor.stop()
            result = summary(args, stats, students, time.time() - t0,
                             sum(cpu_seconds(p) for p in pids) - cpu0, monitor.peak_mb())
            result["class_in_run"] = n
            result["rss_class_mb"] = {
                "start": rss0, "peak_sampled": max(monitor.peak_rss_kb.values(), default=0) / 1024}
            if server:
                result["compiles"] = compile_summary(server, t0)
                # every script run of the server (fragment runs too), timed in the server
                result["script_runs"] = spread([s for _, s, _ in server.events("script", t0)])
            result["sources_changed"] = changed_sources(sources)
            results.append(result)
            report(result, TARGETS[args.scenario])
    finally:
        if server:
            server.stop()
    return results


def spread(xs) -> dict:
    return {"n": len(xs), "p50": percentile(xs, 0.5), "p95": percentile(xs, 0.95),
            "max": max(xs, default=float("nan")), "min": min(xs, default=float("nan"))}


def summary(args, stats: Stats, students: int, wall: float, cpu: float, peak_mb: float) -> dict:
    times = [s for _, _, s in stats.requests]
    kinds = ("open", "start", "next") if args.scenario == "lesson" else ("open", "move")
    result = {
        "scenario": args.scenario, "students": students, "links": args.links,
        "warm_s": args.warm, "requests": len(times), "errors": len(stats.errors),
        "exceptions": len(stats.exceptions), "timeouts": stats.timeouts,
        "p50": percentile(times, 0.5), "p95": percentile(times, 0.95),
        "max": max(times, default=float("nan")), "peak_rss_mb": peak_mb,
        "server_cpu_s": cpu, "wall_s": wall,
        "server_cpu_s_per_min": cpu / (wall / 60) if wall > 0 else float("nan"),
        "by_page": {page: {"n": len(ts), "p50": percentile(ts, 0.5),
                           "p95": percentile(ts, 0.95)}
                    for page in sorted({p for _, p, _ in stats.requests})
                    for ts in [[s for _, p2, s in stats.requests if p2 == page]]},
        "by_kind": {kind: {"n": len(ts), "p50": percentile(ts, 0.5), "p95": percentile(ts, 0.95)}
                    for kind in kinds
                    for ts in [[s for k, _, s in stats.requests if k == kind]]},
        "replicas": {u: sum(1 for ups in stats.upstreams.values() if u in ups)
                     for u in sorted(set().union(*stats.upstreams.values())) if u},
        "students_on_two_replicas": sum(1 for ups in stats.upstreams.values() if len(ups) > 1),
        "error_list": [f"s{i:02d} {what}" for i, what in stats.errors[:20]],
    }
    if args.scenario == "lesson":
        result["lesson"] = lesson_summary(stats, students)
        result["follow_p95"] = result["lesson"]["follow"]["p95"]
        result["next_p95"] = result["lesson"]["next"]["p95"]
    return result


def lesson_summary(stats: Stats, students: int) -> dict:
    """The lesson's own figures: the followers' delay per (student, move), the teacher's
    requests, the polls (fragment auto-reruns) and the full reruns they led to."""
    polls = [s for s, _ in stats.polls]
    minutes = stats.lesson.get("lesson_s", 0.0) / 60
    return {
        **stats.lesson,
        "follow": spread([s for _, _, s in stats.follows]),
        "follow_by_step": {step: spread(ts) for step in sorted({s for _, s, _ in stats.follows})
                           for ts in [[x for _, s2, x in stats.follows if s2 == step]]},
        "next": spread([s for k, _, s in stats.requests if k == "next"]),
        "start_s": next((s for k, _, s in stats.requests if k == "start"), float("nan")),
        "train_s": [s for _, _, s in stats.trains],
        "trained_shown": {step: spread([x for _, s, x in stats.trained if s == step])
                          for step in sorted({s for _, s, _ in stats.trained})},
        "polls": spread(polls),
        "polls_per_student_min": len(polls) / students / minutes if minutes else float("nan"),
        "reruns": spread(stats.reruns),
    }


def compile_summary(server: AppServer, t_class: float) -> dict:
    """XLA compiles of the server: before the class came, during it, and by program."""
    compiles = server.events("compile")
    hits = server.events("cache_hit")
    programs = server.events("program")
    during = [c for c in compiles if c[0] >= t_class]
    by_name = {}
    for _, seconds, name in during:
        n, s = by_name.get(name, (0, 0.0))
        by_name[name] = (n + 1, s + seconds)
    return {
        "before_class": len([c for c in compiles if c[0] < t_class]),
        "before_class_s": sum(c[1] for c in compiles if c[0] < t_class),
        "during_class": len(during), "during_class_s": sum(c[1] for c in during),
        "cache_hits_during_class": len([h for h in hits if h[0] >= t_class]),
        "programs_stored": len(programs),
        "distinct_programs": len({name for _, _, name in programs}),
        "trace_s": sum(e[1] for e in server.events("trace") if e[0] >= t_class),
        "lower_s": sum(e[1] for e in server.events("lower") if e[0] >= t_class),
        "top": sorted(((s, n, name) for name, (n, s) in by_name.items()), reverse=True)[:12],
        "log": str(server.compile_log),
    }


def report(r: dict, targets: dict) -> None:
    state = "warm" if r["warm_s"] else "cold"
    target = targets[state]
    ok = lambda cond: "ok" if cond else "MISSED"  # noqa: E731
    when = f" ({r['warm_s']:.0f} s after start)" if r["warm_s"] else ""
    lesson = r.get("lesson")
    if lesson:
        print(f"\nlesson scenario, {r['students']} students following a teacher's room "
              f"({LESSON_NAME}, {lesson['moves']} moves, one every {lesson['step_seconds']:g} s), "
              f"{state} server{when}: {r['requests']} requests and {lesson['polls']['n']} "
              f"polls in {r['wall_s']:.0f} s")
    else:
        print(f"\n{r['scenario']} scenario, {r['students']} students x {r['links']} links, "
              f"{state} server{when}: {r['requests']} requests in {r['wall_s']:.0f} s")
    print(f"  errors {r['errors']} (of which exceptions shown {r['exceptions']}, "
          f"time-outs {r['timeouts']})   [0 errors: {ok(r['errors'] == 0)}]")
    print(f"  request -> script_finished: p50 {r['p50']:.2f} s, p95 {r['p95']:.2f} s, "
          f"max {r['max']:.2f} s   [p95 <= {target:g} s: {ok(r['p95'] <= target)}]")
    for kind, v in r["by_kind"].items():
        print(f"    {kind:5s} n={v['n']:3d} p50 {v['p50']:6.2f} s  p95 {v['p95']:6.2f} s")
    for page, v in r["by_page"].items():
        print(f"    {page:17s} n={v['n']:3d} p50 {v['p50']:6.2f} s  p95 {v['p95']:6.2f} s")
    if lesson:
        report_lesson(lesson, ok)
    if r["peak_rss_mb"]:
        print(f"  server peak RSS {r['peak_rss_mb']:.0f} MB   [<= {MEMORY_TARGET_MB:.0f} MB: "
              f"{ok(r['peak_rss_mb'] <= MEMORY_TARGET_MB)}];  server CPU {r['server_cpu_s']:.0f} s"
              f" ({r['server_cpu_s_per_min']:.1f} s per minute of the class)")
    if r.get("rss_class_mb"):
        print(f"  server RSS during the class: {r['rss_class_mb']['start']:.0f} MB at its start, "
              f"peak {r['rss_class_mb']['peak_sampled']:.0f} MB (VmRSS sampled every 0.1 s)")
    if r.get("script_runs"):
        v = r["script_runs"]
        print(f"  the server's script runs during the class (fragment runs included), timed in the "
              f"server: n={v['n']} p50 {v['p50'] * 1000:.0f} ms, p95 {v['p95'] * 1000:.0f} ms, "
              f"max {v['max']:.2f} s")
    if r["replicas"]:
        print(f"  students per replica {r['replicas']}; students whose sessions reached more "
              f"than one replica: {r['students_on_two_replicas']}")
    c = r.get("compiles")
    if c:
        print(f"  XLA compiles: {c['before_class']} before the class "
              f"({c['before_class_s']:.0f} s), "
              f"{c['during_class']} during it ({c['during_class_s']:.0f} s; "
              f"{c['cache_hits_during_class']} of them read from the persistent cache); "
              f"tracing {c['trace_s']:.0f} s, lowering {c['lower_s']:.0f} s; "
              f"{c['distinct_programs']} distinct programs stored")
        for seconds, n, name in c["top"]:
            print(f"    {seconds:6.1f} s  {n:4d} x {name}")
    for line in r["error_list"]:
        print("  error:", line)
    if r.get("sources_changed"):
        print(f"  WARNING: sources changed during the run ({', '.join(r['sources_changed'])}); "
              "the server re-imports changed modules under live sessions, so these figures "
              "are not valid.")


def report_lesson(x: dict, ok) -> None:
    f, nx, p, rr = x["follow"], x["next"], x["polls"], x["reruns"]
    print(f"  a follower sees the new step (teacher's Next finished -> the student's full rerun "
          f"finished), over {f['n']} (student, move) pairs: p50 {f['p50']:.2f} s, "
          f"p95 {f['p95']:.2f} s, max {f['max']:.2f} s (min {f['min']:.2f} s)   "
          f"[p95 <= {FOLLOW_TARGET_S:g} s: {ok(f['p95'] <= FOLLOW_TARGET_S)}]")
    print(f"    never seen: {x['missed']} (student, move) pairs, "
          f"{x['students_missing_a_step']} students   [0: {ok(x['missed'] == 0)}]")
    for step, v in x["follow_by_step"].items():
        print(f"    -> step {step:2d}  n={v['n']:3d} p50 {v['p50']:5.2f} s  p95 {v['p95']:5.2f} s"
              f"  max {v['max']:5.2f} s")
    print(f"  teacher: start the room {x['start_s']:.2f} s; Next n={nx['n']} "
          f"p50 {nx['p50']:.2f} s, p95 {nx['p95']:.2f} s, max {nx['max']:.2f} s   "
          f"[p95 <= {NEXT_TARGET_S:g} s: {ok(nx['p95'] <= NEXT_TARGET_S)}]")
    print("    Next to step " + ", ".join(f"{step}: {s:.2f} s"
                                         for step, s in x["next_by_step"].items()))
    for step, seconds in zip(x["train_steps"], x["train_s"]):
        tr = x["trained_shown"].get(step, spread([]))
        print(f"  teacher's Train at step {step}: {seconds:.1f} s; the followers show the trained "
              f"step after it finished: n={tr['n']} p50 {tr['p50']:.2f} s, p95 {tr['p95']:.2f} s, "
              f"max {tr['max']:.2f} s (min {tr['min']:.2f} s)")
    if not x["train_s"]:
        print("  no step asked for Train (already trained on this server)")
    print(f"  polls (fragment auto-reruns): {p['n']} ({x['polls_per_student_min']:.1f} per "
          f"student per minute), poll -> script_finished p50 {p['p50'] * 1000:.0f} ms, "
          f"p95 {p['p95'] * 1000:.0f} ms, max {p['max']:.2f} s")
    print(f"    a poll that found the room moved (or the step trained) -> the full rerun finished:"
          f" n={rr['n']} p50 {rr['p50']:.2f} s, p95 {rr['p95']:.2f} s, max {rr['max']:.2f} s")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scenario", choices=("free", "teacher", "lesson"), default="free")
    ap.add_argument("--students", default="30",
                    help="class size; a comma-separated list (5,10,20,30) runs one class of "
                         "each size in turn on the same server and reports the knee: the "
                         "largest class whose p95 stays within the target")
    ap.add_argument("--links", type=int, default=5,
                    help="deep links each student opens (not in the lesson scenario)")
    ap.add_argument("--warm", type=float, default=0.0,
                    help="seconds to wait after start, no visitors, before the class; "
                         "-1: until the app's warm-up has compiled its whole catalogue")
    ap.add_argument("--url", help="an existing server (or nginx in front of replicas)")
    ap.add_argument("--pids", default="", help="with --url: server PIDs for the memory figure")
    ap.add_argument("--think", type=float, nargs=2, default=(2.0, 5.0), metavar=("MIN", "MAX"),
                    help="seconds between a student's actions (uniform)")
    ap.add_argument("--ramp", type=float, default=2.0, help="students arrive within this")
    ap.add_argument("--lead", type=float, default=15.0,
                    help="teacher scenario: seconds between the teacher's view of the first "
                         "preset and the students' (0: no teacher view)")
    ap.add_argument("--step-seconds", type=float, default=20.0,
                    help="lesson scenario: seconds the teacher spends on a step before Next")
    ap.add_argument("--request-timeout", type=float, default=90.0)
    ap.add_argument("--max-seconds", type=float, default=900.0, help="bound on one run")
    ap.add_argument("--repeat", type=int, default=1, help="runs, each on a fresh server")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", help="write every run's figures to this file")
    ap.add_argument("--verbose", action="store_true", help="print every request")
    ap.add_argument("--measure-warm-up", action="store_true",
                    help="no class: time the app's warm-up on an idle server")
    args = ap.parse_args(argv)
    if args.measure_warm_up:
        return measure_warm_up(args)
    if args.url and urllib.parse.urlparse(args.url).hostname not in ("127.0.0.1", "localhost"):
        ap.error("--url must be on 127.0.0.1")
    try:
        args.sizes = [max(1, min(int(n), 500)) for n in args.students.split(",")]
    except ValueError:
        ap.error("--students takes whole numbers, comma-separated")
    args.links = max(1, min(args.links, 50))
    args.step_seconds = max(0.0, min(args.step_seconds, 300.0))
    runs = []  # one list of classes per run
    for run in range(args.repeat):
        runs.append(one_run(args, run))
        args.seed += 1
    target = TARGETS[args.scenario]["warm" if args.warm else "cold"]
    for n, size in enumerate(args.sizes):
        classes = [r[n] for r in runs]
        if len(classes) > 1:
            print(f"\n{size} students, over {len(classes)} runs: median (min-max)")
            keys = ("p50", "p95", "max", "peak_rss_mb", "errors") + (
                ("follow_p95", "next_p95") if args.scenario == "lesson" else ())
            for key in keys:
                xs = [c[key] for c in classes]
                print(f"  {key:12s} {statistics.median(xs):8.2f}  ({min(xs):.2f}-{max(xs):.2f})")
    if len(args.sizes) > 1:
        key = "p95"
        if args.scenario == "lesson":  # the class's figure: how soon a follower sees a step
            key, target = "follow_p95", FOLLOW_TARGET_S
        fits = [size for n, size in enumerate(args.sizes)
                if statistics.median(r[n][key] for r in runs) <= target
                and all(r[n]["errors"] == 0 for r in runs)]
        print(f"\nknee: the largest class with {key} <= {target:g} s and no errors: "
              f"{max(fits) if fits else 'none of ' + args.students}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(runs, f, indent=1, default=str)
    return 0 if all(c["errors"] == 0 and not c["sources_changed"] for r in runs for c in r) \
        else 1


if __name__ == "__main__":
    sys.exit(main())
