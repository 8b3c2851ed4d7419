"""Consumers read every OrderCreated version they declare, from a stored sample of each, and
the producer emits only a version every consumer declares."""

import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from consumers.audit.handler import AuditFunction
from consumers.email.handler import EmailFunction
from consumers.function import ConsumerFunction
from consumers.poison import PoisonMessage, parse_event
from contracts import gate
from contracts.events import ORDER_CREATED_MODELS, OrderCreated, schema_version_of
from contracts.published import PUBLISHED
from contracts.sample_data import SAMPLE_DIR

READERS = (EmailFunction, AuditFunction)
EVENT = next(contract for contract in PUBLISHED if contract.kind == "event")
DECLARED = sorted({(reader, version) for reader in READERS for version in reader.reads}, key=str)


def sample_path(version: int) -> Path:
    return SAMPLE_DIR / f"order_created.v{version}.valid.json"


@pytest.mark.parametrize(("reader", "version"), DECLARED, ids=lambda v: getattr(v, "__name__", v))
def test_each_consumer_reads_a_stored_sample_of_every_version_it_declares(
    reader: type[ConsumerFunction], version: int
) -> None:
    body = sample_path(version).read_text(encoding="utf-8")
    event = parse_event(body, reader.reads)
    assert schema_version_of(type(event)) == version
    assert event.schema_version == version
    released = json.loads(EVENT.released_path(version).read_text(encoding="utf-8"))
    Draft202012Validator(released, format_checker=Draft202012Validator.FORMAT_CHECKER).validate(
        json.loads(body)
    )


def test_the_producer_emits_a_version_every_consumer_declares() -> None:
    emitted = schema_version_of(OrderCreated)
    assert all(emitted in reader.reads for reader in READERS)
    assert emitted in ORDER_CREATED_MODELS
    assert gate.reader_problems() == []


def test_a_version_a_consumer_does_not_declare_is_poison_with_the_reason() -> None:
    event = json.loads(sample_path(1).read_text(encoding="utf-8")) | {"schemaVersion": 7}
    with pytest.raises(PoisonMessage, match="schemaVersion 7 is not one this consumer reads"):
        parse_event(json.dumps(event), frozenset({1}))
    with pytest.raises(PoisonMessage, match="schemaVersion 1 is not one this consumer reads"):
        parse_event(sample_path(1).read_text(encoding="utf-8"), frozenset({2}))
