"""The emulator's state on disk, so that ``orders up`` keeps its data across restarts.

The state is moto's (``local.aws.moto_state``) and, beside it, Lambda's own state that belongs
with it: the outbox's stream position (``local.lambda_runtime.stream_source``), read at the
same instant, so the position never points past the records the state holds.

The file is a header line (``MAGIC``), one line of JSON (format, moto and project versions,
when it was saved, the payload's size and SHA-256, the stream position), then the payload. It is
written to a temporary file in the same folder, flushed to disk and renamed over the old one,
so a crash or a power cut leaves the previous file or the new one, never half of either.

Reading refuses, in one line that says what to do, a file that is not one of these, is
damaged (shorter than its header says, or its checksum differs), or was written by another
format, moto or project version. Nothing is deleted: ``orders up --fresh`` sets the file aside
under a new name and starts empty.

No moto import here: ``orders up`` sets files aside without loading the emulator.
"""

import hashlib
import importlib.metadata
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

MAGIC = b"orders-emulator-state\n"
FORMAT = 1
MAX_HEADER_BYTES = 64 * 1024
FRESH_HINT = "start with --fresh to begin empty (the file is then kept aside)"


class StateRefused(Exception):
    """A state file that cannot be restored here; the message is one line for the user."""


def _version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def versions() -> dict[str, Any]:
    return {"format": FORMAT, "moto": _version("moto"), "project": _version("order-pipeline")}


def _fsync_folder(folder: Path) -> None:
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return  # a platform that cannot open folders: the rename is as durable as it gets
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


@dataclass
class StateFile:
    path: Path

    def write(self, payload: bytes, stream_position: dict[str, Any] | None) -> None:
        """Replace the file with this payload, atomically and durably."""
        header = {
            **versions(),
            "saved_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
            "bytes": len(payload),
            "sha256": hashlib.sha256(payload).hexdigest(),
            "stream_position": stream_position,
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            with temporary.open("wb") as out:
                out.write(MAGIC)
                out.write(json.dumps(header).encode() + b"\n")
                out.write(payload)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, self.path)
        finally:
            temporary.unlink(missing_ok=True)
        _fsync_folder(self.path.parent)

    def read(self) -> tuple[dict[str, Any], bytes] | None:
        """(header, payload), or None when there is no file; ``StateRefused`` when it cannot
        be restored here."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StateRefused(
                f"{self.path} cannot be read ({exc.strerror}); {FRESH_HINT}"
            ) from None
        if not data.startswith(MAGIC):
            raise StateRefused(f"{self.path} is not an emulator state file; {FRESH_HINT}")
        end = data.find(b"\n", len(MAGIC), len(MAGIC) + MAX_HEADER_BYTES)
        try:
            if end < 0:
                raise ValueError("no header line")
            header = json.loads(data[len(MAGIC) : end])
            expected = int(header["bytes"])
            digest = str(header["sha256"])
        except (ValueError, KeyError, TypeError):
            raise StateRefused(f"{self.path} is damaged (its header); {FRESH_HINT}") from None
        mine = versions()
        theirs = {key: header.get(key) for key in mine}
        if theirs != mine:
            raise StateRefused(
                f"{self.path} was saved by moto {theirs['moto']}, order-pipeline "
                f"{theirs['project']} (state format {theirs['format']}); this is moto "
                f"{mine['moto']}, order-pipeline {mine['project']} (format {mine['format']}): "
                f"run the version that saved it, or {FRESH_HINT}"
            )
        payload = data[end + 1 :]
        if len(payload) != expected:
            raise StateRefused(
                f"{self.path} is damaged (truncated: {len(payload)} of {expected} bytes); "
                f"{FRESH_HINT}"
            )
        if hashlib.sha256(payload).hexdigest() != digest:
            raise StateRefused(f"{self.path} is damaged (its checksum differs); {FRESH_HINT}")
        return header, payload

    def set_aside(self) -> Path | None:
        """Rename the file out of the way (``--fresh``); returns its new name, if there was one."""
        if not self.path.exists():
            return None
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        aside = self.path.with_name(f"{self.path.name}.set-aside-{stamp}")
        number = 1
        while aside.exists():
            number += 1
            aside = self.path.with_name(f"{self.path.name}.set-aside-{stamp}-{number}")
        os.replace(self.path, aside)
        return aside
