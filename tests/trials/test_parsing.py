import pytest

from trials.parsing import ResultFormatError, parse

GOOD_CSV = (b"timestamp,metric,value,unit\n"
            b"2026-12-01T09:00:00+08:00,spindle_load,61.5,%\n"
            b"2026-12-01T01:01:00Z,surface_roughness_ra,0.82,\xc2\xb5m\n")


def test_csv_rows():
    rows = list(parse(GOOD_CSV, "text/csv"))
    assert [(r.metric, r.value, r.unit) for r in rows] == [
        ("spindle_load", 61.5, "%"), ("surface_roughness_ra", 0.82, "µm")]
    assert rows[0].ts.utcoffset().total_seconds() == 8 * 3600


def test_json_rows_sniffed_without_content_type():
    body = b'[{"timestamp": "2026-12-01T09:00:00+08:00", "metric": "cycle_time", "value": 184}]'
    (row,) = parse(body)
    assert (row.metric, row.value, row.unit) == ("cycle_time", 184.0, "")


@pytest.mark.parametrize("body,message", [
    (b"", "empty"),
    (b"time,metric,value,unit\n", "line 1: expected the header"),
    (b"timestamp,metric,value,unit\n2026-12-01T09:00:00+08:00,a,1\n", "line 2: expected 4 fields"),
    (b"timestamp,metric,value,unit\n2026-12-01T09:00:00+08:00,a,1,%\nyesterday,a,1,%\n",
     "line 3: timestamp 'yesterday' is not ISO 8601"),
    (b"timestamp,metric,value,unit\n2026-12-01T09:00:00,a,1,%\n", "line 2: timestamp"),
    (b"timestamp,metric,value,unit\n2026-12-01T09:00:00Z,a,lots,%\n", "line 2: value 'lots'"),
    (b"timestamp,metric,value,unit\n2026-12-01T09:00:00Z,a,nan,%\n", "not a finite number"),
    (b"timestamp,metric,value,unit\n2026-12-01T09:00:00Z,,1,%\n", "line 2: metric is empty"),
    (b"\xff\xfe", "not UTF-8"),
    (b'[{"timestamp": "2026-12-01T09:00:00Z", "metric": "a"}]', "item 1: missing value"),
    (b'{"rows": []}', "must be a list"),
    (b'[{"timestamp": "2026-12-01T09:00:00Z", "metric": "a", "value": 1', "Invalid JSON"),
])
def test_errors_say_where(body, message):
    with pytest.raises(ResultFormatError, match=message):
        list(parse(body))
