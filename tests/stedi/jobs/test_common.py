from stedi.jobs.common import JobArgs


def test_job_arguments_survive_the_command_line_and_ignore_glue_extras():
    args = JobArgs(landing="s3://b/landing", lake="s3://b/lake", run_id="r-1", ingested_at="2026-11-22T00:00:00+00:00",
                   consent_policy="as-of")
    # Glue adds arguments of its own to every job run
    argv = ["--JOB_NAME", "stedi-bronze", *args.to_argv(), "--job-bookmark-option", "job-bookmark-disable"]
    assert JobArgs.parse(argv) == args


def test_consent_policy_defaults_to_ever():
    argv = ["--landing", "l", "--lake", "k", "--run-id", "r", "--ingested-at", "2026-11-22T00:00:00+00:00"]
    assert JobArgs.parse(argv).consent_policy == "ever"
