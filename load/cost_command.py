"""``orders cost``: what orders cost on AWS, priced from a run's counts (``load.cost``).

orders cost                         the newest run of orders load under var/load
orders cost var/load/steady-...     that run (its folder or its summary.json)
orders cost --orders-per-month 5e6  and the month at that volume, fixed costs included
orders cost --prices my-region.toml another price table
"""

import argparse
import json
import sys
from pathlib import Path

from load.cost import PRICES, PriceTable, PriceTableError, RunCounts, itemize, table_lines

RUNS = Path("var/load")
MAX_ORDERS_PER_MONTH = 1e12


def _volume(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < value <= MAX_ORDERS_PER_MONTH:
        raise argparse.ArgumentTypeError(f"{value:g} is out of range (more than 0, at most 1e12)")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "run",
        nargs="?",
        type=Path,
        help="a run of orders load: its folder or its summary.json (default: the newest under "
        "var/load that counted its cost)",
    )
    parser.add_argument(
        "--prices", type=Path, default=PRICES, help=f"price table (default {PRICES.name})"
    )
    parser.add_argument(
        "--orders-per-month", type=_volume, help="also price a month at this many orders"
    )


def _newest(runs: Path) -> Path | None:
    found = []
    for summary in runs.glob("*/summary.json"):
        try:
            if json.loads(summary.read_text(encoding="utf-8")).get("aws_cost"):
                found.append(summary)
        except (OSError, ValueError, AttributeError):
            continue
    return max(found, key=lambda path: path.stat().st_mtime, default=None)


def run(args: argparse.Namespace) -> int:
    summary = (
        args.run if args.run is None or args.run.suffix == ".json" else args.run / "summary.json"
    )
    if summary is None:
        summary = _newest(RUNS)
        if summary is None:
            print(
                f"orders cost: no run of orders load with cost counts under {RUNS}/ "
                "(run `orders up`, then `orders load smoke`)",
                file=sys.stderr,
            )
            return 2
    try:
        recorded = json.loads(summary.read_text(encoding="utf-8"))["aws_cost"]["counts"]
        counts = RunCounts.from_json(recorded)
    except OSError as exc:
        print(f"orders cost: cannot read {summary}: {exc.strerror}", file=sys.stderr)
        return 2
    except (ValueError, KeyError, TypeError, AttributeError):
        print(
            f"orders cost: {summary} holds no cost counts (a run against orders up on this "
            "machine writes them)",
            file=sys.stderr,
        )
        return 2
    try:
        bill = itemize(counts, PriceTable.load(args.prices))
    except (PriceTableError, ValueError) as exc:
        print(f"orders cost: {exc}", file=sys.stderr)
        return 2
    print(f"orders cost: {summary} ({counts.orders} orders, Lambda on {counts.architecture})")
    print("\n".join(table_lines(bill)))
    if args.orders_per_month:
        volume = args.orders_per_month
        monthly = bill.total * volume / 1e6 + bill.fixed_per_month
        print(
            f"  at {volume:,.0f} orders a month: ${monthly:,.2f} a month "
            f"(${bill.without_email * volume / 1e6 + bill.fixed_per_month:,.2f} without email)"
        )
    return 0
