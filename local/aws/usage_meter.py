"""What each AWS call the emulator serves would be billed for, counted as it is served.

AWS bills the pipeline's data services per request, but a request is not always one call:

- DynamoDB on demand bills write request units of 1 KB of item (the larger of the item before
  and after the write; a conditional write that fails still costs the existing item's units, at
  least one) and read request units of 4 KB (half for an eventually consistent read; a read that
  finds nothing still costs one unit). Every global secondary index the item is in, before or
  after, costs a write of its projection. Item sizes follow AWS's rules ("Item sizes and
  formats" in the DynamoDB developer guide), computed from the items moto holds, before and
  after the call. A BatchWriteItem bills each of its puts and deletes as that single write
  would (moto leaves none unprocessed), in the row of the item's table; a request naming two
  tables counts as a request in each one's row. Transactions and batch reads count as requests only: the
  pipeline makes none.
- SQS and SNS bill a request per 64 KB chunk of payload. A receive that returns nothing is billed
  like any other.

Only the counting reads moto's tables (``moto.dynamodb``, 5.2.5: ``Table.get_item``,
``hash_key_attr``, ``range_key_attr``, ``global_indexes``); nothing here changes an answer.
``GET /_emulator/usage`` (``local.aws.server``) answers the counts so far.
"""

import base64
import binascii
import functools
import json
import math
import re
from dataclasses import asdict, dataclass
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import unquote_plus

from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.dynamodb.models import dynamodb_backends
from moto.dynamodb.models.dynamo_type import DynamoType

KB = 1024
WRITE_UNIT_BYTES = KB
READ_UNIT_BYTES = 4 * KB
CHUNK_BYTES = 64 * KB
# DynamoDB bills the storage of an item, and of its copy in each index, as its size plus 100.
STORAGE_OVERHEAD_BYTES = 100
# Overhead DynamoDB counts for a list or a map, and per element of one.
CONTAINER_BYTES = 3
ELEMENT_BYTES = 1

Item = dict[str, dict[str, Any]]  # DynamoDB's wire format: {"name": {"S": "value"}}


@functools.lru_cache(maxsize=4096)
def number_size(text: str) -> int:
    """A number: one byte per two significant digits, plus one (remembered: the same prices
    and quantities come again and again, and ``Decimal`` is slow to ask)."""
    try:
        digits = Decimal(text).normalize().as_tuple().digits
    except InvalidOperation:
        return len(text)
    significant = len(digits) if any(digits) else 1
    return math.ceil(significant / 2) + 1


def _binary_size(value: str) -> int:
    try:
        return len(base64.b64decode(value, validate=True))
    except (binascii.Error, ValueError):
        return len(value.encode())


def attribute_size(value: dict[str, Any]) -> int:
    """The size DynamoDB counts for one attribute value, in its wire format."""
    kind, content = next(iter(value.items()))
    if kind == "S":
        return len(str(content).encode())
    if kind == "N":
        return number_size(str(content))
    if kind == "B":
        return _binary_size(str(content))
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(str(member).encode()) for member in content)
    if kind == "NS":
        return sum(number_size(str(member)) for member in content)
    if kind == "BS":
        return sum(_binary_size(str(member)) for member in content)
    if kind == "L":
        return CONTAINER_BYTES + sum(ELEMENT_BYTES + attribute_size(v) for v in content)
    if kind == "M":
        return CONTAINER_BYTES + sum(
            ELEMENT_BYTES + len(name.encode()) + attribute_size(v) for name, v in content.items()
        )
    return len(json.dumps(content).encode())


def item_size(item: Item | None) -> int:
    """An item's size: every attribute's name (UTF-8) and value."""
    if not item:
        return 0
    return sum(len(name.encode()) + attribute_size(value) for name, value in item.items())


def write_units(size: int) -> int:
    return max(1, math.ceil(size / WRITE_UNIT_BYTES))


def read_units(size: int, consistent: bool) -> float:
    units = max(1, math.ceil(size / READ_UNIT_BYTES))
    return float(units) if consistent else units / 2


def chunks(payload_bytes: int) -> int:
    return max(1, math.ceil(payload_bytes / CHUNK_BYTES))


@dataclass
class Usage:
    """The billable units of one ``service.Action``, summed over its calls."""

    requests: int = 0
    billed_requests: int = 0  # 64 KB chunks for SQS and SNS, else requests
    write_units: float = 0.0
    read_units: float = 0.0
    index_write_units: float = 0.0
    empty_receives: int = 0
    messages: int = 0  # published, sent or received
    stored_bytes: int = 0  # DynamoDB: what the table's billed storage grew by (or shrank)
    index_stored_bytes: int = 0  # ... and its global secondary indexes'


_WRITES = {"PutItem", "UpdateItem", "DeleteItem"}
_READS = {"GetItem", "Query", "Scan"}


_APP_ID = re.compile(r"(?:^| )app/([A-Za-z0-9._:-]+)")


@functools.lru_cache(maxsize=256)
def caller_of(user_agent: str) -> str:
    """Who made a call: the ``app/`` id in its User-Agent (the local stack sets
    ``AWS_SDK_UA_APP_ID`` to each function's name and to ``event-source-mapping`` for its
    pollers), else ``other``."""
    found = _APP_ID.search(user_agent)
    return found.group(1) if found else "other"


# Read with a pattern, not a parse: the meter runs on every call the emulator serves.
_JSON_FIELD = {
    "sqs": re.compile(rb'"QueueUrl"\s*:\s*"([^"]*)"'),
    "dynamodb": re.compile(rb'"TableName"\s*:\s*"([^"]*)"'),
    "dynamodbstreams": re.compile(rb'"StreamArn"\s*:\s*"([^"]*)"'),
}
_TOPIC = re.compile(rb"(?:^|&)TopicArn=([^&]*)")


def resource_of(service: str, body: bytes) -> str:
    """The table, queue or topic a call is about, by name."""
    if service == "sns":
        found = _TOPIC.search(body)
        return (
            unquote_plus(found.group(1).decode(errors="replace")).rpartition(":")[2]
            if found
            else ""
        )
    pattern = _JSON_FIELD.get(service)
    found = pattern.search(body) if pattern is not None else None
    if found is None:
        return ""
    value = found.group(1).decode(errors="replace")
    if service == "sqs":
        return value.rstrip("/").rpartition("/")[2]
    if service == "dynamodbstreams":  # arn:...:table/NAME/stream/...; GetRecords names none
        parts = value.split("/")
        return parts[1] if len(parts) > 1 else ""
    return value


class UsageMeter:
    """Counts, by caller, ``service.Action`` and resource, what AWS would bill for the calls
    the emulator serves."""

    def __init__(self, account_id: str = DEFAULT_ACCOUNT_ID):
        self._account = account_id
        self.usage: dict[tuple[str, str, str], Usage] = {}

    def as_json(self) -> list[dict[str, Any]]:
        return [
            {"caller": caller, "call": call, "resource": resource, **asdict(usage)}
            for (caller, call, resource), usage in sorted(self.usage.items())
        ]

    def _table(self, region: str, body: dict[str, Any]) -> Any:
        try:
            return dynamodb_backends[self._account][region].get_table(body["TableName"])
        except Exception:  # an unknown table: moto answers it; nothing to count
            return None

    def _stored(self, table: Any, item: Item) -> Item | None:
        """The item moto holds under ``item``'s key, in the wire format."""
        try:
            hash_key = DynamoType(item[table.hash_key_attr])
            range_key = DynamoType(item[table.range_key_attr]) if table.range_key_attr else None
            found = table.get_item(hash_key, range_key)
        except Exception:  # a key moto will refuse in its answer
            return None
        return None if found is None else found.to_json()["Attributes"]

    def before(self, service: str, action: str, region: str, body: bytes) -> Any:
        """What a write needs from before the call: the item it replaces."""
        if service != "dynamodb":
            return None
        if action == "BatchWriteItem":
            return self._batch_before(region, body)
        if action not in _WRITES:
            return None
        request = _json(body)
        table = self._table(region, request)
        key = request.get("Item") or request.get("Key")
        if table is None or not isinstance(key, dict):
            return None
        return table, request, self._stored(table, key)

    def _batch_before(self, region: str, body: bytes) -> "list[BatchWrite] | None":
        requests = _json(body).get("RequestItems")
        if not isinstance(requests, dict):
            return None
        writes = []
        for name, table_writes in requests.items():
            table = self._table(region, {"TableName": name})
            if table is None or not isinstance(table_writes, list):
                continue
            for write in table_writes:
                if not isinstance(write, dict):
                    continue
                put, delete = write.get("PutRequest"), write.get("DeleteRequest")
                item = put.get("Item") if isinstance(put, dict) else None
                key = item
                if key is None and isinstance(delete, dict):
                    key = delete.get("Key")
                if isinstance(key, dict):
                    writes.append(BatchWrite(name, table, key, item, self._stored(table, key)))
        return writes or None  # none known: counted as a request, like any other call

    def after(
        self,
        service: str,
        action: str,
        status: int,
        body: bytes,
        answer: bytes,
        before: Any,
        user_agent: str = "",
    ) -> None:
        if action == "BatchWriteItem" and service == "dynamodb" and before is not None:
            self._count_batch(caller_of(user_agent), status, before)
            return
        key = (caller_of(user_agent), f"{service}.{action}", resource_of(service, body))
        usage = self.usage.setdefault(key, Usage())
        usage.requests += 1
        if service == "sqs":
            usage.billed_requests += chunks(max(len(body), len(answer)))
            self._count_messages(usage, action, body, answer)
        elif service == "sns":
            usage.billed_requests += chunks(len(body))
            if status < 300:
                usage.messages += body.count(b".Id=") if action == "PublishBatch" else 1
        else:
            usage.billed_requests += 1
        if service == "dynamodb":
            if before is not None:
                self._count_write(usage, action, status, before)
            elif action in _READS and status < 300:
                self._count_read(usage, action, body, answer)

    def _count_messages(self, usage: Usage, action: str, body: bytes, answer: bytes) -> None:
        if action == "ReceiveMessage":
            received = answer.count(b'"ReceiptHandle"')
            usage.messages += received
            usage.empty_receives += received == 0
        elif action == "SendMessage":
            usage.messages += 1
        elif action == "SendMessageBatch":
            usage.messages += len(_json(body).get("Entries") or [])

    def _count_batch(self, caller: str, status: int, writes: "list[BatchWrite]") -> None:
        counted: set[str] = set()
        for write in writes:
            key = (caller, "dynamodb.BatchWriteItem", write.table_name)
            usage = self.usage.setdefault(key, Usage())
            if write.table_name not in counted:
                counted.add(write.table_name)
                usage.requests += 1
                usage.billed_requests += 1
            if status < 300:  # a refused batch wrote nothing and consumed nothing
                self._count_sizes(usage, write.table, write.old, write.item, status)

    def _count_write(self, usage: Usage, action: str, status: int, before: Any) -> None:
        table, request, old = before
        key = request.get("Item") or request.get("Key") or {}
        new = None
        if status < 300:
            new = request["Item"] if action == "PutItem" else self._stored(table, key)
        self._count_sizes(usage, table, old, new, status)

    def _count_sizes(
        self, usage: Usage, table: Any, old: Item | None, new: Item | None, status: int
    ) -> None:
        # Each size once: the meter runs on every write the emulator serves.
        old_size, new_size = _size_of(old), _size_of(new)
        usage.write_units += write_units(max(old_size or 0, new_size or 0))
        if status >= 300:
            return  # a failed condition wrote nothing: no index changed
        usage.stored_bytes += _stored(new_size) - _stored(old_size)
        for index in table.global_indexes:
            old_copy, new_copy = (
                _size_of(_projected(index, table, item))
                if item and _in_index(index, item)
                else None
                for item in (old, new)
            )
            if old_copy is not None or new_copy is not None:
                usage.index_write_units += write_units(max(old_copy or 0, new_copy or 0))
            usage.index_stored_bytes += _stored(new_copy) - _stored(old_copy)

    def _count_read(self, usage: Usage, action: str, body: bytes, answer: bytes) -> None:
        request, response = _json(body), _json(answer)
        consistent = bool(request.get("ConsistentRead"))
        if action == "GetItem":
            size = item_size(response.get("Item"))
        else:
            size = sum(item_size(item) for item in response.get("Items") or [])
        usage.read_units += read_units(size, consistent)


@dataclass(frozen=True)
class BatchWrite:
    """One put (``item``) or delete (``item`` None) of a BatchWriteItem, before it ran."""

    table_name: str
    table: Any
    key: Item  # the put's whole item, or the delete's key
    item: Item | None
    old: Item | None


def stored_size(item: Item | None) -> int:
    """What an item (or its copy in an index) adds to the storage DynamoDB bills."""
    return _stored(_size_of(item))


def _size_of(item: Item | None) -> int | None:
    """An item's size, None for no item (a size of 0 is an empty item, stored all the same)."""
    return None if item is None else item_size(item)


def _stored(size: int | None) -> int:
    return 0 if size is None else size + STORAGE_OVERHEAD_BYTES


def _in_index(index: Any, item: Item) -> bool:
    return all(name in item for name in index.schema_key_attrs)


def _projected(index: Any, table: Any, item: Item) -> Item:
    projection = (index.projection or {}).get("ProjectionType", "ALL")
    if projection == "ALL":
        return item
    kept = set(index.schema_key_attrs) | {table.hash_key_attr, table.range_key_attr}
    if projection == "INCLUDE":
        kept |= set(index.projection.get("NonKeyAttributes", []))
    return {name: value for name, value in item.items() if name in kept}


def _json(data: bytes) -> dict[str, Any]:
    try:
        parsed = json.loads(data or b"{}")
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}
