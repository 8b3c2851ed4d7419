"""moto's response serializer with members' keys looked up once per structure shape
(``local.aws.response_keys``) writes every answer as moto's own walk does: generated stream
records (items of any nesting) and received messages, byte for byte."""

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from moto.core.serialize import JSONSerializer, XFormedAttributePicker
from moto.core.utils import get_service_model

from local.aws import response_keys
from tests.unit.test_json_requests import items


def serialized(service: str, operation: str, result: Any, on: bool) -> Any:
    response_keys.install(on)
    try:
        model = get_service_model(service).operation_model(operation)
        serializer = JSONSerializer(model, value_picker=XFormedAttributePicker())
        try:
            return serializer.serialize(result)["body"]
        except Exception as exc:  # the failure itself is compared
            return type(exc)
    finally:
        response_keys.install(False)


def both(service: str, operation: str, result: Any) -> tuple[Any, Any]:
    return (
        serialized(service, operation, result, True),
        serialized(service, operation, result, False),
    )


@settings(max_examples=50, deadline=None)
@given(images=st.lists(items, min_size=1, max_size=4), extra=st.booleans())
def test_stream_records_are_written_as_moto_writes_them(
    images: list[dict[str, Any]], extra: bool
) -> None:
    records = [
        {
            "eventID": f"e{n}",
            "eventName": "INSERT",
            "eventSource": "aws:dynamodb",
            "awsRegion": "us-east-1",
            "dynamodb": {
                "Keys": {"OrderId": {"S": str(n)}},
                "NewImage": image,
                "SequenceNumber": str(n),
                "SizeBytes": 10 + n,
                "StreamViewType": "NEW_IMAGE",
                **({"Unknown": "dropped", "OldImage": None} if extra else {}),
            },
        }
        for n, image in enumerate(images)
    ]
    ours, moto_own = both(
        "dynamodbstreams", "GetRecords", {"Records": records, "NextShardIterator": "i"}
    )
    assert ours == moto_own


def test_received_messages_are_written_as_moto_writes_them() -> None:
    messages = [
        {
            "MessageId": f"m{n}",
            "ReceiptHandle": "h" * 20,
            "MD5OfBody": "0" * 32,
            "Body": '{"orderId": "o"}',
            "Attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1790000000000"},
            "MessageAttributes": {
                "eventType": {"DataType": "String", "StringValue": "OrderCreated"}
            },
        }
        for n in range(3)
    ]
    ours, moto_own = both("sqs", "ReceiveMessage", {"Messages": messages})
    assert ours == moto_own
    assert b"OrderCreated" in (ours if isinstance(ours, bytes) else str(ours).encode())


def test_values_that_are_not_plain_dicts_go_through_moto() -> None:
    class Record:
        event_id = "e"
        event_name = "INSERT"

    ours, moto_own = both("dynamodbstreams", "GetRecords", {"Records": [Record()]})
    assert ours == moto_own
