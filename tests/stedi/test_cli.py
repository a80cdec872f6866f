"""The CLI's contract with its users: options, one-line errors, exit codes."""

import subprocess
import sys

import pytest

from stedi.cli import build_parser


def stedi(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "stedi.cli", *args], capture_output=True, text=True, timeout=120)


def test_help_explains_every_option():
    help_text = build_parser()._subparsers._group_actions[0].choices["run"].format_help()
    for option in ("--landing", "--lake", "--summary", "--consent-policy"):
        assert option in help_text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "--no-such-option"], "unrecognized arguments: --no-such-option"),
        (["run", "--consent-policy", "sometimes"], "invalid choice: 'sometimes'"),
        (["run", "--landing", "/no/such/folder"], "landing folder not found: /no/such/folder"),
    ],
)
def test_bad_invocation_is_a_one_line_error_with_exit_2(args, message):
    result = stedi(*args)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and message in result.stderr
    assert result.stdout == ""
