"""The published contracts: the shapes other deployables rely on, and their released versions.

A released version is a file, ``contracts/released/<contract>/v<N>.schema.json``, that never
changes once written (``manifest.json`` holds each file's SHA-256, and the gate refuses a file
that no longer matches). Who relies on what, and so which way a change may go:

- ``event`` (``OrderCreated``): the producer and both consumers are built from one model and
  deployed apart, so events of a version flow both ways in time: what the producer emits now must
  be read by consumers built on the released version, and consumers built now must read what a
  producer on the released version still sends (in flight, in a dead-letter queue, redriven). So a
  version's schema may gain optional fields (readers ignore unknown ones) and nothing else. A
  breaking change is a new ``schemaVersion`` (in the model), which every consumer must declare it
  reads before the producer emits it.
- ``request`` (``POST /order``): installed apps keep sending what they were built to send, so the
  API must accept every request any supported released version accepted (it may widen, never
  narrow). Retiring a version (``oldest_supported``) is how a breaking change becomes possible.
- ``response``: the API writes them, apps read them, and apps built now meet an API mid-rollout:
  as for events.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from contracts.compat import Role
from contracts.schemas import SCHEMAS, render

Kind = Literal["event", "request", "response"]
RELEASED_DIR = Path(__file__).parent / "released"
MANIFEST = RELEASED_DIR / "manifest.json"


@dataclass(frozen=True)
class Published:
    name: str  # its folder under contracts/released/
    stem: str  # its current schema in contracts.schemas (what the code does today)
    kind: Kind
    # API contracts: the version the code is at. Events carry theirs in the model instead.
    version: int = 1
    # Requests: the oldest released version the API still accepts.
    oldest_supported: int = 1

    @property
    def model(self) -> type[BaseModel]:
        return SCHEMAS[self.stem][0]

    @property
    def role(self) -> Role:
        return "deserializer" if self.kind == "request" else "both"

    @property
    def tolerant(self) -> bool:
        """Readers of events and responses ignore fields they do not know."""
        return self.kind != "request"

    def folder(self) -> Path:
        return RELEASED_DIR / self.name

    def released_path(self, version: int) -> Path:
        return self.folder() / f"v{version}.schema.json"

    def released_versions(self) -> list[int]:
        return sorted(
            int(path.name.removeprefix("v").split(".")[0])
            for path in self.folder().glob("v*.schema.json")
            if path.name.removeprefix("v").split(".")[0].isdigit()
        )


PUBLISHED: tuple[Published, ...] = (
    Published("order-created", "order_created", "event"),
    Published("order-request", "order_request", "request"),
    Published("order-accepted", "order_accepted", "response"),
    Published("validation-failed", "validation_failed", "response"),
    Published("internal-error", "internal_error", "response"),
    Published("error-response", "error_response", "response"),
    Published("order", "order", "response"),
)


def current_schema(contract: Published) -> dict[str, object]:
    return render(contract.stem)
