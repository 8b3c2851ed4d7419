"""Lambda SnapStart (python3.12+): what runs before the snapshot and after each restore.

With SnapStart, Lambda initialises a function once when a version is published, snapshots the
memory and resumes every new container from that snapshot. What the init does is then free for
every cold start, but what it holds is shared by every container restored from it: an event
loop and its selector, open connections, a seeded random generator. So before the snapshot a
function loads all it can (imports, settings, botocore's service models) and releases what is
tied to one container; after a restore it makes those again.
"""

import os
import random
from collections.abc import Callable
from typing import Protocol


class SnapshotAware(Protocol):
    def before_snapshot(self) -> None: ...

    def after_restore(self) -> None: ...


def snapstart_init() -> bool:
    """Whether this init is the one Lambda snapshots (it says so in the environment)."""
    return os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") == "snap-start"


def register_snapstart_hooks(function: Callable[[], SnapshotAware]) -> bool:
    """On a SnapStart init: build the function now (a bad setting fails the publish, not the
    first request) and register its hooks with the runtime. Elsewhere: nothing."""
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
