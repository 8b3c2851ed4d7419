"""Who produces and who reads each published contract, declared beside their code.

Every deployable that produces or reads an event keeps a ``contract_uses.json`` in its package,
``{"produces": {"order-created": 1}}`` or ``{"reads": {"order-created": [1]}}``. The code reads
its own declaration (a consumer's ``reads``), and the contract gate finds every declaration
under the project's root as files: ``contracts/`` never imports the packages above it.
"""

import json
from dataclasses import dataclass, field
from pathlib import Path

FILE_NAME = "contract_uses.json"
ROOT = Path(__file__).resolve().parent.parent
_SKIPPED = {"contracts", "tests", "node_modules", "build", "dist", "var"}


class BadDeclaration(ValueError):
    """A ``contract_uses.json`` that does not say what it must, in one line."""


@dataclass(frozen=True)
class ContractUses:
    owner: str  # the package folder, relative to the root: "api", "consumers/email"
    produces: dict[str, int] = field(default_factory=dict)
    reads: dict[str, frozenset[int]] = field(default_factory=dict)


def _versions(value: object, path: Path) -> frozenset[int]:
    if not isinstance(value, list) or not all(type(v) is int and v > 0 for v in value):
        raise BadDeclaration(f"{path}: versions must be a list of positive integers")
    return frozenset(value)


def read_uses(path: Path, root: Path = ROOT) -> ContractUses:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BadDeclaration(f"{path}: not a readable JSON file ({exc})") from None
    if not isinstance(data, dict) or not set(data) <= {"produces", "reads"}:
        raise BadDeclaration(f'{path}: an object with "produces" and/or "reads"')
    produces = data.get("produces", {})
    reads = data.get("reads", {})
    if not isinstance(produces, dict) or not all(
        type(v) is int and v > 0 for v in produces.values()
    ):
        raise BadDeclaration(f'{path}: "produces" maps a contract to the one version it emits')
    if not isinstance(reads, dict):
        raise BadDeclaration(f'{path}: "reads" maps a contract to the versions it reads')
    owner = path.parent.resolve().relative_to(root.resolve()).as_posix()
    return ContractUses(
        owner=owner,
        produces=dict(produces),
        reads={name: _versions(versions, path) for name, versions in reads.items()},
    )


def find_uses(root: Path = ROOT) -> list[ContractUses]:
    """Every declaration in the root's packages (two levels down), in path order."""
    found = []
    for path in sorted([*root.glob(f"*/{FILE_NAME}"), *root.glob(f"*/*/{FILE_NAME}")]):
        top = path.relative_to(root).parts[0]
        if top.startswith(".") or top in _SKIPPED:
            continue
        found.append(read_uses(path, root))
    return found


def declared_reads(package: Path, contract: str) -> frozenset[int]:
    """The versions of ``contract`` the package at ``package`` declares it reads."""
    return read_uses(package / FILE_NAME, package.parent).reads.get(contract, frozenset())
