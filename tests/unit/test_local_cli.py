"""``orders`` argument handling and the stage throttle, without starting anything."""

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from local.child_process import last_words
from local.cli import parser
from local.commands.progress import StepProgress
from local.gateway.throttle import TokenBucket
from tests.support.moto_server import free_port


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["up", "--port", "0"], "0 is not a port number"),
        (["up", "--port", "70000"], "70000 is not a port number"),
        (["up", "--port", "http"], "'http' is not a port number"),
        (["up", "--aws-port", "-1"], "is not a port number"),
        (["up", "--rate", "0"], "must be greater than 0"),
        (["up", "--rate", "fast"], "is not a number"),
        ([], "required: COMMAND"),
        (["down"], "invalid choice"),
        (["submit", "--count", "0"], "out of range"),
        (["up", "--batch-size", "11"], "more than SQS's 10"),
        (["up", "--batch-window", "-1"], "out of range"),
        (["up", "--smtp", "nohost"], "is not HOST:PORT"),
        (["submit", "--count", "ten"], "is not a whole number"),
        (["submit", "--api", "ftp://x"], "is not an http(s) URL"),
        (["submit", "--env", "../etc"], "is not an environment name"),
        (["status"], "ORDER_ID"),
        (["status", "'; drop table"], "is not an order id"),
        (["dlq", "purge"], "invalid choice"),
        (["dlq", "list", "--queue", "billing"], "invalid choice"),
        (["up", "--containers", "0"], "out of range"),
        (["up", "--containers", "12"], "12 is more than 10 Order API containers"),
        (["up", "--pollers", "11"], "11 is more than 10 batches in flight per queue"),
        (["up", "--max-wait", "6"], "out of range (0-5 seconds)"),
        (["up", "--max-wait", "soon"], "is not a number of seconds"),
        (["up", "--save-every", "0"], "out of range (1-3600 seconds)"),
        (["up", "--save-every", "0.5"], "out of range (1-3600 seconds)"),
        (["up", "--save-every", "86400"], "out of range (1-3600 seconds)"),
        (["up", "--save-every", "often"], "is not a number of seconds"),
        (["up", "--save-every", "nan"], "out of range"),
        (["up", "--fresh", "yes"], "unrecognized arguments: yes"),
        (["load"], "SCENARIO"),
        (["load", "forever"], "invalid choice: 'forever'"),
        (["load", "steady", "--rate", "0"], "out of range"),
        (["load", "steady", "--rate", "1e9"], "out of range"),
        (["load", "steady", "--duration", "-5"], "out of range"),
        (["load", "steady", "--host", "ftp://x"], "is not an http(s) URL"),
        (["load", "steady", "--env", "../../etc"], "is not an environment name"),
        (["load", "steady", "--throttle", "many"], "is not a number"),
        (["up", "--api-key", "short"], "20-128 printable ASCII characters"),
        (["up", "--api-key", "with a space in the key ok"], "without spaces"),
        (["submit", "--api-key", "k\nX-Injected: 1" + "k" * 20], "without spaces"),
    ],
)
def test_bad_arguments_exit_2_with_a_message(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        parser().parse_args(args)
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


def test_every_command_has_help() -> None:
    for args in (
        ["--help"],
        ["up", "--help"],
        ["submit", "--help"],
        ["status", "--help"],
        ["dlq", "--help"],
        ["load", "--help"],
    ):
        result = subprocess.run(
            [sys.executable, "-m", "local.cli", *args],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        assert result.returncode == 0
        assert "usage: orders" in result.stdout


def test_zero_burst_is_refused_before_anything_starts() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "local.cli", "up", "--burst", "0"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 2
    assert "--burst must be at least 1" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            {},
            "could not provision on http://127.0.0.1:9: You must specify a region. "
            "(AWS_ENDPOINT_URL is set: its region and credentials are your AWS settings, "
            "e.g. AWS_DEFAULT_REGION)",
        ),
        (
            {"AWS_DEFAULT_REGION": "us-east-1"},
            "could not provision on http://127.0.0.1:9: Could not connect to the endpoint URL: "
            '"http://127.0.0.1:9/"',
        ),
    ],
    ids=["no-region", "nothing-listens"],
)
def test_an_endpoint_of_the_users_that_cannot_be_used_is_named_in_one_line(
    tmp_path: Path, settings: dict[str, str], message: str
) -> None:
    """Port 9 (discard): nothing listens there; the stack stops before any process starts."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"AWS_DEFAULT_REGION", "AWS_REGION", "AWS_PROFILE", "AWS_CONFIG_FILE"}
    }
    env.update(
        AWS_ENDPOINT_URL="http://127.0.0.1:9",
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_CONFIG_FILE=str(tmp_path / "no-config"),
        **settings,
    )
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "local.cli",
            "up",
            "--port",
            str(free_port()),
            "--state",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env=env,
        cwd=Path(__file__).parents[2],
    )
    assert result.returncode == 1
    assert result.stderr == f"orders up: {message}\n"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_token_bucket_allows_the_burst_then_the_rate() -> None:
    clock = Clock()
    bucket = TokenBucket(rate=10, burst=3, clock=clock)
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]
    clock.now = 0.1  # one token refilled
    assert [bucket.take() for _ in range(2)] == [True, False]
    clock.now = 100.0  # never more than the burst
    assert sum(bucket.take() for _ in range(10)) == 3


@pytest.mark.parametrize(("rate", "burst"), [(0, 1), (-1, 5), (1, 0)])
def test_token_bucket_refuses_nonsense(rate: float, burst: int) -> None:
    with pytest.raises(ValueError, match="rate must be"):
        TokenBucket(rate, burst)


WITHOUT = """
import sys
for name in sys.argv[1].split(","):
    sys.modules[name] = None  # as if not installed: import fails, find_spec says absent
from local.cli import main
sys.exit(main(sys.argv[2:]))
"""


@pytest.mark.parametrize(
    ("absent", "args", "named"),
    [
        ("moto,aiosmtpd", ["up"], "orders up needs moto, aiosmtpd"),
        ("aiosmtpd", ["up", "--demo"], "orders up needs aiosmtpd"),
        ("rich", ["submit", "--count", "1"], "orders submit needs rich"),
    ],
)
def test_a_command_without_the_local_extra_names_it_in_one_line(
    absent: str, args: list[str], named: str
) -> None:
    """A base install (``pip install order-pipeline``) has neither moto nor aiosmtpd nor rich;
    they are hidden from the child process here rather than uninstalled."""
    result = subprocess.run(
        [sys.executable, "-c", WITHOUT, absent, *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"{named}: pip install 'order-pipeline[local]' (or the dev extra)"
    ]


def test_status_needs_no_extra() -> None:
    result = subprocess.run(
        [sys.executable, "-c", WITHOUT, "moto,aiosmtpd,rich", "status", "nope"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 2
    assert "is not an order id" in result.stderr  # reached argument parsing, not the extra


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_piped_is_a_plain_line_per_tenth() -> None:
    out = io.StringIO()
    with StepProgress("submitting", 25, out) as progress:
        for _ in range(25):
            progress.advance()
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue()
    assert lines[-1] == "submitting 25/25"
    assert len(lines) == 10  # one per tenth crossed
    assert lines == sorted(lines, key=lambda line: int(line.split()[1].split("/")[0]))


def test_progress_on_a_terminal_is_a_live_bar() -> None:
    out = Terminal()
    with StepProgress("submitting", 3, out) as progress:
        for _ in range(3):
            progress.advance()
    shown = out.getvalue()
    assert "submitting" in shown
    assert "3/3" in shown
    assert "\x1b[" in shown  # drawn with terminal control sequences, not printed lines


def test_a_childs_last_words_leave_out_what_python_prints_as_it_exits() -> None:
    """As the consumers' log ended once: their error, then a transport collected at exit."""
    log = (
        "consumers: email-consumer: ConfigError: invalid configuration: EMAIL_FROM is invalid\n"
        "Exception ignored in: <function BaseSubprocessTransport.__del__ at 0x7f50db9e4f40>\n"
        "Traceback (most recent call last):\n"
        '  File "/usr/lib/python3.11/asyncio/base_subprocess.py", line 126, in __del__\n'
        "    self.close()\n"
        "RuntimeError: Event loop is closed\n"
    )
    assert last_words(log) == (
        "consumers: email-consumer: ConfigError: invalid configuration: EMAIL_FROM is invalid"
    )
    assert last_words("starting\nValueError: boom\n") == "ValueError: boom"
    assert last_words("") == "(nothing on stderr)"
