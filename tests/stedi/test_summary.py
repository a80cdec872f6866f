import re

import pytest

from stedi.report import Files, JobReport, RunSummary, SourceCounts, TableRows
from stedi.summary import AccountingError, check_accounting, render, unaccounted


def summary(accepted: int) -> RunSummary:
    customer = SourceCounts(landing=10, accepted=accepted, filtered={"no_research_consent": 3},
                            quarantined={"malformed_json": 1})  # fmt: skip
    return RunSummary("succeeded", "r", "ever", tables=[TableRows("landing", "customer_landing", 10)],
                      sources={"customer": customer})  # fmt: skip


def test_balanced_accounting_passes():
    check_accounting(summary(accepted=6))


@pytest.mark.parametrize(
    ("accepted", "gap"),
    [
        (5, 1),  # a record vanished between landing and trusted
        (7, -1),  # a record was counted twice (a fanning join would do this)
    ],
)
def test_unbalanced_accounting_fails_naming_the_source(accepted, gap):
    assert unaccounted(summary(accepted).sources["customer"]) == gap
    with pytest.raises(AccountingError, match=re.escape(f"customer: {gap:+d} records unaccounted")):
        check_accounting(summary(accepted))


def test_render_shows_every_table_and_reason():
    text = render(summary(accepted=6))
    assert "customer_landing" in text and "no_research_consent 3" in text and "malformed_json 1" in text


def bronze_report(landing: int, quarantined: dict, files: Files | None = None) -> JobReport:
    source = SourceCounts(landing=landing, quarantined=quarantined, files=files)
    return JobReport("bronze", "r", {}, 0.0, sources={"accelerometer": source})


@pytest.mark.parametrize(
    ("quarantined", "fails"),
    [
        ({"malformed_json": 5}, False),  # exactly 5% is still within the threshold
        ({"malformed_json": 4, "missing_user": 2}, True),  # 6%: a bad export, not stray records
    ],
)
def test_quarantine_share_above_the_threshold_fails_loudly(quarantined, fails):
    from stedi.summary import QuarantineThresholdError, check_quarantine_share

    if fails:
        with pytest.raises(QuarantineThresholdError, match=r"accelerometer: 6 of 100 records \(6.0%: malformed_json 4"):
            check_quarantine_share(bronze_report(100, quarantined), 0.05)
    else:
        check_quarantine_share(bronze_report(100, quarantined), 0.05)


@pytest.mark.parametrize(
    ("files", "fails"),
    [
        ({"landing": 20, "read": 19, "quarantined": {"corrupt_gzip": 1}}, False),  # 5%: within the threshold
        ({"landing": 10, "read": 9, "quarantined": {"corrupt_gzip": 1}}, True),  # 10% of the files are broken
    ],
)
def test_the_quarantine_threshold_applies_to_files_too(files, fails):
    from stedi.summary import QuarantineThresholdError, check_quarantine_share

    bronze = bronze_report(1000, {}, Files(**files))
    if fails:
        with pytest.raises(QuarantineThresholdError, match=r"accelerometer: 1 of 10 files \(10.0%: corrupt_gzip 1\)"):
            check_quarantine_share(bronze, 0.05)
    else:
        check_quarantine_share(bronze, 0.05)


def test_a_file_neither_read_nor_quarantined_breaks_the_accounting():
    broken = summary(accepted=6)
    broken.sources["customer"].files = Files(landing=3, read=1, quarantined={"not_gzip": 1})
    with pytest.raises(AccountingError, match=re.escape("customer: +1 files unaccounted")):
        check_accounting(broken)


def test_render_lists_files_quarantined_and_entries_skipped_with_their_reason():
    shown = summary(accepted=6)
    shown.sources["customer"].files = Files(
        landing=2,
        read=1,
        quarantined={"truncated_gzip": 1},
        quarantined_files=[{"path": "/l/c.json.gz", "rule": "truncated_gzip", "detail": "ends early", "size": 9}],
        skipped=[{"path": "/l/.DS_Store", "reason": "hidden file"}],
    )
    text = render(shown)
    assert "2 (1 quarantined)" in text
    assert "customer: file quarantined: /l/c.json.gz: truncated_gzip (ends early)" in text
    assert "customer: skipped: /l/.DS_Store: hidden file" in text


def test_the_summary_reads_back_from_its_json_as_it_was():
    shown = summary(accepted=6)
    shown.tables.append(TableRows("gold", "customers", 956))
    data = shown.to_json()
    assert data["tables"] == {"customer_landing": {"rows": 10}, "gold.customers": {"rows": 956}}
    assert RunSummary.from_json(data).to_json() == data
    assert [(t.zone, t.name) for t in RunSummary.from_json(data).tables] == [
        ("landing", "customer_landing"),
        ("gold", "customers"),
    ]
