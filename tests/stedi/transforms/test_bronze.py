import json
from datetime import UTC, datetime

import pytest
from pyspark.sql import Row
from pyspark.testing import assertDataFrameEqual

from stedi.rules import MALFORMED_JSON
from stedi.sources import ACCELEROMETER, CUSTOMER, STEP_TRAINER
from stedi.transforms.bronze import (
    QUARANTINE_COLUMNS,
    bronze_records,
    bronze_schema,
    distinct_lines,
    held_fields,
    parse_landing,
    quarantine_records,
    quarantined_lines,
    unsettled,
    with_lineage,
)

RUN_ID = "run-1"
INGESTED_AT = datetime(2026, 11, 22, tzinfo=UTC)


def landing(spark, *lines: tuple[str, str]):
    """Landing lines as lake.read_landing_ranked gives them: (file name, text) each."""
    rows = [(v, f"file:/landing/{f}", 0) for f, v in lines]
    return spark.createDataFrame(rows, "value string, _file string, _batch int")


def texts(lines):
    """Distinct texts with the lineage of one run, RUN_ID at INGESTED_AT."""
    distinct = lines.transform(distinct_lines).withColumnRenamed("_file", "_source_file")
    return distinct.transform(with_lineage([(RUN_ID, INGESTED_AT)]))


def parse(spark, source, *values: str):
    lines = landing(spark, *[("part.json", v) for v in values])
    return texts(lines).transform(parse_landing(source))


def test_valid_step_trainer_record_is_typed_with_lineage(spark):
    line = '{"sensorReadingTime":1655564172120,"serialNumber":"s-1","distanceFromObject":246}'
    parsed = parse(spark, STEP_TRAINER, line)
    bronze = parsed.transform(bronze_records(STEP_TRAINER))
    lineage = ("file:/landing/part.json", RUN_ID, INGESTED_AT.replace(tzinfo=None), line)
    expected = spark.createDataFrame(
        [Row(1655564172120, "s-1", 246, None, *lineage)],
        bronze_schema(STEP_TRAINER),
    )
    assertDataFrameEqual(bronze, expected)
    assert parsed.transform(quarantine_records(STEP_TRAINER)).count() == 0


@pytest.mark.parametrize(
    ("line", "rule"),
    [
        # not JSON at all
        ("not json", MALFORMED_JSON),
        # truncated mid-record, as a cut-off upload leaves it
        ('{"user":"a@x.com","timestamp":1655564455341', MALFORMED_JSON),
        # valid JSON but not an object: there are no fields to read
        ("[1, 2, 3]", MALFORMED_JSON),
        ('[{"user":"a@x.com","timestamp":1655564455341}]', MALFORMED_JSON),
        ('"a@x.com"', MALFORMED_JSON),
        # the key field that says whose reading it is, absent
        ('{"timestamp":1655564455341,"x":1.0,"y":0.0,"z":0.0}', "missing_user"),
        # an explicit null is as missing as an absent key
        ('{"user":"a@x.com","timestamp":null,"x":1.0,"y":0.0,"z":0.0}', "missing_timestamp"),
        # a timestamp that is no number cannot be placed in time
        ('{"user":"a@x.com","timestamp":"yesterday","x":1.0,"y":0.0,"z":0.0}', "uncoercible_timestamp"),
        # nanoseconds where milliseconds belong: the year 52 million, no instant Spark can hold
        ('{"user":"a@x.com","timestamp":1655564376361000000,"x":1.0}', "timestamp_out_of_range"),
        # beyond a long: Spark would clamp it to the largest long, then fail on it as a timestamp
        ('{"user":"a@x.com","timestamp":1e20,"x":1.0}', "timestamp_out_of_range"),
        ('{"user":"a@x.com","timestamp":-1e20,"x":1.0}', "timestamp_out_of_range"),
        # NaN and infinity as text are not measurements (Spark would read NaN as the epoch, 1970)
        ('{"user":"a@x.com","timestamp":"NaN","x":1.0}', "uncoercible_timestamp"),
        ('{"user":"a@x.com","timestamp":1655564455341,"x":"NaN"}', "uncoercible_x"),
        ('{"user":"a@x.com","timestamp":1655564455341,"y":"Infinity"}', "uncoercible_y"),
        ('{"user":"a@x.com","timestamp":1655564455341,"z":"-inf"}', "uncoercible_z"),
        # bytes that are not UTF-8 (a Latin-1 export) arrive as replacement characters
        ('{"user":"j\ufffdrgen@x.com","timestamp":1655564455341,"x":1.0}', "not_utf8"),
    ],
)
def test_broken_accelerometer_line_goes_to_quarantine_with_its_rule(spark, line, rule):
    parsed = parse(spark, ACCELEROMETER, line)
    quarantine = parsed.transform(quarantine_records(ACCELEROMETER))
    expected = spark.createDataFrame(
        [Row("accelerometer", rule, line, "file:/landing/part.json", RUN_ID, INGESTED_AT.replace(tzinfo=None))],
        quarantine.schema,
    )
    assert quarantine.columns == QUARANTINE_COLUMNS
    assertDataFrameEqual(quarantine, expected)
    assert parsed.transform(bronze_records(ACCELEROMETER)).count() == 0


def test_malformed_line_does_not_affect_its_neighbours(spark):
    parsed = parse(
        spark,
        ACCELEROMETER,
        '{"user":"a@x.com","timestamp":1655564455341,"x":1.0,"y":0.0,"z":0.0}',
        '{"user":"b@x.com","timestamp":16555',  # cut off
        '{"user":"c@x.com","timestamp":1655564455342,"x":0.0,"y":1.0,"z":0.0}',
    )
    assert [r.user for r in parsed.transform(bronze_records(ACCELEROMETER)).orderBy("user").collect()] == [
        "a@x.com",
        "c@x.com",
    ]
    assert [r.rule for r in parsed.transform(quarantine_records(ACCELEROMETER)).collect()] == [MALFORMED_JSON]


def test_a_text_delivered_in_several_files_is_parsed_once_and_quarantined_per_line(spark):
    valid, cut = '{"user":"a@x.com","timestamp":1655564455341,"x":1.0,"y":0.0,"z":0.0}', '{"user":"b@x.com",'
    delivered = [("b.json", valid), ("a.json", valid), ("a.json", valid), ("c.json", cut), ("a.json", cut)]
    lines = landing(spark, *delivered)
    parsed = texts(lines).transform(parse_landing(ACCELEROMETER))
    assert sorted((r._rule or "", r._source_file, r._lines) for r in parsed.collect()) == [
        ("", "file:/landing/a.json", 3),
        (MALFORMED_JSON, "file:/landing/a.json", 2),
    ]
    quarantined = lines.withColumnRenamed("_file", "_source_file").transform(quarantined_lines(ACCELEROMETER, parsed))
    assert quarantined.columns == QUARANTINE_COLUMNS
    assert sorted((r.rule, r.raw_record, r._source_file) for r in quarantined.collect()) == [
        (MALFORMED_JSON, cut, "file:/landing/a.json"),
        (MALFORMED_JSON, cut, "file:/landing/c.json"),
    ]


def test_blank_lines_are_not_records(spark):
    parsed = parse(spark, ACCELEROMETER, "", "   ", '{"user":"a@x.com","timestamp":1,"x":0,"y":0,"z":0}')
    assert parsed.count() == 1


def test_drifted_record_equals_its_clean_twin(spark):
    clean = '{"user":"a@x.com","timestamp":1655564455341,"x":1.0,"y":-1.0,"z":0.0}'
    # key casing, numbers as strings and floats, an unknown extra field
    drifted = '{"User":"a@x.com","timeStamp":"1655564455341","x":"1","y":-1,"z":0.0,"device":"ios"}'
    parsed = parse(spark, ACCELEROMETER, clean, drifted).transform(bronze_records(ACCELEROMETER))
    rows = parsed.select("user", "timestamp", "x", "y", "z").collect()
    assert rows[0] == rows[1]
    assert sorted(str(r._extra_fields) for r in parsed.collect()) == ["None", str({"device": "ios"})]


def test_customer_dates_and_epoch_floats_are_coerced(spark):
    line = (
        '{"customerName":"Santosh Clayton","email":"Santosh.Clayton@test.com","phone":8015551212,'
        '"birthDay":"1900-01-01","serialNumber":"s-1","registrationDate":1655564376361.0,'
        '"lastUpdateDate":1655564376361,"shareWithResearchAsOfDate":1655564376361}'
    )
    row = parse(spark, CUSTOMER, line).transform(bronze_records(CUSTOMER)).collect()[0]
    assert (row.phone, str(row.birthDay), row.registrationDate) == ("8015551212", "1900-01-01", 1655564376361)
    assert row.shareWithPublicAsOfDate is None


def distinct_records(spark, source, *values: str):
    from stedi.transforms.bronze import one_copy_per_record, quarantine_conflicts

    parsed = texts(landing(spark, *values)).transform(parse_landing(source))
    return parsed.transform(one_copy_per_record(source)).transform(quarantine_conflicts(source))


@pytest.mark.parametrize(
    ("second", "copies"),
    [
        ('{"user":"a@x.com","timestamp":1655564172120,"x":1.0}', 2),  # the same line again
        ('{"user":" A@X.com ","timestamp":"1655564172120","x":"1"}', 2),  # written differently, same values
        ('{"user":"a@x.com","timestamp":1655564172120,"x":1.0,"appVersion":"2"}', 2),  # an unknown field: same record
        ('{"user":"a@x.com","timestamp":1655564172120,"x":1.5}', 1),  # another x: another reading at that instant
    ],
)
def test_a_record_delivered_twice_is_kept_once_from_the_first_file(spark, second, copies):
    first = '{"user":"a@x.com","timestamp":1655564172120,"x":1.0}'
    kept = distinct_records(spark, ACCELEROMETER, ("b.json", first), ("a.json", second)).collect()
    assert sorted(r._copies for r in kept) == ([copies] if copies == 2 else [1, 1])
    if copies == 2:  # the copy kept is the one from the first file by path
        assert [(r._source_file, r.raw_record) for r in kept] == [("file:/landing/a.json", second)]
    assert all(r._rule is None for r in kept)  # accelerometer readings have no key: never a conflict


def test_step_trainer_readings_with_one_key_and_two_distances_conflict(spark):
    line = '{{"sensorReadingTime":1655564172120,"serialNumber":"s-1","distanceFromObject":{}}}'
    kept = distinct_records(
        spark,
        STEP_TRAINER,
        ("a.json", line.format(240)),
        ("b.json", line.format(241)),
        ("c.json", line.format(240)),
        ("a.json", line.replace("172120", "172121").format(1)),
    )
    rows = sorted((r.sensorReadingTime, r.distanceFromObject, r._copies, r._rule) for r in kept.collect())
    assert rows == [
        (1655564172120, 240, 2, "conflicting_reading"),
        (1655564172120, 241, 1, "conflicting_reading"),
        (1655564172121, 1, 1, None),
    ]


@pytest.mark.parametrize(
    ("line", "rule"),
    [
        # every epoch field of a customer, not only the readings' timestamps
        ('{"email":"a@x.com","registrationDate":1655564376361000000}', "registrationDate_out_of_range"),
        ('{"email":"a@x.com","shareWithResearchAsOfDate":"NaN"}', "uncoercible_shareWithResearchAsOfDate"),
        ('{"email":"a@x.com","lastUpdateDate":"Infinity"}', "uncoercible_lastUpdateDate"),
        ('{"email":"a@x.com","birthDay":"1990-13-45"}', "uncoercible_birthDay"),
    ],
)
def test_every_field_of_every_source_is_quarantined_when_it_is_no_value(spark, line, rule):
    assert [r.rule for r in parse(spark, CUSTOMER, line).transform(quarantine_records(CUSTOMER)).collect()] == [rule]


@pytest.mark.parametrize(
    ("line", "rule"),
    [
        (
            '{"sensorReadingTime":1655564172120,"serialNumber":"s-1","distanceFromObject":1e20}',
            "uncoercible_distanceFromObject",
        ),
        (
            '{"sensorReadingTime":"Infinity","serialNumber":"s-1","distanceFromObject":1}',
            "uncoercible_sensorReadingTime",
        ),
        (
            '{"sensorReadingTime":1655564172120000,"serialNumber":"s-1","distanceFromObject":1}',
            "sensorReadingTime_out_of_range",
        ),
    ],
)
def test_step_trainer_values_that_are_no_values_are_quarantined(spark, line, rule):
    assert [r.rule for r in parse(spark, STEP_TRAINER, line).transform(quarantine_records(STEP_TRAINER)).collect()] == [
        rule
    ]


VALID = {
    "customer": {"email": "a@x.com", "customerName": "Ann Lee", "registrationDate": 1655564376361},
    "accelerometer": {"user": "a@x.com", "timestamp": 1655564455341, "x": 1.0, "y": 0.0, "z": 0.0},
    "step_trainer": {"sensorReadingTime": 1655564172120, "serialNumber": "s-1", "distanceFromObject": 246},
}
# Per kind of field: values that cannot become a valid typed value, and the rule each breaks (for `f`).
NO_VALUES = {
    "epoch_ms": [
        (1655564376361000000, "{f}_out_of_range"),  # nanoseconds where milliseconds belong
        (1655564376, "{f}_out_of_range"),  # seconds: January 1970
        (1e20, "{f}_out_of_range"),
        (-1e20, "{f}_out_of_range"),
        ("NaN", "uncoercible_{f}"),
        ("Infinity", "uncoercible_{f}"),
        ("soon", "uncoercible_{f}"),
    ],
    "double": [("NaN", "uncoercible_{f}"), ("-Infinity", "uncoercible_{f}"), ("1e400", "uncoercible_{f}")],
    "long": [(1e20, "uncoercible_{f}"), ("NaN", "uncoercible_{f}"), (2.5e19, "uncoercible_{f}")],
    "date": [("1990-13-45", "uncoercible_{f}"), ("NaN", "uncoercible_{f}")],
    # text whose bytes are not UTF-8 (a Latin-1 export: J\xfcrgen)
    "string": [
        (b"J\xfcrgen", "not_utf8"),
        (b"x\xf0\x9f\x98A", "not_utf8"),
    ],  # a 4-byte character cut short: one U+FFFD, 3 bytes
}


def no_value_cases(source) -> dict[str, tuple[bytes, str]]:
    """Case name -> (a landing line of `source` with one field holding no value, the rule it breaks)."""
    return {
        f"{field.name}={value!r}": (as_line(VALID[source.name], field.name, value), rule.format(f=field.name))
        for field in source.fields
        for value, rule in NO_VALUES[field.kind]
    }


def as_line(record: dict, field: str, value) -> bytes:
    """The record as a landing line, with `field` holding `value` (raw bytes go in as they are)."""
    marker = "\u0000MARK\u0000"
    line = json.dumps({**record, field: marker if isinstance(value, bytes) else value}).encode()
    return line.replace(json.dumps(marker).encode(), b'"' + value + b'"') if isinstance(value, bytes) else line


@pytest.mark.parametrize("source", [CUSTOMER, ACCELEROMETER, STEP_TRAINER], ids=lambda s: s.name)
def test_every_field_of_every_source_read_from_a_file_is_quarantined_when_it_is_no_value(spark, tmp_path, source):
    """Through Spark's text reader, as bronze reads the landing: the bytes as delivered, not Python strings.
    One file per case, so that each line's rule is known by the file it came from."""
    from stedi import lake
    from stedi.landing import inspect_source

    cases = {"valid": (json.dumps(VALID[source.name]).encode(), None), **no_value_cases(source)}
    files = {}
    for number, (name, (line, _)) in enumerate(cases.items()):
        files[f"case-{number}.json"] = name
        (tmp_path / f"case-{number}.json").write_bytes(line + b"\n")
    found = inspect_source(str(tmp_path))
    lines = lake.read_landing_ranked(spark, found).transform(distinct_lines)
    parsed = lake.with_file_names(lines, found).transform(with_lineage([(RUN_ID, INGESTED_AT)]))
    parsed = parsed.transform(parse_landing(source))
    rules = {
        files[row._source_file.rsplit("/", 1)[1]]: row._rule for row in parsed.select("_source_file", "_rule").collect()
    }
    assert rules == {name: rule for name, (_, rule) in cases.items()}


def test_only_copies_of_held_records_from_a_later_file_are_settled(spark):
    """A new line that repeats a held record, from a file sorting after the held copy's, changes nothing;
    every other new record is left to the exact merge: a record new to bronze, another version of a
    held reading, a copy from an earlier file."""
    held_line = '{"sensorReadingTime": 1655564376361, "serialNumber": "s-1", "distanceFromObject": 7}'
    held = texts(landing(spark, ("b.json", held_line))).transform(parse_landing(STEP_TRAINER))
    held = held.transform(bronze_records(STEP_TRAINER)).select(held_fields(STEP_TRAINER).fieldNames())
    new_lines = [
        ("c.json", held_line),  # a copy from a later file: settled
        ("c.json", held_line.replace('"s-1"', '" s-1\\u00a0"').replace("7}", "7.0}")),  # the same record
        ("c.json", held_line.replace("7}", "8}")),  # another version of the held reading
        ("c.json", held_line.replace("1655564376361", "1655564376362")),  # new to bronze
        ("a.json", held_line),  # a copy from an earlier file: the first copy moves
    ]
    new = texts(landing(spark, *new_lines)).transform(parse_landing(STEP_TRAINER))
    left = new.transform(unsettled(STEP_TRAINER, held)).select("_source_file", "raw_record").collect()
    assert sorted((row["_source_file"].rsplit("/", 1)[-1], row["raw_record"]) for row in left) == sorted(
        [("c.json", new_lines[2][1]), ("c.json", new_lines[3][1]), ("a.json", held_line)]
    )


def test_a_held_reading_with_an_unknown_value_settles_its_copies(spark):
    """NULL equals NULL: a copy of a held reading without x is a copy."""
    line = '{"user": "a@b.c", "timestamp": 1655564376361, "x": null, "y": 1, "z": 2}'
    held = texts(landing(spark, ("a.json", line))).transform(parse_landing(ACCELEROMETER))
    held = held.transform(bronze_records(ACCELEROMETER)).select(held_fields(ACCELEROMETER).fieldNames())
    new = texts(landing(spark, ("b.json", line.replace("a@b.c", "A@B.C ")))).transform(parse_landing(ACCELEROMETER))
    assert new.transform(unsettled(ACCELEROMETER, held)).count() == 0
