"""URL parsing never raises: arbitrary strings, unicode, NaN/inf, huge and negative numbers,
unknown and repeated keys all give a notice and a safe configuration."""
import math

from hypothesis import given, settings
from hypothesis import strategies as st

from rnnviz import config as cfg
from rnnviz import train

raw_values = st.one_of(
    st.text(),
    st.lists(st.text(), max_size=3),  # a repeated URL key
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.integers(min_value=-10**40, max_value=10**40).map(str),
    st.sampled_from(["", "none", "off", "true", "1e309", "-0", "０.５", "nan", "١٢"]),
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from([f.key for f in train.FIELDS] + ["junk", "ü"]),
                       raw_values))
def test_training_query_always_gives_a_valid_config(raw):
    config, notices = train.config_from_query(raw)
    assert isinstance(config, train.TrainConfig)  # its constructor enforces every bound
    again, more = train.config_from_query(train.config_to_query(config))
    assert again == config and more == []
    assert all(isinstance(n, str) and n for n in notices)


@settings(max_examples=300, deadline=None)
@given(raw_values)
def test_a_field_never_raises_and_stays_in_bounds(raw):
    field = cfg.Field("x", 1.5, float, -2.0, 3.0)
    value, notice = cfg.parse_value(field, raw)
    assert math.isfinite(value) and -2.0 <= value <= 3.0
    assert notice is None or "x" in notice


def test_notice_says_what_was_wrong():
    field = cfg.Field("T", 100, int, 2, 1000)
    assert cfg.parse_value(field, "5000")[1] == (
        "“T=5000” is out of range (between 2 and 1000); using 1000.")
    value, notice = cfg.parse_value(field, "ten")
    assert value == 100 and "not valid" in notice
