"""The contract gate, on the real contracts and on mutations of the real models.

Each mutation redefines one real model with one field dropped, added or constrained (pydantic's
``create_model`` with the model's own configuration and field definitions), swaps it in where the
gate finds the model, and runs the gate: every kind of breaking change must fail it, naming the
contract and the field, and every compatible kind must pass.
"""

import dataclasses
import json
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any, Literal

import pytest
from pydantic import BaseModel, ConfigDict, Field, create_model

from contracts import gate, published
from contracts.api import InternalError, OrderAccepted
from contracts.events import ORDER_CREATED_MODELS, OrderCreated
from contracts.order import MAX_ITEMS, OrderItemRequest, OrderLine, OrderRequest
from contracts.schemas import SCHEMAS
from contracts.types import OrderId
from contracts.uses import BadDeclaration, find_uses

DROP: Any = object()


def annotated(base: Any, *metadata: Any) -> Any:
    """``Annotated[base, *metadata]``, built at run time (the type itself when bare)."""
    return Annotated.__class_getitem__((base, *metadata)) if metadata else base  # type: ignore[attr-defined]


def redefine(model: type[BaseModel], config: dict[str, Any] | None = None, **fields: Any) -> Any:
    """``model`` again, with each named field replaced (``(annotation, default)``), added, or
    dropped (``DROP``), and its configuration updated by ``config``."""
    definitions: dict[str, Any] = {
        name: (annotated(info.annotation, *info.metadata), info)
        for name, info in model.model_fields.items()
    }
    for name, definition in fields.items():
        if definition is DROP:
            definitions.pop(name)
        else:
            definitions[name] = definition
    settings = ConfigDict(**{**model.model_config, **(config or {})})  # type: ignore[typeddict-item]
    return create_model(model.__name__, __config__=settings, **definitions)


def tightened(model: type[BaseModel], name: str, **constraints: Any) -> tuple[Any, Any]:
    """A field of ``model`` with some of its constraints changed where the model states them
    (its ``StringConstraints``, ``Le``, ``MaxLen``...), or added."""
    info = model.model_fields[name]
    metadata, remaining = [], dict(constraints)
    for item in info.metadata:
        names = [key for key in remaining if dataclasses.is_dataclass(item) and hasattr(item, key)]
        if names:
            item = dataclasses.replace(item, **{key: remaining.pop(key) for key in names})
        metadata.append(item)
    if remaining:
        metadata.append(Field(**remaining))
    return (annotated(info.annotation, *metadata), ... if info.is_required() else info.default)


def with_items(model: type[BaseModel], item: type[BaseModel]) -> tuple[Any, Any]:
    return (Annotated[list[item], Field(min_length=1, max_length=MAX_ITEMS)], ...)  # type: ignore[valid-type]


def run_gate_with(monkeypatch: pytest.MonkeyPatch, stem: str, model: type[BaseModel]) -> list[str]:
    """The gate's verdict with ``model`` standing where the real one is."""
    monkeypatch.setitem(SCHEMAS, stem, (model, SCHEMAS[stem][1]))
    if stem == "order_created":
        monkeypatch.setitem(ORDER_CREATED_MODELS, 1, model)
    return gate.problems()


def test_the_contracts_as_they_are_pass_the_gate() -> None:
    assert gate.problems() == []


EVENT_BREAKS = [
    ("remove a field", {"customer_id": DROP}, "customerId: removed (or renamed)"),
    (
        "rename a field",
        {"customer_name": DROP, "customer_full_name": (Annotated[str, Field(min_length=1)], ...)},
        "customerName: removed (or renamed)",
    ),
    ("narrow a type", {"customer_id": (str, ...)}, "customerId: narrowed: null no longer allowed"),
    (
        "narrow a length",
        {"customer_name": tightened(OrderCreated, "customer_name", max_length=10)},
        "customerName: narrowed: maxLength (none) -> 10",
    ),
    (
        "narrow a range",
        {
            "items": with_items(
                OrderCreated, redefine(OrderLine, quantity=tightened(OrderLine, "quantity", le=100))
            )
        },
        "items[].quantity: narrowed: maximum 1000 -> 100",
    ),
    (
        "widen a range",
        {
            "items": with_items(
                OrderCreated,
                redefine(OrderLine, quantity=tightened(OrderLine, "quantity", le=2000)),
            )
        },
        "items[].quantity: widened: maximum 1000 -> 2000",
    ),
    (
        "widen an enum",
        {"event_type": (Literal["ORDER_CREATED", "ORDER_UPDATED"], ...)},
        "eventType: widened",
    ),
    (
        "change a pattern",
        {"order_id": (Annotated[str, Field(pattern=r"^[0-9a-f-]{36}$")], ...)},
        "orderId: pattern changed (compatibility cannot be proven)",
    ),
]


@pytest.mark.parametrize(
    ("kind", "fields", "expected"), EVENT_BREAKS, ids=[c[0] for c in EVENT_BREAKS]
)
def test_each_breaking_change_to_the_event_fails_the_gate(
    monkeypatch: pytest.MonkeyPatch, kind: str, fields: dict[str, Any], expected: str
) -> None:
    found = run_gate_with(monkeypatch, "order_created", redefine(OrderCreated, **fields))
    assert len(found) == 1, found
    assert found[0].startswith("order-created v1 (event) has a breaking change:")
    assert expected in found[0]
    assert "raise schemaVersion to 2 in contracts/events.py" in found[0]
    assert "python -m contracts.gate --release order-created" in found[0]


def test_closing_the_open_event_fails_the_gate(monkeypatch: pytest.MonkeyPatch) -> None:
    found = run_gate_with(
        monkeypatch, "order_created", redefine(OrderCreated, config={"extra": "forbid"})
    )
    assert "(top level): closed an open object" in "".join(found)


def test_a_new_optional_event_field_passes_the_gate(monkeypatch: pytest.MonkeyPatch) -> None:
    added = redefine(OrderCreated, channel=(str | None, None))
    assert run_gate_with(monkeypatch, "order_created", added) == []


REQUEST_BREAKS = [
    ("remove a field", {"customer_id": DROP}, "customerId: removed (or renamed)"),
    (
        "rename a field",
        {"customer_email": DROP, "email": (str, ...)},
        "customerEmail: removed (or renamed)",
    ),
    ("optional -> required", {"customer_id": (str, ...)}, "customerId: optional -> required"),
    (
        "narrow a type",
        {"items": with_items(OrderRequest, redefine(OrderItemRequest, price=(int, ...)))},
        "items[].price: narrowed",
    ),
    (
        "narrow a range",
        {
            "items": with_items(
                OrderRequest,
                redefine(OrderItemRequest, quantity=tightened(OrderItemRequest, "quantity", le=10)),
            )
        },
        "items[].quantity: narrowed: maximum 1000 -> 10",
    ),
    (
        "narrow a length",
        {"customer_name": tightened(OrderRequest, "customer_name", max_length=10)},
        "customerName: narrowed: maxLength 100 -> 10",
    ),
    (
        "narrow an enum",
        {"customer_id": (Literal["CUST-1", "CUST-2"] | None, None)},
        "customerId: narrowed",
    ),
    (
        "add a pattern",
        {
            "items": with_items(
                OrderRequest,
                redefine(
                    OrderItemRequest,
                    product_id=tightened(OrderItemRequest, "product_id", pattern=r"^PROD-"),
                ),
            )
        },
        "items[].productId: narrowed: pattern (none)",
    ),
]


@pytest.mark.parametrize(
    ("kind", "fields", "expected"), REQUEST_BREAKS, ids=[c[0] for c in REQUEST_BREAKS]
)
def test_each_breaking_change_to_the_request_fails_the_gate(
    monkeypatch: pytest.MonkeyPatch, kind: str, fields: dict[str, Any], expected: str
) -> None:
    found = run_gate_with(monkeypatch, "order_request", redefine(OrderRequest, **fields))
    assert len(found) == 1, found
    assert found[0].startswith("order-request v1 (request) has a breaking change:")
    assert expected in found[0]
    assert "Apps built on v1 still send such requests" in found[0]


@pytest.mark.parametrize(
    ("kind", "fields"),
    [
        ("a new optional field", {"channel": (str | None, None)}),
        (
            "a widened range",
            {
                "items": with_items(
                    OrderRequest,
                    redefine(
                        OrderItemRequest, quantity=tightened(OrderItemRequest, "quantity", le=5000)
                    ),
                )
            },
        ),
        (
            "a widened length",
            {"customer_name": tightened(OrderRequest, "customer_name", max_length=200)},
        ),
    ],
)
def test_each_compatible_change_to_the_request_passes_the_gate(
    monkeypatch: pytest.MonkeyPatch, kind: str, fields: dict[str, Any]
) -> None:
    assert run_gate_with(monkeypatch, "order_request", redefine(OrderRequest, **fields)) == []


@pytest.mark.parametrize(
    ("stem", "model", "expected"),
    [
        ("order_accepted", redefine(OrderAccepted, order_id=DROP), "orderId: removed (or renamed)"),
        ("order_accepted", redefine(OrderAccepted, message=(str, ...)), "message: widened"),
        (
            "internal_error",
            redefine(InternalError, request_id=(OrderId, ...)),
            "requestId: narrowed",
        ),
    ],
)
def test_a_breaking_change_to_a_response_fails_the_gate(
    monkeypatch: pytest.MonkeyPatch, stem: str, model: type[BaseModel], expected: str
) -> None:
    found = run_gate_with(monkeypatch, stem, model)
    assert len(found) == 1, found
    assert "(response) has a breaking change:" in found[0]
    assert expected in found[0]
    assert "raise its version to 2 in contracts/published.py" in found[0]


def test_a_new_optional_response_field_passes_the_gate(monkeypatch: pytest.MonkeyPatch) -> None:
    added = redefine(OrderAccepted, links=(dict[str, str] | None, None))
    assert run_gate_with(monkeypatch, "order_accepted", added) == []


@pytest.fixture
def released(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the released files the gate reads instead of the real ones."""
    copy = tmp_path / "released"
    shutil.copytree(published.RELEASED_DIR, copy)
    for module in (published, gate):
        monkeypatch.setattr(module, "RELEASED_DIR", copy)
        monkeypatch.setattr(module, "MANIFEST", copy / "manifest.json")
    return copy


def test_a_released_file_that_changed_fails_the_gate(released: Path) -> None:
    path = released / "order-created" / "v1.schema.json"
    schema = json.loads(path.read_text())
    schema["properties"]["customerName"]["maxLength"] = 10
    path.write_text(json.dumps(schema))
    found = "\n".join(gate.problems())
    assert "order-created/v1.schema.json: changed after it was released" in found
    assert "git checkout --" in found


def test_a_released_file_that_is_missing_or_unrecorded_fails_the_gate(released: Path) -> None:
    (released / "order" / "v1.schema.json").rename(released / "order" / "v2.schema.json")
    found = "\n".join(gate.problems())
    assert "order/v1.schema.json: listed in manifest.json but missing" in found
    assert "v2.schema.json: not in manifest.json" in found
    assert "order: released versions must run from v1 without a gap; found v2" in found


def test_raising_a_version_without_releasing_it_or_skipping_one_fails(
    released: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    raised = {
        "order-accepted": published.Published(
            "order-accepted", "order_accepted", "response", version=2
        ),
        "order": published.Published("order", "order", "response", version=3),
    }
    monkeypatch.setattr(
        gate, "PUBLISHED", tuple(raised.get(c.name, c) for c in published.PUBLISHED)
    )
    found = gate.problems()
    assert (
        "order-accepted is at v2 (its version in contracts/published.py) but v2 is not released: "
        "`python -m contracts.gate --release order-accepted`" in found
    )
    assert (
        "order: v3 skips a number (released: up to v1); set its version in contracts/published.py to 2"
        in found
    )


def test_a_release_is_written_once_and_recorded(
    released: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    contract = published.Published("order-accepted", "order_accepted", "response", version=2)
    monkeypatch.setattr(
        gate,
        "PUBLISHED",
        tuple(contract if c.name == contract.name else c for c in published.PUBLISHED),
    )
    path = gate.release("order-accepted")
    assert path == released / "order-accepted" / "v2.schema.json"
    assert gate.problems() == []  # recorded in the manifest, and the code is at v2
    with pytest.raises(SystemExit, match="already released"):
        gate.release("order-accepted")


def test_every_consumer_must_read_the_version_the_producer_emits() -> None:
    declared = {use.owner: use for use in find_uses()}
    audit = declared["consumers/audit"]
    declared["consumers/audit"] = replace(audit, reads={"order-created": frozenset({2})})
    found = gate.reader_problems(list(declared.values()))
    assert (
        "consumers/audit does not read OrderCreated v1, which the producer emits: add 1 to its "
        "reads in consumers/audit/contract_uses.json (and a stored sample of v1 to its tests)"
        in found
    )
    assert (
        "consumers/audit reads OrderCreated v2, which is not released or has no model in "
        "ORDER_CREATED_MODELS" in found
    )


def test_the_producer_and_readers_are_found_in_their_declarations() -> None:
    declared = {use.owner: use for use in find_uses()}
    assert declared["api"].produces == {"order-created": 1}
    assert declared["consumers/email"].reads == {"order-created": frozenset({1})}
    assert declared["consumers/audit"].reads == {"order-created": frozenset({1})}
    assert gate.reader_problems() == []
    wrong = replace(declared["api"], produces={"order-created": 2})
    assert gate.reader_problems([wrong, declared["consumers/email"]]) == [
        "api/contract_uses.json says it produces order-created v2, but OrderCreated emits v1: "
        "make them agree",
        "consumers/email does not read OrderCreated v2, which the producer emits: add 2 to its "
        "reads in consumers/email/contract_uses.json (and a stored sample of v2 to its tests)",
    ]
    assert gate.reader_problems([declared["consumers/email"]]) == [
        'no package declares "produces": {"order-created": ...} in its contract_uses.json'
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "not a readable JSON file"),
        ('{"reads": {"order-created": [0]}}', "positive integers"),
        ('{"reads": {"order-created": [true]}}', "positive integers"),
        ('{"produces": {"order-created": "1"}}', "the one version it emits"),
        ('{"consumes": {}}', '"produces" and/or "reads"'),
        ("[]", '"produces" and/or "reads"'),
    ],
)
def test_a_bad_declaration_is_named_in_one_line(tmp_path: Path, text: str, message: str) -> None:
    package = tmp_path / "consumers" / "thing"
    package.mkdir(parents=True)
    (package / "contract_uses.json").write_text(text, encoding="utf-8")
    with pytest.raises(BadDeclaration, match=message):
        find_uses(tmp_path)
