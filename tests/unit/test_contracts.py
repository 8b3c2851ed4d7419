"""The committed JSON Schemas agree with the models, and the stored samples with both."""

import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from pydantic import ValidationError

from contracts import openapi, schemas
from contracts.events import OrderCreated
from contracts.sample_data import sample, sample_text
from contracts.types import format_money, format_timestamp


def validator(name: str) -> Draft202012Validator:
    schema = schemas.load(name)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


@pytest.mark.parametrize("name", sorted(schemas.SCHEMAS))
def test_committed_schema_matches_its_model(name: str) -> None:
    committed = schemas.path_of(name).read_text(encoding="utf-8")
    assert committed == schemas.dump(schemas.render(name)), (
        f"{name} drifted from its model: run python -m contracts.schemas --write "
        "(and raise schemaVersion if the change is breaking)"
    )


def test_drift_check_notices_an_edited_file(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in schemas.SCHEMAS:
        (tmp_path / schemas.path_of(name).name).write_text(schemas.dump(schemas.render(name)))
    monkeypatch.setattr(schemas, "SCHEMA_DIR", tmp_path)
    assert schemas.drifted() == []
    edited = schemas.render("order_created")
    edited["required"].remove("customerEmail")
    (tmp_path / "order_created.schema.json").write_text(schemas.dump(edited))
    assert schemas.drifted() == ["order_created"]
    assert schemas.main(["--check"]) == 1


def test_the_committed_openapi_document_matches_the_models() -> None:
    assert openapi.PATH.read_text(encoding="utf-8") == openapi.render(), (
        "contracts/openapi.yaml drifted from the models: run python -m contracts.openapi --write"
    )
    assert openapi.main(["--check"]) == 0


def test_every_schema_declares_draft_2020_12() -> None:
    for name in schemas.SCHEMAS:
        assert schemas.load(name)["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_valid_event_sample_passes_schema_and_model() -> None:
    event = sample("order_created.v1.valid.json")
    validator("order_created").validate(event)
    parsed = OrderCreated.model_validate_json(sample_text("order_created.v1.valid.json"))
    assert json.loads(parsed.model_dump_json(by_alias=True)) == event


@pytest.mark.parametrize("case", sample("order_created.v1.invalid.json"), ids=lambda c: c["name"])
def test_invalid_event_samples_fail_schema_and_model(case: dict[str, Any]) -> None:
    raw = case.get("raw") or json.dumps(case["event"])
    with pytest.raises(ValidationError):
        OrderCreated.model_validate_json(raw)
    if "event" in case:
        assert not validator("order_created").is_valid(case["event"])


def test_request_samples_match_the_request_schema() -> None:
    request_schema = validator("order_request")
    request_schema.validate(sample("order_request.spec_example.json"))
    for case in sample("order_requests.invalid.json"):
        if case["name"] != "wrong total":  # a cross-field rule JSON Schema cannot express
            assert not request_schema.is_valid(case["body"]), case["name"]


def test_money_formats_any_size_exactly() -> None:
    assert format_money(Decimal("5")) == "5.00"
    assert format_money(Decimal("1E+2")) == "100.00"
    assert format_money(Decimal("0.1") + Decimal("0.2")) == "0.30"
    huge = Decimal("9" * 40 + ".99")
    assert format_money(huge) == "9" * 40 + ".99"


def test_money_strings_are_bounded_in_events() -> None:
    event = sample("order_created.v1.valid.json") | {"totalAmount": "1" * 13 + ".00"}
    with pytest.raises(ValidationError):
        OrderCreated.model_validate(event)


@settings(max_examples=50)
@given(st.decimals(min_value=0, max_value=10**9, places=2))
def test_money_strings_round_trip(value: Any) -> None:
    assert format_money(value).count(".") == 1
    event = sample("order_created.v1.valid.json") | {"totalAmount": format_money(value)}
    assert OrderCreated.model_validate(event).total_amount == value


def test_timestamps_are_utc_with_z() -> None:
    from datetime import datetime, timedelta, timezone

    local = datetime(2026, 11, 25, 3, 22, 57, 123456, tzinfo=timezone(timedelta(hours=1)))
    assert format_timestamp(local) == "2026-11-25T02:22:57.123Z"
