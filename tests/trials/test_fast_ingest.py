"""The fast path for CSV results (``trials.fast_ingest``, Apache Arrow) stores exactly
what the Python parser stores, and everything it does not take for sure goes to the
Python parser: the same rows, or the same error naming the same line, and nothing stored.
The comparisons need PostgreSQL (the fast path's only database); the checks of the Arrow
reader alone run everywhere."""

from __future__ import annotations

import pytest
from django.db import transaction

from tests.factories import TrialFactory
from trials import fast_ingest, ingest
from trials.models import Measurement, TrialMetric
from trials.parsing import MAX_METRIC, MAX_UNIT, ResultFormatError, parse

HEADER = b"timestamp,metric,value,unit\n"
# Values a text round trip could bend: repr-exact floats, tiny, huge, negative, integral.
VALUES = ["0.1", "0.3333333333333333", "-2.5e-300", "1.2345e13", "123456789.12345679",
          "-7.25", "42", "5e-324", "1.7976931348623157e308", "56.045", " 3.5 ", "+1", ".5"]
STAMPS = ["2026-12-01T09:00:00+08:00", "2026-12-01T01:00:00Z", "2026-11-30T19:30:00.5-05:30",
          "2026-12-01 01:00:00.123456Z", "2026-12-01T09:00:00.000001+14:00",
          "2026-12-01T01:00:00.25-14:00", "1970-01-01T00:00:00Z", "2999-12-31T23:59:59.999999Z"]


def _body(rows, *, end=b"\n", bom=b"") -> bytes:
    return bom + HEADER.replace(b"\n", end) + b"".join(
        ",".join(fields).encode() + end for fields in rows)


def _varied(metrics: int = 40) -> list[tuple[str, str, str, str]]:
    units = ["%", "mm/s", "°C", "µm", ""]
    return [(ts, f"channel_{(i * 7 + j) % metrics}", VALUES[(i + j) % len(VALUES)],
             units[j % len(units)])
            for i, ts in enumerate(STAMPS * 5) for j in range(8)]


def _stored(trial) -> list[tuple]:
    names = ingest.dictionary(trial)
    return [(ts, *names[metric], value) for ts, metric, value in
            Measurement.objects.filter(trial=trial).order_by("id")
            .values_list("ts", "metric_id", "value")]


def _python_path(body: bytes) -> list[tuple]:
    trial = TrialFactory()
    with transaction.atomic():
        ingest.store_measurements(trial, parse(body, "text/csv"))
    return _stored(trial)


@pytest.fixture
def fast_only(monkeypatch):
    """The Python parser must not be reached."""
    def refuse(*args, **kwargs):
        raise AssertionError("the fast path gave up")
    monkeypatch.setattr(ingest, "parse", refuse)


@pytest.fixture
def fallbacks(monkeypatch):
    """Calls of the Python path from ``store_results``; each finds the fast path's rows
    and metrics rolled back."""
    calls = []
    store = ingest.store_measurements

    def spy(trial, rows):
        calls.append(trial.pk)
        assert not Measurement.objects.filter(trial=trial).exists()
        assert not TrialMetric.objects.filter(trial=trial).exists()
        return store(trial, rows)
    monkeypatch.setattr(ingest, "store_measurements", spy)
    return calls


@pytest.fixture
def small_blocks(monkeypatch):
    monkeypatch.setattr(fast_ingest, "BLOCK_SIZE", 512)  # many blocks, metrics arriving late


VARIED = {
    "LF": _body(_varied()),
    "CRLF": _body(_varied(), end=b"\r\n"),
    "BOM": _body(_varied(), bom=b"\xef\xbb\xbf"),
    "quoted": _body([(f'"{ts}"', f'"{metric}, x"', f'"{value}"', unit)
                     for ts, metric, value, unit in _varied()]),
    "padded names, blank lines": _body(_varied()).replace(b"channel_1,", b" channel_1 ,")
                                                 .replace(b"\n2026-12-01T01:00:00Z",
                                                          b"\n\n2026-12-01T01:00:00Z"),
    "one metric": _body([(ts, "spindle_load", v, "%") for ts in STAMPS for v in VALUES]),
}


@pytest.mark.postgres
@pytest.mark.django_db
@pytest.mark.parametrize("blocks", ["one block", "small blocks"])
@pytest.mark.parametrize("kind", VARIED)
def test_fast_path_stores_what_the_python_path_stores(kind, blocks, fast_only, request):
    if blocks == "small blocks":
        request.getfixturevalue("small_blocks")
    body = VARIED[kind]
    expected = _python_path(body)
    trial = TrialFactory()
    with transaction.atomic():
        count = ingest.store_results(trial, body, "text/csv; charset=utf-8")
    assert count == len(expected) > 0
    assert _stored(trial) == expected
    # The same instants as the Python parser's datetimes, to the microsecond.
    instants = [row.ts for row in parse(body, "text/csv")]
    assert [row[0] for row in _stored(trial)] == instants


# Accepted by the Python parser, written in ways the fast path leaves to it.
UNUSUAL = [
    ("offset without minutes", "2026-12-01T09:00:00+08"),
    ("basic format", "20261201T090000+0800"),
    ("seven decimals", "2026-12-01T09:00:00.1234567+08:00"),
    ("blanks around", " 2026-12-01T09:00:00+08:00 "),
    ("offset with seconds", "2026-12-01T09:00:00+08:00:30"),
]


@pytest.mark.postgres
@pytest.mark.django_db
@pytest.mark.parametrize("name,stamp", UNUSUAL)
def test_unusual_input_goes_to_the_python_parser(name, stamp, fallbacks, small_blocks):
    body = _body(_varied() + [(stamp, "late_metric", "1.5", "mm")])
    expected = _python_path(body)
    trial = TrialFactory()
    with transaction.atomic():
        assert ingest.store_results(trial, body, "text/csv") == len(expected)
    assert _stored(trial) == expected
    assert fallbacks.count(trial.pk) == 1


@pytest.mark.postgres
@pytest.mark.django_db
@pytest.mark.parametrize("field,name", [('"two\nlines"', "two\nlines"),
                                        ('"a ""quoted"" name"', 'a "quoted" name')])
def test_quotes_or_line_breaks_inside_a_field_go_to_the_python_parser(field, name, fallbacks):
    body = _body(_varied()[:5] + [(STAMPS[0], field, "1", "%")])
    expected = _python_path(body)
    assert expected[-1][1] == name
    trial = TrialFactory()
    with transaction.atomic():
        ingest.store_results(trial, body, "text/csv")
    assert _stored(trial) == expected
    assert fallbacks.count(trial.pk) == 1


GOOD = _body(_varied())
GOOD_LINES = GOOD.count(b"\n")
BAD = [
    ("no offset", "2026-12-01T09:00:00,a,1,%"),
    ("offset beyond 14:00", "2026-12-01T09:00:00+14:30,a,1,%"),
    ("year 3000", "3000-01-01T00:00:00Z,a,1,%"),
    ("before 1970", "1969-12-31T23:59:59.999999Z,a,1,%"),
    ("before year 1 once its offset applies", "0001-01-01T00:00:00+05:00,a,1,%"),
    ("before 1970 by its offset", "1970-01-01T00:00:00+01:00,a,1,%"),
    ("no such day", "2026-02-30T09:00:00Z,a,1,%"),
    ("hour 24", "2026-12-01T24:00:00Z,a,1,%"),
    ("not a time", "yesterday,a,1,%"),
    ("not a number", "2026-12-01T09:00:00Z,a,lots,%"),
    ("NaN", "2026-12-01T09:00:00Z,a,nan,%"),
    ("infinity", "2026-12-01T09:00:00Z,a,-inf,%"),
    ("overflow", "2026-12-01T09:00:00Z,a,1e400,%"),
    ("NA", "2026-12-01T09:00:00Z,a,NA,%"),
    ("empty value", "2026-12-01T09:00:00Z,a,,%"),
    ("empty metric", "2026-12-01T09:00:00Z, ,1,%"),
    ("long metric", f"2026-12-01T09:00:00Z,{'m' * (MAX_METRIC + 1)},1,%"),
    ("long unit", f"2026-12-01T09:00:00Z,a,1,{'u' * (MAX_UNIT + 1)}"),
    ("NUL", "2026-12-01T09:00:00Z,a\x00b,1,%"),
    ("three fields", "2026-12-01T09:00:00Z,a,1"),
    ("five fields", "2026-12-01T09:00:00Z,a,1,%,x"),
    ("lone carriage return", "2026-12-01T09:00:00Z,a\rb,1,%"),
    ("blank line of spaces", "   "),
]


def _python_error(body: bytes) -> str:
    with pytest.raises(ResultFormatError) as caught:
        list(parse(body, "text/csv"))
    return str(caught.value)


@pytest.mark.postgres
@pytest.mark.django_db
@pytest.mark.parametrize("where", ["first row", "after many blocks"])
@pytest.mark.parametrize("name,line", BAD)
def test_bad_input_gives_the_python_parsers_error_and_stores_nothing(
        name, line, where, fallbacks, small_blocks):
    body = (HEADER + line.encode() + b"\n" + GOOD[len(HEADER):] if where == "first row"
            else GOOD + line.encode() + b"\n")
    message = _python_error(body)
    assert message.startswith(f"line {2 if where == 'first row' else GOOD_LINES + 1}:")
    trial = TrialFactory()
    with pytest.raises(ResultFormatError) as caught, transaction.atomic():
        ingest.store_results(trial, body, "text/csv")
    assert str(caught.value) == message
    assert fallbacks == [trial.pk]  # which found nothing of the fast path's
    assert not Measurement.objects.filter(trial=trial).exists()
    assert not TrialMetric.objects.filter(trial=trial).exists()


@pytest.mark.postgres
@pytest.mark.django_db
@pytest.mark.parametrize("body", [
    b"timestamp,metric,value,unit\n2026-12-01T09:00:00Z,a,\xff,%\n",  # not UTF-8
    b"timestamp,metric,value,unit\n" + b"".join(  # more than MAX_METRICS (1000) metrics
        f"2026-12-01T09:00:00Z,m{i},1,%\n".encode() for i in range(ingest.MAX_METRICS + 1)),
], ids=["not UTF-8", "too many metrics"])
def test_errors_beyond_a_line_are_the_python_parsers_too(body, fallbacks):
    with pytest.raises(ResultFormatError) as expected, transaction.atomic():
        trial = TrialFactory()
        ingest.store_measurements(trial, parse(body, "text/csv"))
    fallbacks.clear()
    trial = TrialFactory()
    with pytest.raises(ResultFormatError) as caught, transaction.atomic():
        ingest.store_results(trial, body, "text/csv")
    assert str(caught.value) == str(expected.value)
    assert len(fallbacks) <= 1  # (a body that is not UTF-8 fails in the parser's decoding)
    assert not Measurement.objects.filter(trial=trial).exists()
    assert not TrialMetric.objects.filter(trial=trial).exists()


@pytest.mark.postgres
@pytest.mark.django_db
def test_json_results_keep_the_python_path(fallbacks):
    body = b'[{"timestamp": "2026-12-01T09:00:00+08:00", "metric": "cycle_time", "value": 184}]'
    trial = TrialFactory()
    with transaction.atomic():
        assert ingest.store_results(trial, body, "application/json") == 1
    assert fallbacks.count(trial.pk) == 1
    # A CSV body labelled JSON is read as JSON, as before: its error, not its rows.
    with pytest.raises(ResultFormatError, match="Invalid JSON"), transaction.atomic():
        ingest.store_results(TrialFactory(), GOOD, "application/json")


def test_the_arrow_reader_takes_plain_csv_only():
    """Without a database: which bodies the fast path takes (the rest: ``Unfit``)."""
    assert fast_ingest.rows_start(GOOD) == len(HEADER)
    assert fast_ingest.rows_start(b"\xef\xbb\xbf" + GOOD) == len(HEADER) + 3
    assert fast_ingest.rows_start(GOOD.replace(b"\n", b"\r\n")) == len(HEADER) + 1
    assert fast_ingest.rows_start(b"Timestamp,metric,value,unit\n") is None
    assert fast_ingest.rows_start(b'[{"timestamp": 1}]') is None
    rows = list(fast_ingest.blocks(GOOD, len(HEADER)))
    assert sum(len(block.ts) for block in rows) == len(_varied())
    for _name, line in BAD:
        body = GOOD + line.encode() + b"\n"
        with pytest.raises(fast_ingest.Unfit):
            list(fast_ingest.blocks(body, len(HEADER)))


def test_a_lone_carriage_return_is_a_format_error_naming_the_line():
    body = HEADER + b"2026-12-01T09:00:00Z,a,1,%\n\"2026-12-01T09:00:00Z\",a\rb,1,%\n"
    with pytest.raises(ResultFormatError, match=r"^line 3: this is not valid CSV"):
        list(parse(body, "text/csv"))
