"""Lesson: a guided tour for the projector, one live step at a time; a class can follow
the teacher's room on their own laptops, and everyone can take the lesson home."""
import streamlit as st

from rnnviz.engine import config as cfg
from rnnviz.experiments import lessons
from rnnviz.presentation import rooms, ui

state = st.session_state
params = st.query_params
registry = ui.lesson_rooms()

# --- Which lesson, which step, which room: the URL says, validated like any setting ------
notices = []
room, room_error = None, None
code = params.get("room")
if code is not None:
    try:
        room = registry.get(code)
    except rooms.RoomError as e:
        room_error = str(e)
name = room.lesson if room else params.get("lesson", lessons.DEFAULT_LESSON)
try:
    lesson = lessons.load(name)
except lessons.LessonError as e:
    notices.append(str(e))
    lesson = lessons.load(lessons.DEFAULT_LESSON)
step_field = cfg.Field("step", 1, int, 1, len(lesson.steps))
present_field = cfg.Field("present", False, bool)
url_step, notice = cfg.parse_value(step_field, params.get("step"))
notices += [notice] if notice else []
present, notice = cfg.parse_value(present_field, params.get("present"))
notices += [notice] if notice else []

menu = ui.page_frame(lesson.title, ":material/co_present:", heading=not present, lesson=True)
ui.menu(menu, {"lesson": lesson.name})

teacher = room is not None and state.get("ls_teacher", {}).get("code") == room.code
following = room is not None and not teacher and state.get("ls_following", True)
if room is not None and not teacher:
    state[ui.FOLLOWED_KEY] = room.code
n = room.step if following else url_step


def write_url(step: int) -> None:
    query = {"lesson": lesson.name, "step": str(step)}
    if room is not None:
        query["room"] = room.code
    if present:
        query["present"] = "true"
    if {k: params.get(k) for k in params.keys()} != query:
        params.from_dict(query)


def go_to(step: int) -> None:
    """Previous / Next (buttons and arrow keys): a teacher moves the room with it; a
    follower who moves on their own has wandered off."""
    step = min(max(step, 1), len(lesson.steps))
    if teacher:
        registry.move(room.code, state["ls_teacher"]["secret"], step)
    elif room is not None:
        state["ls_following"] = False
    params["step"] = str(step)


def start_room() -> None:
    code, secret = registry.start(lesson.name, n)
    state["ls_teacher"] = {"code": code, "secret": secret}
    params["room"] = code


def set_present(on: bool) -> None:
    params["present"] = "true" if on else "false"


def follow_again() -> None:
    state["ls_following"] = True


write_url(n)
step = lesson.steps[n - 1]

# --- Presenter mode: nothing but the step, in large type --------------------------------
if present:
    st.html(ui.PRESENTER_CSS)

# --- The sidebar: the room, presenter mode, the download --------------------------------
with st.sidebar:
    st.caption(lesson.summary)
    if room is None:
        st.button("Start a room for a class", icon=":material/groups:", on_click=start_room,
                  help="Students who open the room's link follow your steps on their laptops.")
    if not present:
        st.button("Presenter mode", icon=":material/slideshow:", on_click=set_present,
                  args=(True,), help="Large type and nothing but the step: for a projector. "
                                     "The arrow keys still move between steps.")
    st.download_button("Download this lesson (HTML)", lambda: ui.lesson_download(lesson),
                       file_name=f"rnnviz_lesson_{lesson.name}.html", mime="text/html",
                       icon=":material/download:",
                       help="One file with every step's narration and live figures; it opens "
                            "offline in any browser.")

for text in notices:
    st.warning(text, icon=":material/link_off:")
if room_error:
    st.error(room_error, icon=":material/meeting_room:")

if teacher:
    link = ui.room_link(room.code)
    if present:  # one line above the step: the code stays readable, the step fits
        st.markdown(f"**Room {room.code}** · {link}")
    else:
        st.success(f"Students open **{link}** and follow your steps; only this browser "
                   "moves the room.", icon=":material/groups:")
        st.markdown(f"# Room {room.code}")
elif room is not None:
    if following:
        st.info(f"Following the teacher in room {room.code}: this page moves with their steps.",
                icon=":material/groups:")
    else:
        st.button(f"Back to the teacher (room {room.code}, step {room.step})",
                  icon=":material/keyboard_return:", on_click=follow_again, type="primary")


@st.fragment(run_every=2.0)
def watch_room() -> None:
    """A follower's page asks the room every 2 s: a moved room reruns the page, and so
    does a training step that the teacher's Train has just finished."""
    try:
        now = registry.get(room.code)
    except rooms.RoomError:
        return
    if now.step != n or now.lesson != lesson.name:
        st.rerun(scope="app")
    if step.kind.trains and state.get("_ls_untrained") == n \
            and ui.lesson_step(step, compute=False) is not None:
        st.rerun(scope="app")


# --- The step ----------------------------------------------------------------------------
st.markdown(f"#### Step {n} of {len(lesson.steps)} · {step.title}")
with st.container(horizontal=True, vertical_alignment="center"):
    st.button("Previous", disabled=n == 1, on_click=go_to, args=(n - 1,), shortcut="Left",
              key="ls_previous")
    st.button("Next", disabled=n == len(lesson.steps), on_click=go_to, args=(n + 1,),
              shortcut="Right", key="ls_next", type="primary")
    st.page_link(ui.page_object(step.kind.script), label="Open in the explorer",
                 icon=":material/open_in_new:", query_params=step.query)

state["_ls_untrained"] = None
if step.kind.trains:
    rendered = ui.lesson_step(step, compute=False)
    if rendered is None:
        state["_ls_untrained"] = n
        slot = st.empty()
        with slot.container():
            st.info(f"This step {lessons.training_summary(step)} (seconds once the server has "
                    "warmed up). Press **Train**: the result is then kept for everyone on this "
                    "server.", icon=":material/model_training:")
            train_clicked = st.button("Train", type="primary", icon=":material/play_arrow:",
                                      disabled=following)
        if train_clicked:
            with st.spinner("Training…"):
                rendered = ui.lesson_step(step)
            slot.empty()
else:
    with ui.computing("Computing this step…"):
        rendered = ui.lesson_step(step)


def words(container) -> None:
    """Narration, the question, and its answer folded: the class answers first."""
    if rendered is not None:
        container.markdown(rendered.narration(step))
    container.info(f"**Question for the class.** {step.question}", icon=":material/quiz:")
    if rendered is not None:
        with container.expander("Show the answer"):
            st.markdown(rendered.answer(step))


if rendered is None:
    words(st)
elif present and len(rendered.figures) == 1:  # beside the figure: the step on one screen
    text, chart = st.columns([2, 3])
    words(text)
    chart.plotly_chart(rendered.figures[0], width="stretch", key=f"ls_fig_{n}")
    if step.animate:
        chart.caption(f"▶ Play: {lessons.ANIMATIONS[step.animate]}; the slider shows any "
                      "frame.")
else:  # the words above the figures, figures side by side
    st.markdown(rendered.narration(step))
    columns = st.columns(len(rendered.figures)) if len(rendered.figures) > 1 else [st]
    for i, (column, fig) in enumerate(zip(columns, rendered.figures)):
        column.plotly_chart(fig, width="stretch", key=f"ls_fig_{n}_{i}")
    if step.animate:
        st.caption(f"▶ Play: {lessons.ANIMATIONS[step.animate]}; the slider shows any frame.")
    st.info(f"**Question for the class.** {step.question}", icon=":material/quiz:")
    with st.expander("Show the answer"):
        st.markdown(rendered.answer(step))
st.caption("Keys: ← and → move between steps.")
if following:
    watch_room()
elif n < len(lesson.steps):  # the teacher's (or a reader's) next step, ready before Next
    ui.prefetch(lesson.steps[n])
if present:
    st.button("Leave presenter mode", icon=":material/close_fullscreen:", type="tertiary",
              on_click=set_present, args=(False,))
