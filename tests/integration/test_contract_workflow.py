"""Changing a contract the project's way, on a copy of the tree: edit the model, regenerate the
schemas, run the gate. A breaking change fails it, saying what to do; doing that passes it."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.commands import ROOT

PACKAGES = ("api", "contracts", "consumers", "runtime")


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    for package in PACKAGES:
        shutil.copytree(
            ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    return tmp_path


def project(tree: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m ...`` in the copy, importing the copy's packages."""
    return subprocess.run(
        [sys.executable, "-m", *args],
        cwd=tree,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new), encoding="utf-8")


def test_a_breaking_event_change_fails_until_it_is_a_released_new_version(tree: Path) -> None:
    events = tree / "contracts" / "events.py"
    edit(
        events,
        "customer_name: Annotated[str, Field(min_length=1)]",
        "customer_name: Annotated[str, Field(min_length=1, max_length=10)]",
    )
    assert project(tree, "contracts.schemas", "--write").returncode == 0
    refused = project(tree, "contracts.gate")
    assert refused.returncode == 1
    assert "order-created v1 (event) has a breaking change:" in refused.stderr
    assert "customerName: narrowed: maxLength (none) -> 10" in refused.stderr
    assert "raise schemaVersion to 2" in refused.stderr

    # What the message says: a new schemaVersion, read by every consumer, released.
    edit(events, "schema_version: Annotated[Literal[1]", "schema_version: Annotated[Literal[2]")
    edit(events, "schema_version=1, **dict(order)", "schema_version=2, **dict(order)")
    edit(events, "{1: OrderCreated}", "{2: OrderCreated}")
    for consumer in ("email", "audit"):
        edit(tree / "consumers" / consumer / "contract_uses.json", "[1]", "[2]")
    edit(tree / "api" / "contract_uses.json", '"order-created": 1', '"order-created": 2')
    unreleased = project(tree, "contracts.gate")
    assert unreleased.returncode == 1
    assert "order-created is at v2" in unreleased.stderr
    assert "`python -m contracts.gate --release order-created`" in unreleased.stderr
    released = project(tree, "contracts.gate", "--release", "order-created")
    assert released.returncode == 0, released.stderr
    assert (tree / "contracts" / "released" / "order-created" / "v2.schema.json").exists()
    passed = project(tree, "contracts.gate")
    assert passed.returncode == 0, passed.stderr


def test_a_breaking_request_change_fails_until_the_old_version_is_retired(tree: Path) -> None:
    types = tree / "contracts" / "types.py"
    edit(
        types,
        "CustomerName = Annotated[str, _text(2, 100)",
        "CustomerName = Annotated[str, _text(2, 50)",
    )
    refused = project(tree, "contracts.gate")
    assert refused.returncode == 1
    assert "order-request v1 (request) has a breaking change:" in refused.stderr
    assert "customerName: narrowed: maxLength 100 -> 50" in refused.stderr
    published = tree / "contracts" / "published.py"
    edit(
        published,
        'Published("order-request", "order_request", "request")',
        'Published("order-request", "order_request", "request", version=2, oldest_supported=2)',
    )
    assert project(tree, "contracts.gate", "--release", "order-request").returncode == 0
    passed = project(tree, "contracts.gate")
    assert passed.returncode == 0, passed.stderr


def test_a_released_file_cannot_be_edited_to_fit(tree: Path) -> None:
    path = tree / "contracts" / "released" / "order-accepted" / "v1.schema.json"
    text = path.read_text(encoding="utf-8")
    path.write_text(re.sub(r'"orderId",\s*', "", text, count=1), encoding="utf-8")
    refused = project(tree, "contracts.gate")
    assert refused.returncode == 1
    assert "order-accepted/v1.schema.json: changed after it was released" in refused.stderr
