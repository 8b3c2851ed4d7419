"""The contract gate: a breaking change to a published contract fails, with what to do about it.

    python -m contracts.gate                     # check (``make test`` runs it); exit 1 on a problem
    python -m contracts.gate --release NAME      # write NAME's current version as released

It compares what the code does now with every released version still in use
(``contracts.published`` says which way each contract may change, ``contracts.compat`` judges a
change), checks that released files are unchanged and numbered without gaps, and that every
consumer reads the ``OrderCreated`` version the producer emits.
"""

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

from contracts.compat import breaks
from contracts.events import (
    ORDER_CREATED_CONTRACT,
    ORDER_CREATED_MODELS,
    OrderCreated,
    schema_version_of,
)
from contracts.published import (
    MANIFEST,
    PUBLISHED,
    RELEASED_DIR,
    Published,
)
from contracts.schemas import dump, render, schema_of
from contracts.uses import FILE_NAME, ContractUses, find_uses

RELEASE = "python -m contracts.gate --release"


def current_version(contract: Published) -> int:
    """Events: the producer model's schemaVersion; API contracts: their declared version."""
    return schema_version_of(OrderCreated) if contract.kind == "event" else contract.version


def current_schemas(contract: Published) -> dict[int, dict[str, Any]]:
    """What the code does now, by version: for events every version in flight, each read by
    its own model; for the API its one current version."""
    if contract.kind == "event":
        return {
            version: schema_of(
                model, "serialization", f"urn:order-pipeline:{contract.name}:v{version}"
            )
            for version, model in ORDER_CREATED_MODELS.items()
        }
    return {current_version(contract): render(contract.stem)}


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _manifest() -> dict[str, str]:
    if not MANIFEST.exists():
        return {}
    recorded: dict[str, str] = json.loads(MANIFEST.read_text(encoding="utf-8"))
    return recorded


def manifest_problems() -> list[str]:
    recorded = _manifest()
    found = {
        path.relative_to(RELEASED_DIR).as_posix(): path
        for path in sorted(RELEASED_DIR.glob("*/v*.schema.json"))
    }
    problems = []
    for name, path in found.items():
        if name not in recorded:
            problems.append(
                f"{path}: not in {MANIFEST.name}; release versions with `{RELEASE} CONTRACT`, "
                "which records them"
            )
        elif recorded[name] != _digest(path):
            problems.append(
                f"{path}: changed after it was released (its SHA-256 no longer matches "
                f"{MANIFEST.name}). A released schema never changes: restore it "
                f"(git checkout -- {path}) and make the change in a new version"
            )
    problems += [
        f"{RELEASED_DIR / name}: listed in {MANIFEST.name} but missing; restore it"
        for name in recorded
        if name not in found
    ]
    return problems


def version_problems(contract: Published) -> list[str]:
    released = contract.released_versions()
    name, current = contract.name, current_version(contract)
    where = (
        "schemaVersion in contracts/events.py"
        if contract.kind == "event"
        else ("its version in contracts/published.py")
    )
    if released != list(range(1, len(released) + 1)):
        return [
            f"{name}: released versions must run from v1 without a gap; found "
            + ", ".join(f"v{v}" for v in released)
        ]
    latest = released[-1] if released else 0
    if current > latest + 1:
        return [
            f"{name}: v{current} skips a number (released: up to v{latest}); set {where} to {latest + 1}"
        ]
    if current == latest + 1:
        return [
            f"{name} is at v{current} ({where}) but v{current} is not released: `{RELEASE} {name}`"
        ]
    if current < latest:
        return [
            f"{name} is at v{current} ({where}) but v{latest} is released; the code must be at the latest"
        ]
    return []


def _advice(contract: Published, version: int) -> str:
    if contract.kind == "event":
        return (
            f"Consumers built on v{version} and producers of it would no longer agree. Make the "
            f"change compatible (adding an optional field is), or raise schemaVersion to "
            f"{version + 1} in contracts/events.py (keeping the v{version} model in "
            f"ORDER_CREATED_MODELS while v{version} events are in flight), add {version + 1} to "
            f"each consumer's `reads`, and release it: `{RELEASE} {contract.name}`"
        )
    if contract.kind == "request":
        return (
            f"Apps built on v{version} still send such requests, and the API would refuse them. "
            f"Make the change compatible (widen, or add an optional field), or, once no app sends "
            f"v{version} requests, raise its version and oldest_supported in "
            f"contracts/published.py and release it: `{RELEASE} {contract.name}`"
        )
    return (
        f"Apps built on v{version} and the API would no longer agree. Make the change compatible "
        f"(adding an optional field is), or raise its version to {version + 1} in "
        f"contracts/published.py and release it: `{RELEASE} {contract.name}`"
    )


def _released(contract: Published, version: int) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(contract.released_path(version).read_text(encoding="utf-8"))
    return loaded


def compatibility_problems(contract: Published) -> list[str]:
    released = set(contract.released_versions())
    problems = []
    if contract.kind == "request":
        current = render(contract.stem)
        pairs = [
            (version, current)
            for version in sorted(released)
            if version >= contract.oldest_supported
        ]
    else:
        pairs = [(v, schema) for v, schema in current_schemas(contract).items() if v in released]
    for version, schema in pairs:
        found = breaks(_released(contract, version), schema, contract.role, contract.tolerant)
        if found:
            listed = "".join(f"\n  - {found_break}" for found_break in found)
            problems.append(
                f"{contract.name} v{version} ({contract.kind}) has a breaking change:{listed}"
                f"\n  {_advice(contract, version)}"
            )
    return problems


def reader_problems(uses: list[ContractUses] | None = None) -> list[str]:
    """Producers emit the model's version; every reader reads what the producers emit, and only
    versions that exist. Who produces and reads is declared in contract_uses.json files."""
    declared = find_uses() if uses is None else uses
    emitted = schema_version_of(OrderCreated)
    name = ORDER_CREATED_CONTRACT
    problems = []
    if emitted not in ORDER_CREATED_MODELS:
        problems.append(
            f"order-created: the model emits v{emitted}, which is not in ORDER_CREATED_MODELS "
            "(contracts/events.py)"
        )
    producers = [use for use in declared if name in use.produces]
    readers = [use for use in declared if name in use.reads]
    if not producers:
        problems.append(f'no package declares "produces": {{"{name}": ...}} in its {FILE_NAME}')
    for producer in producers:
        if producer.produces[name] != emitted:
            problems.append(
                f"{producer.owner}/{FILE_NAME} says it produces {name} "
                f"v{producer.produces[name]}, but OrderCreated emits v{emitted}: make them agree"
            )
    released = set(next(c for c in PUBLISHED if c.kind == "event").released_versions())
    produced = {use.produces[name] for use in producers} | {emitted}
    for reader in readers:
        reads = reader.reads[name]
        where = f"{reader.owner}/{FILE_NAME}"
        problems += [
            f"{reader.owner} does not read OrderCreated v{version}, which the producer emits: "
            f"add {version} to its reads in {where} (and a stored sample of v{version} to its "
            "tests)"
            for version in sorted(produced - reads)
        ]
        problems += [
            f"{reader.owner} reads OrderCreated v{version}, which is not released or has no "
            "model in ORDER_CREATED_MODELS"
            for version in sorted(reads)
            if version not in released or version not in ORDER_CREATED_MODELS
        ]
    return problems


def problems() -> list[str]:
    found = manifest_problems()
    for contract in PUBLISHED:
        versioning = version_problems(contract)
        found += versioning or compatibility_problems(contract)
    return found + reader_problems()


def release(name: str) -> Path:
    """Write the contract's current version as released, and record it in the manifest."""
    contract = next((c for c in PUBLISHED if c.name == name), None)
    if contract is None:
        raise SystemExit(
            f"no published contract {name!r}; one of: {', '.join(c.name for c in PUBLISHED)}"
        )
    version = current_version(contract)
    path = contract.released_path(version)
    if path.exists():
        raise SystemExit(
            f"{name} v{version} is already released ({path}); released files never change"
        )
    schema = current_schemas(contract)[version]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(dump(schema), encoding="utf-8")
    recorded = _manifest() | {path.relative_to(RELEASED_DIR).as_posix(): _digest(path)}
    MANIFEST.write_text(
        json.dumps(dict(sorted(recorded.items())), indent=2) + "\n", encoding="utf-8"
    )
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m contracts.gate",
        description="Fail when a published contract changes in a way its readers or writers "
        "cannot follow; --release writes a contract's current version.",
    )
    parser.add_argument(
        "--release",
        metavar="CONTRACT",
        help="release this contract's current version: " + ", ".join(c.name for c in PUBLISHED),
    )
    args = parser.parse_args(argv)
    if args.release:
        print(f"released {release(args.release)}")
        return 0
    found = problems()
    for problem in found:
        print(f"contract gate: {problem}", file=sys.stderr)
    if not found:
        print(f"contract gate: {len(PUBLISHED)} published contracts, all compatible")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
