"""URL parsing never raises: arbitrary strings, unicode, NaN/inf, huge and negative numbers,
unknown and repeated keys all give a notice and a safe configuration."""
import math

from hypothesis import given, settings
from hypothesis import strategies as st

from rnnviz.engine import config as cfg
from rnnviz.engine import train

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


def test_numbers_are_written_for_people():
    """Bounds and replacement values as a student reads them: the seed's bound in full,
    digits grouped in threes, no exponent (the notice once said 2.14748e+09)."""
    seed = cfg.Field("seed", 0, int, 0, 2**31 - 1)
    nb = "\u00a0"  # the no-break space between groups keeps a number on one line
    assert cfg.format_value(2**31 - 1) == f"2{nb}147{nb}483{nb}647"
    value, notice = cfg.parse_value(seed, "-1")
    assert value == 0 and notice == (
        f"“seed=-1” is out of range (between 0 and 2{nb}147{nb}483{nb}647); using 0.")
    value, notice = cfg.parse_value(seed, "9999999999")
    assert value == 2**31 - 1 and notice.endswith(f"using 2{nb}147{nb}483{nb}647.")
    assert "e+" not in notice
    assert [cfg.format_value(x) for x in (1000, 100_000, 4.0, -10.0, 0.02, 1e-5, 2.5)] == [
        "1000", f"100{nb}000", "4", "-10", "0.02", "0.00001", "2.5"]
    assert cfg.format_value("lstm") == "lstm" and cfg.format_value(True) == "True"
    for x in (0.02, 1e-5, 123456.5, 2**31 - 1):  # what is written reads back as the value
        assert float(cfg.format_value(x).replace(nb, "")) == x
