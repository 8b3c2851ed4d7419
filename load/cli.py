"""The arguments of ``orders load`` (and ``python -m load``); the run is ``load.runner``, which
needs the ``load`` extra (locust, matplotlib)."""

import argparse
import importlib.util
import os
import re
import sys
import urllib.parse
from collections.abc import Iterable, Sequence
from pathlib import Path

from load.scenarios import THROTTLE, scenarios

EXTRA = "load"
NEEDS = ("locust", "matplotlib")


def http_url(text: str) -> str:
    """An http(s) base URL, without its trailing slash (``orders`` takes its URLs with it too)."""
    parsed = urllib.parse.urlsplit(text)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise argparse.ArgumentTypeError(f"{text!r} is not an http(s) URL")
    return text.rstrip("/")


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < value <= 100_000:
        raise argparse.ArgumentTypeError(f"{value:g} is out of range (more than 0, at most 100000)")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    known = scenarios()
    parser.add_argument(
        "scenario",
        choices=sorted(known),
        metavar="SCENARIO",
        # argparse formats help with %: the descriptions' own percent signs are doubled.
        help="; ".join(f"{name}: {known[name].description}" for name in sorted(known)).replace(
            "%", "%%"
        ),
    )
    parser.add_argument(
        "--host",
        type=http_url,
        default="http://127.0.0.1:8000",
        help="the API (default orders up's)",
    )
    parser.add_argument(
        "--api-key",
        default=os.environ.get("ORDERS_API_KEY"),
        help="sent as x-api-key (default $ORDERS_API_KEY)",
    )
    parser.add_argument(
        "--throttle",
        type=_positive,
        default=THROTTLE,
        help=f"the API's stage throttle, requests/s, which the scenarios are scaled to "
        f"(default {THROTTLE:g})",
    )
    parser.add_argument("--rate", type=_positive, help="offer this rate instead (tasks/s)")
    parser.add_argument("--duration", type=_positive, help="run this many seconds instead")
    parser.add_argument(
        "--out", type=Path, help="where the reports go (default var/load/SCENARIO-TIME)"
    )
    parser.add_argument(
        "--aws",
        type=http_url,
        help="AWS endpoint for the completion check (default: the local emulator for a local "
        "API, else the standard AWS configuration)",
    )
    parser.add_argument(
        "--env", type=_env_name, default="dev", help="resource name prefix (default dev)"
    )
    parser.add_argument(
        "--outbox",
        type=Path,
        default=Path("var/outbox"),
        help="orders up's outbox, checked for one email per order (default var/outbox)",
    )
    parser.add_argument(
        "--no-completion",
        action="store_true",
        help="skip following the accepted orders downstream",
    )


def _env_name(text: str) -> str:
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9-]{0,30}", text):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an environment name (letters, digits, -)"
        )
    return text


def missing_extra(command: str, extra: str, needs: Iterable[str]) -> str | None:
    """One line naming the extra when ``orders COMMAND`` needs a package of it that is not
    installed, else None (``orders`` checks its other commands with it too)."""
    absent = [name for name in needs if importlib.util.find_spec(name) is None]
    if not absent:
        return None
    return (
        f"orders {command} needs {', '.join(absent)}: "
        f"pip install 'order-pipeline[{extra}]' (or the dev extra)"
    )


def run(args: argparse.Namespace) -> int:
    problem = missing_extra("load", EXTRA, NEEDS)
    if problem:
        print(problem, file=sys.stderr)
        return 2
    from load.runner import run as run_scenario

    return run_scenario(args)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="orders load", description="Run a locust load scenario against the Order API."
    )
    add_arguments(parser)
    return run(parser.parse_args(argv))
