"""What a function does in Lambda's init phase: with SnapStart (python3.12+), what runs before
the snapshot and after each restore; without it, its clients made at once.

With SnapStart, Lambda initialises a function once when a version is published, snapshots the
memory and resumes every new container from that snapshot. What the init does is then free for
every cold start, but what it holds is shared by every container restored from it: an event
loop and its selector, open connections, a seeded random generator. So before the snapshot a
function loads all it can (imports, settings, botocore's service models) and releases what is
tied to one container; after a restore it makes those again.

Without SnapStart (an on-demand or provisioned-concurrency init), the function is built and
its AWS clients made during the init, as a plain boto3 handler makes them at import: a bad
setting then fails the init, named, and the first request does not pay for the clients (about
100 CPU-ms; Lambda's init phase may also run with more CPU than the function's memory buys).
"""

import os
import random
from collections.abc import Callable
from typing import Protocol


class SnapshotAware(Protocol):
    def before_snapshot(self) -> None: ...

    def after_restore(self) -> None: ...

    def at_init(self) -> None:
        """An init without SnapStart: make the clients now."""


ON_DEMAND = ("on-demand", "provisioned-concurrency")


def snapstart_init() -> bool:
    """Whether this init is the one Lambda snapshots (it says so in the environment)."""
    return os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") == "snap-start"


def on_demand_init() -> bool:
    """Whether this is Lambda's init of a container without SnapStart."""
    return os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") in ON_DEMAND


def prepare_at_init(function: Callable[[], SnapshotAware]) -> bool:
    """In Lambda's init, build the function now (a bad setting fails the init, named, not the
    first request): with SnapStart, register its hooks with the runtime; without, make its
    clients. Elsewhere (tests, the local stack's containers): nothing. True when it did."""
    if on_demand_init():
        function().at_init()
        return True
    if not snapstart_init():
        return False
    # Part of Lambda's python runtime (and of the snapshot-restore-py package).
    from snapshot_restore_py import (  # type: ignore[import-not-found]
        register_after_restore,
        register_before_snapshot,
    )

    built = function()

    def after_restore() -> None:
        random.seed()  # each restored container its own sequence
        built.after_restore()

    register_before_snapshot(built.before_snapshot)
    register_after_restore(after_restore)
    return True
