from stedi.jobs.common import JobArgs


def test_job_arguments_survive_the_command_line_and_ignore_glue_extras():
    args = JobArgs(
        landing="s3://b/landing",
        lake="s3://b/lake",
        run_id="r-1",
        ingested_at="2026-11-22T00:00:00+00:00",
        consent_policy="as-of",
    )
    # Glue adds arguments of its own to every job run
    argv = ["--JOB_NAME", "stedi-bronze", *args.to_argv(), "--job-bookmark-option", "job-bookmark-disable"]
    assert JobArgs.parse(argv) == args


def test_consent_policy_defaults_to_ever():
    argv = ["--landing", "l", "--lake", "k", "--run-id", "r", "--ingested-at", "2026-11-22T00:00:00+00:00"]
    assert JobArgs.parse(argv).consent_policy == "ever"


def test_an_argument_glue_adds_is_never_taken_for_one_of_ours_by_its_prefix():
    args = JobArgs(landing="s3://b/landing", lake="s3://b/lake", run_id="r-1", ingested_at="2026-11-22T00:00:00+00:00")
    # argparse's default would take `--run` for an abbreviation of `--run-id` and overwrite the run id
    argv = [*args.to_argv(), "--run", "glue-run-7"]
    assert JobArgs.parse(argv) == args
