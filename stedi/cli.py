"""`stedi`: run the lakehouse flow locally and inspect its results."""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import platform
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from stedi import generate
from stedi.prefect_api import DEFAULT_IDLE_MINUTES, IDLE_MINUTES_ENV
from stedi.secrets import move_password_to_environment
from stedi.settings import DEFAULT_WAREHOUSE, Settings, SettingsError, default_of, parameters
from stedi.text import one_line

EXIT_USAGE = 2
EXIT_FAILED = 1


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line: `stedi run: error: ...`, exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


def version() -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    def of(package: str) -> str:
        try:
            return installed(package)
        except PackageNotFoundError:
            return "not installed"

    return (
        f"stedi {of('stedi-lakehouse')} (pyspark {of('pyspark')}, pysail {of('pysail')}, prefect {of('prefect')}, "
        f"Python {platform.python_version()})"
    )


def _output_options(defaults: Any) -> argparse.ArgumentParser:
    """--verbose and --quiet, before the command (`stedi -q run`) or after it (`stedi run -q`)."""
    options = argparse.ArgumentParser(add_help=False)
    chosen = options.add_mutually_exclusive_group()
    chosen.add_argument(
        "-v",
        "--verbose",
        dest="verbosity",
        action="store_const",
        const="verbose",
        default=defaults,
        help="also show tracebacks and the Spark JVM's warnings on the terminal",
    )
    chosen.add_argument(
        "-q",
        "--quiet",
        dest="verbosity",
        action="store_const",
        const="quiet",
        default=defaults,
        help="print nothing but errors",
    )
    return options


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="stedi", description="STEDI Human Balance Analytics lakehouse.", parents=[_output_options("normal")]
    )
    parser.add_argument("--version", action="version", version=version())
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser, metavar="COMMAND")
    common = [_output_options(argparse.SUPPRESS)]  # after the command: overrides what came before it
    run = commands.add_parser(
        "run",
        parents=common,
        help="run the stedi-lakehouse flow locally (Spark in-process)",
        description="Run the stedi-lakehouse Prefect flow locally: landing -> bronze -> silver -> gold -> "
        "warehouse, Spark in-process. A failure ends with one line; its details go to the log "
        "file it names (<lake>/_logs/).",
    )
    _add_run_parameters(run)
    run.add_argument("--summary", metavar="FILE", help="also write the run summary as JSON to FILE")
    report = commands.add_parser(
        "report",
        parents=common,
        help="print an analysts' report from the warehouse",
        description="Print one of the SQL reports in sql/reports/ from the warehouse.",
    )
    report.add_argument("name", nargs="?", metavar="NAME", help="the report to run (see --list)")
    report.add_argument("--list", action="store_true", help="list the reports, one a line: name, then description")
    report.add_argument("--warehouse", metavar="URL", default=DEFAULT_WAREHOUSE, help=f"default {DEFAULT_WAREHOUSE}")
    report.add_argument(
        "--format",
        choices=("table", "csv", "json"),
        default="table",
        help="table (default), csv (a header line, then one line per row) or json (a list of objects, one per row)",
    )
    doctor = commands.add_parser(
        "doctor",
        parents=common,
        help="check prerequisites, settings, the landing and the warehouse, and say what to fix",
        description="Check what `stedi run` needs with these options, without running anything: Python, Java, "
        "the packages, the settings, each source's landing files, the lake, the pseudonymisation key, the "
        "warehouse connection and Prefect's API. Exit 1 when something must be fixed.",
    )
    _add_run_targets(doctor)
    load = commands.add_parser(
        "load",
        parents=common,
        help="load the lake's current gold into a warehouse, or print the statements that would (--dry-run)",
        description="Load the lake's current gold into the warehouse in one transaction, with every check, as "
        "`stedi run` ends: only the changed rows when the warehouse holds the gold version they were computed "
        "against. A folder lake's gold is uploaded to --warehouse-stage first for Redshift, whose COPY reads "
        "only S3.",
    )
    _add_run_parameters(load, only=("lake", "warehouse", "warehouse_stage"))
    load.add_argument(
        "--dry-run",
        action="store_true",
        help="connect to no warehouse: print, as SQL, the statements a load into a Redshift holding none of this "
        "gold would run (the stage, if any, is filled as for a load, so the COPYs name files that exist)",
    )
    ui = commands.add_parser(
        "ui",
        parents=common,
        help="print the address of the Prefect UI that shows the runs of `stedi run` (--stop: end its server)",
        description="Print the address of the Prefect UI where the runs of `stedi run` are: the configured "
        "server's (PREFECT_API_URL), else the local server's, started if none is up. The local server ends by "
        f"itself once no run has used it for {IDLE_MINUTES_ENV} minutes (default {DEFAULT_IDLE_MINUTES:g}).",
    )
    ui.add_argument("--stop", action="store_true", help="end the local server now (the runs it recorded are kept)")
    _add_deploy(commands, common)
    generate.add_parser(commands)
    return parser


def _add_run_parameters(parser: argparse.ArgumentParser, only: tuple[str, ...] | None = None) -> None:
    """An option for each run parameter (stedi/settings.py): `--consent-policy` for consent_policy, its
    help and default from the declaration. Not given, an option is None: STEDI_<NAME>, then the default."""
    for setting, parameter in parameters():
        if not parameter.on_command_line or (only is not None and setting.name not in only):
            continue
        default = default_of(setting, parameter)
        shown = ", ".join(default) if isinstance(default, tuple) else default
        note = f"; default {shown}" if shown not in (None, "", False) else ""
        note += "; repeatable" if parameter.repeatable else ""
        if parameter.flag:  # not given: None, so STEDI_<NAME> still decides
            parser.add_argument("--" + setting.name.replace("_", "-"), action="store_const", const=True,
                                help=f"{parameter.help} ({parameter.env(setting.name)}=true)")  # fmt: skip
            continue
        parser.add_argument(
            "--" + setting.name.replace("_", "-"),
            metavar=parameter.metavar,
            choices=parameter.choices,
            action="append" if parameter.repeatable else "store",
            help=f"{parameter.help} ({parameter.env(setting.name)}{note})",
        )


def _add_run_targets(parser: argparse.ArgumentParser) -> None:
    _add_run_parameters(parser, only=("landing", "lake", "warehouse", "warehouse_stage", "consent_policy"))


def _add_deploy(commands: Any, common: list[argparse.ArgumentParser]) -> None:
    from deployments.glue import DEFAULT_SECRET_ID, GlueTarget

    deploy = commands.add_parser(
        "deploy",
        help="deploy the Spark jobs to AWS Glue",
        description="Deploy the Spark jobs where a deployment runs them.",
    )
    targets = deploy.add_subparsers(dest="target", required=True, parser_class=_Parser, metavar="TARGET")
    glue = targets.add_parser(
        "glue",
        parents=common,
        help="package and upload the jobs, create or update the Glue jobs and the Glue Data Catalog",
        description="Package the jobs' code, upload it to S3, create or update one Glue job per zone "
        "(<job-prefix>-bronze, -silver, -gold) and register every zone's tables in the Glue Data Catalog. "
        "Idempotent: a second deploy of the same code changes nothing. The region is --region, else the "
        "Terraform outputs' (--from-terraform), else AWS_REGION, else AWS_DEFAULT_REGION, else the profile's "
        "`region` in ~/.aws/config; credentials are the profile's (--profile, else AWS_PROFILE, else "
        "boto3's chain: environment, ~/.aws/credentials, instance role). AWS_ENDPOINT_URL points every "
        "client at a local stand-in.",
    )
    defaults = GlueTarget(bucket="", prefix="", role_arn="")
    glue.add_argument(
        "--from-terraform",
        type=Path,
        metavar="PATH",
        help="take bucket, prefix, role, job prefix, database, secret and region from the outputs of infra/ "
        "(its folder, where `terraform output` runs, or a file of `terraform output -json`); options given "
        "here win",
    )
    glue.add_argument("--bucket", help="S3 bucket for the code, and by default landing and lake")
    glue.add_argument("--role-arn", help="IAM role the Glue jobs run as (S3, Secrets Manager, logs)")
    glue.add_argument("--region", help="AWS region of the jobs and the bucket (see above for the default)")
    glue.add_argument("--profile", help="AWS profile in ~/.aws/config and ~/.aws/credentials (default: AWS_PROFILE)")
    glue.add_argument(
        "--prefix",
        default=None,
        help="key prefix in the bucket (default: stedi); code goes to s3://BUCKET/PREFIX/glue/",
    )
    glue.add_argument("--landing", help="landing root (default: s3://BUCKET/PREFIX/landing)")
    glue.add_argument("--lake", help="lake root (default: s3://BUCKET/PREFIX/lake)")
    glue.add_argument("--job-prefix", default=None, help="Glue job names' prefix (default: stedi)")
    glue.add_argument("--database", default=None, help="Glue Data Catalog database (default: stedi)")
    glue.add_argument("--worker-type", default=defaults.worker_type, help="default: G.1X")
    glue.add_argument("--workers", type=int, default=defaults.workers, help="number of workers (default: 2)")
    glue.add_argument("--timeout-minutes", type=int, default=defaults.timeout_minutes, help="default: 60")
    glue.add_argument(
        "--pseudonym-secret-id",
        default=None,
        help=f"Secrets Manager secret holding the pseudonymisation key (default: {DEFAULT_SECRET_ID})",
    )
    glue.add_argument(
        "--dry-run",
        action="store_true",
        help="compare with what is deployed and print what would change, changing nothing",
    )


def console() -> NoReturn:
    """The `stedi` command: `main`, then Python's own exit.

    SIGINT and SIGTERM interrupt `main` (stedi.lifecycle): the run unwinds, and the command ends with one
    line saying so and the shell's code for the signal (130, 143). The processes it started end before it
    does: the Spark JVM is stopped (stedi.local_session), the temporary Prefect API by its exit handler. Should the
    command itself be killed, they read end-of-file on a pipe only it held, and end too.
    """
    from stedi import lifecycle

    name = " ".join(["stedi", *[arg for arg in sys.argv[1:2] if not arg.startswith("-")]])  # `stedi run`
    lifecycle.raise_on_termination_signals(announce=name)
    try:
        code = main()
    except BaseException:
        if lifecycle.stop_raising() is None:
            raise
    signum = lifecycle.stop_raising()
    if signum is not None:
        print(f"{name}: {lifecycle.interruption(signum)}", file=sys.stderr)
        code = lifecycle.exit_code(signum)
    session = sys.modules.get("stedi.local_session")  # imported by the commands that run Spark
    if session is not None:  # its JVM ends beside Prefect's last writes; Python waits for it at exit
        session.end_session_in_background(wait_for_start=signum is None)
    try:
        sys.stdout.flush()
    except BrokenPipeError:  # a reader that went away (`stedi run | head`): nothing more to say to it
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    sys.exit(code)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "run":
        return _run(parser, args)
    if args.command == "report":
        return _report(parser, args)
    if args.command == "doctor":
        from stedi.doctor import run_checks

        return run_checks(_given_parameters(args), quiet=args.verbosity == "quiet")
    if args.command == "deploy":
        return _deploy_glue(args)
    if args.command == "load":
        return _load(parser, args)
    if args.command == "ui":
        return _ui(parser, args)
    if args.command == "generate":
        return generate.run_command(args)
    parser.error(f"unknown command {args.command!r}")


def _given_parameters(args: argparse.Namespace) -> dict[str, Any]:
    """The run parameters given on the command line; a warehouse URL's password moves to the environment."""
    given = {setting.name: getattr(args, setting.name) for setting, _ in parameters() if hasattr(args, setting.name)}
    if given.get("warehouse"):
        given["warehouse"] = move_password_to_environment(given["warehouse"])
    return given


def _deploy_glue(args: argparse.Namespace) -> int:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError, NoRegionError

    from deployments.glue import DEFAULT_PREFIX, DEFAULT_SECRET_ID, GlueTarget, deploy
    from deployments.terraform import TerraformOutputsError, deploy_options

    try:
        given = deploy_options(args.from_terraform) if args.from_terraform else {}
    except TerraformOutputsError as error:
        print(f"stedi deploy glue: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    options = {name: value for name, value in vars(args).items() if value is not None}
    chosen = {**given, **options}  # an option given on the command line wins over the Terraform output
    missing = [f"--{name.replace('_', '-')}" for name in ("bucket", "role_arn") if not chosen.get(name)]
    if missing:
        print(f"stedi deploy glue: error: {' and '.join(missing)} required (or --from-terraform)", file=sys.stderr)
        return EXIT_USAGE
    target = GlueTarget(
        bucket=chosen["bucket"],
        prefix=chosen.get("prefix", DEFAULT_PREFIX),
        role_arn=chosen["role_arn"],
        job_prefix=chosen.get("job_prefix", GlueTarget.job_prefix),
        database=chosen.get("database", GlueTarget.database),
        landing=chosen.get("landing"),
        lake=chosen.get("lake"),
        worker_type=args.worker_type,
        workers=args.workers,
        timeout_minutes=args.timeout_minutes,
        pseudonym_secret_id=chosen.get("pseudonym_secret_id", DEFAULT_SECRET_ID),
    )
    # boto3 reads AWS_DEFAULT_REGION and the profile's region, not AWS_REGION: that one is read here.
    region = chosen.get("region") or os.environ.get("AWS_REGION") or None
    try:
        session = boto3.Session(profile_name=args.profile, region_name=region)
        changes = deploy(target, session.client("s3"), session.client("glue"), dry_run=args.dry_run)
    except NoRegionError:
        print(
            "stedi deploy glue: error: no AWS region: pass --region, or --from-terraform, or set AWS_REGION "
            "or AWS_DEFAULT_REGION, or `region` in the profile",
            file=sys.stderr,
        )
        return EXIT_USAGE
    except (BotoCoreError, ClientError) as error:
        print(f"stedi deploy glue: failed: {one_line(error)}", file=sys.stderr)
        return EXIT_FAILED
    if args.verbosity != "quiet":
        for change in changes:
            print(change)
        done = [c for c in changes if c.action != "unchanged"]
        verb = "would change" if args.dry_run else "changed"
        print(
            f"{len(done)} {verb}, {len(changes) - len(done)} unchanged; landing {target.landing_uri}, "
            f"lake {target.lake_uri}" + ("; nothing was changed (--dry-run)" if args.dry_run else "")
        )
    return 0


def _report(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    from stedi.text import format_rows
    from stedi.warehouse.backends import WarehouseConfigError, backend_for
    from stedi.warehouse.reports import UnknownReportError, get_report, list_reports, run_report

    if args.list:
        for report in list_reports():
            print(f"{report.name}  {report.description}")
        return 0
    if not args.name:
        parser.exit(EXIT_USAGE, "stedi report: error: name a report, or use --list\n")
    try:
        report = get_report(args.name)
        backend = backend_for(Settings.resolve(runner="local", warehouse=args.warehouse).warehouse)
    except (UnknownReportError, WarehouseConfigError, SettingsError) as error:
        parser.exit(EXIT_USAGE, f"stedi report: error: {error}\n")
    try:
        columns, rows = run_report(backend, report)
    except WarehouseConfigError as error:
        parser.exit(EXIT_USAGE, f"stedi report: error: {error}\n")
    except Exception as error:  # a missing warehouse or table: say so in one line
        print(f"stedi report: failed on {backend.display_url}: {one_line(error)}", file=sys.stderr)
        return EXIT_FAILED
    print(format_rows(columns, rows, args.format))
    return 0


def _ui(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    from stedi.prefect_api import (
        LocalServer,
        ServerExited,
        ServerInUse,
        ServerSilent,
        configured_api_url,
        idle_minutes,
        stop_local_server,
        ui_url,
    )

    quiet = args.verbosity == "quiet"
    if args.stop:
        try:
            stopped = stop_local_server()
        except ServerInUse as error:
            print(f"stedi ui --stop: {error}: it ends once idle, or stop it when the run is done", file=sys.stderr)
            return EXIT_FAILED
        if not quiet:
            print(f"stopped the local Prefect server at {ui_url(stopped)}" if stopped else "no local Prefect server up")
        return 0
    configured = configured_api_url()
    if configured:  # Prefect Cloud's API URL names a workspace, whose UI is app.prefect.cloud's
        print(ui_url(configured) if "api.prefect.cloud" not in configured else "https://app.prefect.cloud")
        return 0
    try:
        idle = idle_minutes()
    except ValueError as error:
        parser.exit(EXIT_USAGE, f"stedi ui: error: {error}\n")
    if idle == 0:
        parser.exit(EXIT_USAGE, f"stedi ui: error: {IDLE_MINUTES_ENV}=0: each run's Prefect API ends with the run\n")
    server = LocalServer(idle)
    try:
        server.wait_until_healthy()
    except (ServerExited, ServerSilent) as error:
        print(f"stedi ui: failed: {error} (its log: {server.home / 'stedi-api.log'})", file=sys.stderr)
        return EXIT_FAILED
    finally:
        server.stop()  # its idle time counts from now
    print(ui_url(server.url))
    if not quiet:
        print(
            f"(the local Prefect server; it ends once no run has used it for {server.idle_minutes:g} minutes)",
            file=sys.stderr,
        )
    return 0


def _load(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    from stedi import lake
    from stedi.warehouse.load import load_lake

    try:
        settings = Settings.resolve(runner="local", **_given_parameters(args))
    except SettingsError as error:
        parser.exit(EXIT_USAGE, f"stedi load: error: {error}\n")
    if not settings.loads_warehouse:
        parser.exit(EXIT_USAGE, "stedi load: error: name a warehouse to load (--warehouse URL)\n")
    if args.dry_run and not settings.warehouse.startswith("redshift://"):
        parser.exit(
            EXIT_USAGE,
            "stedi load: error: --dry-run prints what would reach Redshift; a duckdb:// or postgresql:// "
            "warehouse loads from this machine's files: load it, its transaction rolls back on any failure\n",
        )
    stage = settings.warehouse_stage.rstrip("/") if settings.stages_gold else None
    try:
        if args.dry_run:
            loaded = load_lake(settings.warehouse, settings.lake, stage, dry_run=True)
        else:
            with lake.lock(settings.lake, f"stedi load (pid {os.getpid()})"):
                loaded = load_lake(settings.warehouse, settings.lake, stage)
    except Exception as error:  # no gold, a refused connection, a failed check: one line
        print(f"stedi load: failed: {one_line(error)}", file=sys.stderr)
        return EXIT_FAILED
    plan = loaded["plan"]
    if args.dry_run:
        print(f"-- stedi load --dry-run: gold {plan.gold_version} of {settings.lake} into {loaded['url']}, as into a")
        print("-- warehouse holding none of it, in one transaction; nothing was sent to the warehouse.")
        if stage:
            print(f"-- The COPYs read what was staged under {stage}/, left there for inspection.")
        print("begin;")
        for statement in loaded["statements"]:
            print(statement.strip().rstrip(";") + ";")
        print("commit;")
        return 0
    if args.verbosity != "quiet":
        how = "the changed rows" if plan.changes else "the whole snapshot"
        print(f"loaded {how} of gold {plan.gold_version} into {loaded['url']} in {loaded['seconds']:.1f} s; "
              f"{len(loaded['checks'])} checks held")  # fmt: skip
        for table, rows in loaded["tables"].items():
            print(f"  {table}: {rows:,} rows")
    return 0


def _run(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    if args.landing is not None and not Path(args.landing).is_dir():
        parser.exit(EXIT_USAGE, f"stedi run: error: landing folder not found: {args.landing}\n")
    try:
        settings = Settings.resolve(runner="local", **_given_parameters(args))
    except SettingsError as error:
        parser.exit(EXIT_USAGE, f"stedi run: error: {error}\n")

    from stedi import run_log
    from stedi.local_session import start_session_in_background
    from stedi.prefect_api import idle_minutes, start_api
    from stedi.secrets import redact
    from stedi.spark import JavaMissingError, JvmLog, require_java

    try:
        if settings.engine == "spark":
            require_java()
        idle = idle_minutes()
        log = run_log.new_run_log(settings.lake, args.verbosity)
    except (JavaMissingError, ValueError) as error:
        parser.exit(EXIT_USAGE, f"stedi run: error: {error}\n")
    except OSError as error:
        parser.exit(
            EXIT_USAGE, f"stedi run: error: cannot write in the lake {settings.lake}: {error.strerror or error}\n"
        )
    # Three start-ups overlap: the engine's, Prefect's API and the flow's imports.
    start_session_in_background(settings.engine, jvm_log=JvmLog(log.spark, log.spark_console_level))
    api = start_api(idle, log.prefect_api)
    from flows.stedi_lakehouse import stedi_lakehouse
    from stedi.summary import RunFailed, render

    # What is imported by now (Prefect, pydantic, Spark's client) lives as long as the process: frozen out
    # of the cyclic collector's generations, it is not walked again by each collection during the run
    # and at exit (a sample run: 5.3 s against 4.7 s, median of eight, local server up).
    gc.freeze()

    run_log.configure(log, links=api is None or api.serves_ui)
    try:
        with api.serving() if api is not None else contextlib.nullcontext():
            if api is not None:
                api.keep_flow_runs(stedi_lakehouse.name, settings.keep_runs)
            summary = stedi_lakehouse(**settings.as_parameters())
    except RunFailed as failure:  # the flow run logged the traceback; the user gets the figures and one line
        failure.summary.log = str(log.folder)
        if args.verbosity != "quiet":
            print(redact(render(failure.summary)))
        _fail(log, f"stedi run: failed: {failure}")
        _write_summary(args.summary, failure.summary.to_json())
        return EXIT_FAILED
    except Exception as error:  # failed before the run began (its settings, the lake's lock, the warehouse)
        log.record(error)
        _write_summary(args.summary, {"status": "failed", "error": one_line(error), "log": str(log.folder)})
        _fail(log, f"stedi run: failed: {one_line(error)}")
        return EXIT_FAILED
    summary.log = str(log.folder)
    if args.verbosity != "quiet":
        print(redact(render(summary)))
    return 0 if _write_summary(args.summary, summary.to_json()) else EXIT_FAILED


def _fail(log: Any, line: str) -> None:
    from stedi.secrets import redact

    print(
        redact(f"{line} (details: {log.python}{'' if log.verbosity == 'verbose' else '; or run with --verbose'})"),
        file=sys.stderr,
    )


def _write_summary(path: str | None, summary: dict[str, Any]) -> bool:
    """Write the summary to `path`, if given; False, with one line on stderr, when it cannot be written."""
    if not path:
        return True
    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(summary, indent=2) + "\n")
    except OSError as error:
        print(f"stedi run: could not write the summary to {path}: {error.strerror or error}", file=sys.stderr)
        return False
    return True


if __name__ == "__main__":
    console()
