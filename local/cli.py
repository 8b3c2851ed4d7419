"""``orders``: the one-machine pipeline from the command line."""

import argparse
import asyncio
import signal
import sys
from pathlib import Path

from local.emulator import EmulatorError
from local.stack import LocalStack, StackOptions
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


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="orders", description="The order pipeline on one machine.")
    commands = root.add_subparsers(dest="command", required=True, metavar="COMMAND")
    up = commands.add_parser(
        "up",
        help="run the local stack: AWS emulator, resources, and the API",
        description="Start the AWS emulator (unless AWS_ENDPOINT_URL points elsewhere), "
        "provision the dev resources and serve the Order API like API Gateway. Ctrl-C stops it.",
    )
    up.add_argument("--host", default="127.0.0.1", help="address to serve on (default 127.0.0.1)")
    up.add_argument("--port", type=port, default=8000, help="API port (default 8000)")
    up.add_argument("--aws-port", type=port, default=4566, help="emulator port (default 4566)")
    up.add_argument("--outbox", type=Path, default=Path("var/outbox"), help="where emails land")
    up.add_argument("--rate", type=positive, default=100.0, help="stage throttling rate per second")
    up.add_argument("--burst", type=int, default=200, help="stage throttling burst")
    up.add_argument(
        "--demo", action="store_true", help="submit one sample order and show its steps"
    )
    return root


async def run_up(args: argparse.Namespace) -> int:
    if args.burst < 1:
        print("orders up: --burst must be at least 1", file=sys.stderr)
        return 2
    options = StackOptions(
        host=args.host,
        port=args.port,
        aws_port=args.aws_port,
        outbox=args.outbox,
        rate=args.rate,
        burst=args.burst,
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
    except (EmulatorError, ConfigError, OSError) as exc:
        print(f"orders up: {exc}", file=sys.stderr)
        return 1
    finally:
        await stack.stop()


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command == "up":
        return asyncio.run(run_up(args))
    return 2


if __name__ == "__main__":
    sys.exit(main())
