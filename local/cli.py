"""``orders``: the one-machine pipeline from the command line."""

import argparse
import asyncio
import dataclasses
import os
import re
import signal
import sys
import urllib.parse
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
from botocore.exceptions import BotoCoreError, ClientError

from contracts.types import UUID4_PATTERN
from load import cli as load_cli
from load import cost_command
from local.aws.emulator import EmulatorError
from local.aws.resources import ResourceNames
from local.child_process import ChildFailed
from local.commands import operations, republish, smoke
from local.commands.operations import Target
from local.lambda_runtime.container import FunctionFailed
from runtime.aws import AwsClients
from runtime.config import ConfigError


def port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a port number (1-65535)")
    return value


def positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text} must be greater than 0")
    return value


def smtp_server(text: str) -> tuple[str, int]:
    host, sep, number = text.rpartition(":")
    if not sep or not host:
        raise argparse.ArgumentTypeError(f"{text!r} is not HOST:PORT")
    return host, port(number)


def batch_size(text: str) -> int:
    value = count(text)
    if value > 10:
        raise argparse.ArgumentTypeError(f"{value} is more than SQS's 10 messages a receive")
    return value


def at_most(high: int, what: str) -> Callable[[str], int]:
    """An argument type: a whole number from 1 to ``high``, refused naming what it counts."""

    def parse(text: str) -> int:
        value = count(text)
        if value > high:
            raise argparse.ArgumentTypeError(f"{value} is more than {high} {what}")
        return value

    return parse


def seconds(high: float, low: float = 0.0) -> Callable[[str], float]:
    """An argument type: a number of seconds from ``low`` to ``high``."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is out of range ({low:g}-{high:g} seconds)")
        return value

    return parse


def count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 1 <= value <= 100_000:
        raise argparse.ArgumentTypeError(f"{value} is out of range (1-100000)")
    return value


def order_id(text: str) -> str:
    if not re.fullmatch(UUID4_PATTERN, text):
        raise argparse.ArgumentTypeError(f"{text!r} is not an order id (a lowercase UUID4)")
    return text


def aws_endpoint(text: str) -> str:
    """An endpoint URL, or ``aws`` (returned as ""): AWS itself."""
    return "" if text == "aws" else load_cli.http_url(text)


def timestamp(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text[:40]!r} is not an ISO 8601 time (e.g. 2026-11-27T09:00:00Z)"
        ) from None
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text[:40]!r} has no time zone: end it with Z")
    return value.astimezone(UTC)


def env_name(text: str) -> str:
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9-]{0,30}", text):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an environment name (letters, digits, -)"
        )
    return text


def stack_name(text: str) -> str:
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9-]{0,127}", text):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a CloudFormation stack name (a letter, then letters, digits, -)"
        )
    return text


def api_key(text: str) -> str:
    # API Gateway keys are 20-128 printable ASCII characters; a header cannot carry more.
    if not re.fullmatch(r"[\x21-\x7e]{20,128}", text):
        raise argparse.ArgumentTypeError(
            "the API key must be 20-128 printable ASCII characters without spaces"
        )
    return text


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="orders", description="The order pipeline on one machine.")
    commands = root.add_subparsers(dest="command", required=True, metavar="COMMAND")
    up = commands.add_parser(
        "up",
        help="run the local stack: AWS emulator, resources, and the API",
        description="Start the AWS emulator (unless AWS_ENDPOINT_URL points elsewhere), "
        "provision the dev resources and serve the Order API like API Gateway. Ctrl-C stops it.",
    )
    up.add_argument(
        "--host",
        default="127.0.0.1",
        help="address the API serves on (default 127.0.0.1; 0.0.0.0 for a phone on this "
        "network); the emulator and the SMTP sink stay on 127.0.0.1",
    )
    up.add_argument(
        "--api-key",
        type=api_key,
        default=os.environ.get("ORDERS_API_KEY") or None,
        help="require this x-api-key on every request, as the deployed stage does "
        "(default $ORDERS_API_KEY, else none)",
    )
    up.add_argument("--port", type=port, default=8000, help="API port (default 8000)")
    up.add_argument("--aws-port", type=port, default=4566, help="emulator port (default 4566)")
    up.add_argument("--outbox", type=Path, default=Path("var/outbox"), help="where emails land")
    up.add_argument(
        "--state",
        type=Path,
        default=Path("var/state"),
        metavar="DIR",
        help="where the emulator's data is kept across restarts (default var/state)",
    )
    up.add_argument(
        "--fresh",
        action="store_true",
        help="start empty: the saved state is set aside (renamed, not deleted)",
    )
    up.add_argument(
        "--save-every",
        type=seconds(3600, low=1),
        default=5.0,
        metavar="SECONDS",
        help="seconds between saves while running (1-3600, default 5); also saved on stop",
    )
    up.add_argument("--rate", type=positive, default=100.0, help="stage throttling rate per second")
    up.add_argument("--burst", type=int, default=200, help="stage throttling burst")
    up.add_argument(
        "--containers",
        type=at_most(10, "Order API containers (this machine's cores are the real limit)"),
        default=4,
        help="Order API containers, i.e. its concurrency (1-10, default 4)",
    )
    up.add_argument(
        "--max-wait",
        type=seconds(5),
        default=0.1,
        help="seconds a request may wait for a free container before a 429 (0-5, default 0.1)",
    )
    up.add_argument(
        "--demo", action="store_true", help="submit one sample order and show its steps"
    )

    up.add_argument(
        "--smtp",
        type=smtp_server,
        metavar="HOST:PORT",
        help="send email through this SMTP server instead of the embedded sink and its outbox",
    )

    up.add_argument(
        "--batch-size",
        type=batch_size,
        default=10,
        help="SQS batch size per invocation (1-10, default 10)",
    )
    up.add_argument(
        "--batch-window",
        type=seconds(300),
        default=0.0,
        help="seconds to fill a batch before invoking (0-300, default 0)",
    )

    up.add_argument(
        "--pollers",
        type=at_most(10, "batches in flight per queue"),
        default=2,
        help="batches in flight per queue (1-10, default 2)",
    )

    def target_options(command: argparse.ArgumentParser) -> None:
        command.add_argument(
            "--api", type=load_cli.http_url, default="http://127.0.0.1:8000", help="API base URL"
        )
        command.add_argument(
            "--aws",
            type=load_cli.http_url,
            default=os.environ.get("AWS_ENDPOINT_URL", "http://127.0.0.1:4566"),
            help="AWS endpoint (default $AWS_ENDPOINT_URL, else the local emulator)",
        )
        command.add_argument(
            "--env", type=env_name, default="dev", help="resource name prefix (default dev)"
        )

    def api_key_option(command: argparse.ArgumentParser) -> None:
        command.add_argument(
            "--api-key",
            type=api_key,
            default=os.environ.get("ORDERS_API_KEY") or None,
            help="sent as x-api-key (default $ORDERS_API_KEY): orders up --api-key requires it",
        )

    submit = commands.add_parser(
        "submit",
        help="send sample orders and count how many reach each step",
        description="Send sample orders at a steady rate, then report how many were accepted, emailed and audited.",
    )
    target_options(submit)
    api_key_option(submit)
    submit.add_argument("--count", type=count, default=10, help="how many orders (default 10)")
    submit.add_argument(
        "--rate", type=positive, default=10.0, help="orders per second (default 10)"
    )

    status = commands.add_parser(
        "status",
        help="an order, its audit records and whether its email was sent",
        description="Show an order as stored, its audit records (via the OrderIdIndex GSI) and its email.",
    )
    status.add_argument("order_id", type=order_id, metavar="ORDER_ID")
    target_options(status)
    api_key_option(status)

    republish = commands.add_parser(
        "republish",
        help="publish stored orders again (the outbox's backfill)",
        description="Publish OrderCreated again for every stored order, or for those created "
        "since a time: orders stored before the Orders table had its stream, or whose stream "
        "records aged out. The consumers deduplicate, so a repeat is harmless.",
    )
    republish.add_argument(
        "--since",
        type=timestamp,
        help="only orders created at or after this UTC time (ISO 8601, e.g. 2026-11-27T09:00:00Z)",
    )
    republish.add_argument(
        "--aws",
        type=aws_endpoint,
        default=os.environ.get("AWS_ENDPOINT_URL", "http://127.0.0.1:4566"),
        help="AWS endpoint (default $AWS_ENDPOINT_URL, else the local emulator); "
        "'aws' for AWS itself, with the standard credentials",
    )
    republish.add_argument(
        "--env", type=env_name, default="dev", help="resource name prefix (default dev)"
    )

    dlq = commands.add_parser(
        "dlq",
        help="list or redrive dead letters",
        description="List the dead letters of a consumer's queue, or move them back to it.",
    )
    dlq.add_argument("action", choices=["list", "redrive"])
    dlq.add_argument(
        "--queue",
        choices=["email", "audit"],
        default="email",
        help="which consumer (default email)",
    )
    target_options(dlq)

    smoke_command = commands.add_parser(
        "smoke",
        help="one order through a running pipeline, local or deployed: PASS or FAIL",
        description="Post an order, read it back with GET /order/{id} and, given AWS access "
        "(--env or --stack), wait for its audit record and its email. Prints a line per check "
        "and a verdict; exits 1 on the first failed check.",
    )
    where = smoke_command.add_mutually_exclusive_group(required=True)
    where.add_argument("--api", type=load_cli.http_url, help="API base URL")
    where.add_argument(
        "--stack",
        type=stack_name,
        help="a deployed stack: its ApiUrl output, its API key and its environment",
    )
    smoke_command.add_argument(
        "--api-key", type=api_key, help="the API key (x-api-key), when the API requires one"
    )
    smoke_command.add_argument(
        "--env",
        type=env_name,
        help="resource name prefix: check the order's audit record and email in its tables",
    )
    smoke_command.add_argument(
        "--aws",
        type=load_cli.http_url,
        default=os.environ.get("AWS_ENDPOINT_URL") or None,
        help="AWS endpoint (default $AWS_ENDPOINT_URL, else AWS itself)",
    )
    smoke_command.add_argument(
        "--within",
        type=seconds(900),
        default=120.0,
        help="seconds to wait for the audit record and the email (0-900, default 120)",
    )

    load = commands.add_parser(
        "load",
        help="offer a locust load scenario to the API, then follow every accepted order",
        description="Run a load scenario headless (locust), write its CSV, HTML and a plot, "
        "check that every accepted order was stored, emailed and audited, and exit non-zero "
        "if a threshold was missed.",
    )
    load_cli.add_arguments(load)

    cost = commands.add_parser(
        "cost",
        help="what orders cost on AWS, per million, from a run of orders load",
        description="Price a run's counts (AWS calls and their request units, Lambda "
        "invocations and durations, log bytes) per million orders with the price table, "
        "line by line; and a month at a given volume.",
    )
    cost_command.add_arguments(cost)
    return root


async def run_up(args: argparse.Namespace) -> int:
    from local.stack import (  # the local extra: see main()
        EndpointUnusable,
        LocalStack,
        StackOptions,
        StateUnavailable,
    )

    if args.burst < 1:
        print("orders up: --burst must be at least 1", file=sys.stderr)
        return 2
    options = StackOptions(
        host=args.host,
        api_key=args.api_key,
        port=args.port,
        aws_port=args.aws_port,
        outbox=args.outbox,
        state=args.state,
        fresh=args.fresh,
        save_every=args.save_every,
        rate=args.rate,
        burst=args.burst,
        containers=args.containers,
        max_wait=args.max_wait,
        external_smtp=args.smtp,
        batch_size=args.batch_size,
        batch_window=args.batch_window,
        pollers_per_queue=args.pollers,
    )
    stack = LocalStack(options)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    try:
        await stack.start()
        if args.demo and not await stack.demo():
            return 1
        await stopping.wait()
        stack.say("stopping")
        return 0
    except (
        EmulatorError,
        ChildFailed,
        FunctionFailed,
        ConfigError,
        StateUnavailable,
        EndpointUnusable,
        OSError,
    ) as exc:
        print(f"orders up: {exc}", file=sys.stderr)
        return 1
    finally:
        await stack.stop()


async def run_smoke(args: argparse.Namespace) -> int:
    try:
        if args.stack:
            target = await smoke.stack_target(args.stack, args.aws)
            if args.api_key:
                target = dataclasses.replace(target, api_key=args.api_key)
            if args.env:
                target = dataclasses.replace(target, names=ResourceNames(args.env))
        else:
            names = ResourceNames(args.env) if args.env else None
            target = smoke.SmokeTarget(args.api, args.api_key, names, args.aws)
        return await smoke.smoke(target, sys.stdout, args.within)
    except smoke.SmokeFailed as failed:
        print(f"smoke: FAIL: {failed}", flush=True)
        return 1
    except (BotoCoreError, ClientError) as exc:
        print(f"smoke: FAIL: AWS call failed: {exc}", flush=True)
        return 1


async def run_republish(endpoint: str | None, names: ResourceNames, since: datetime | None) -> int:
    clients = AwsClients(endpoint_url=endpoint)
    try:
        result = await republish.republish(clients, names, since, sys.stdout)
    except republish.RepublishFailed as exc:
        print(f"orders republish: {exc}", file=sys.stderr)
        return 1
    finally:
        await clients.close()
    print(
        f"republished {result.published} orders"
        + (f"; {result.failed} refused by SNS (run it again)" if result.failed else "")
        + (f"; {result.not_orders} items skipped (not orders)" if result.not_orders else "")
    )
    return 1 if result.failed else 0


async def run_operation(args: argparse.Namespace) -> int:
    target = Target(
        api=getattr(args, "api", ""),
        aws=args.aws,
        names=ResourceNames(args.env),
        api_key=getattr(args, "api_key", None),
    )
    try:
        if args.command == "status":
            return await operations.status(target, args.order_id, sys.stdout)
        if args.command == "dlq":
            return await operations.dlq(target, args.action, args.queue, sys.stdout)
        if args.command == "republish":
            return await run_republish(args.aws or None, target.names, args.since)
        return await operations.submit(target, args.count, args.rate, sys.stdout)
    except (aiohttp.ClientError, OSError) as exc:
        print(
            f"orders {args.command}: cannot reach the stack ({exc}); is `orders up` running?",
            file=sys.stderr,
        )
        return 1
    except (BotoCoreError, ClientError) as exc:
        print(f"orders {args.command}: AWS call failed: {exc}", file=sys.stderr)
        return 1


# What each command needs beyond the base install: the `local` extra.
LOCAL_EXTRA_NEEDS = {"up": ("moto", "flask", "aiosmtpd"), "submit": ("rich",)}


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    problem = load_cli.missing_extra(args.command, "local", LOCAL_EXTRA_NEEDS.get(args.command, ()))
    if problem:
        print(problem, file=sys.stderr)
        return 2
    if args.command == "up":
        return asyncio.run(run_up(args))
    if args.command == "load":
        return load_cli.run(args)
    if args.command == "cost":
        return cost_command.run(args)
    if args.aws and urllib.parse.urlsplit(args.aws).hostname in ("127.0.0.1", "localhost", "::1"):
        # The local emulator takes any credentials; a real account keeps its own chain.
        for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing")):
            os.environ.setdefault(name, value)
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    if args.command == "smoke":
        return asyncio.run(run_smoke(args))
    return asyncio.run(run_operation(args))


if __name__ == "__main__":
    sys.exit(main())
