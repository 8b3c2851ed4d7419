"""moto's DynamoDB Streams with a bounded set of shard iterators: installed in the emulator.

moto 5.2 keeps every shard iterator it ever issued, in a dict that nothing prunes: each
``GetRecords`` issues the next one (a 630-character id), and a stream poller asks four times a
second, so an idle ``orders up`` grew by ~14,000 iterators an hour. An unknown iterator then
failed with a ``KeyError``, a 500 without a word of why.

AWS lets an iterator live 15 minutes. Here the most recent ``MAX_ITERATORS`` are kept (a
poller uses only its latest), and an iterator that is no longer known is answered as AWS
answers an old one: ``ExpiredIteratorException`` (400), after which a reader asks for a new
iterator from its position. Every other answer is moto's.

Written against moto 5.2.5 (``local.aws.sqs_indexes.check_moto_version`` guards both modules).
"""

from collections import OrderedDict
from typing import Any

from moto.dynamodb.exceptions import ERROR_TYPE_PREFIX, DynamodbException
from moto.dynamodbstreams.models import DynamoDBStreamsBackend, ShardIterator

MAX_ITERATORS = 1000


class ExpiredIterator(DynamodbException):
    def __init__(self) -> None:
        super().__init__(
            ERROR_TYPE_PREFIX + "ExpiredIteratorException",
            "Iterator expired: ask GetShardIterator for a new one from your position",
        )


class BoundedIterators(OrderedDict[str, ShardIterator]):
    """The latest ``MAX_ITERATORS`` shard iterators; setting one makes it the newest."""

    def __setitem__(self, key: str, value: ShardIterator) -> None:
        super().__setitem__(key, value)
        self.move_to_end(key)
        while len(self) > MAX_ITERATORS:
            self.popitem(last=False)


_original_init = DynamoDBStreamsBackend.__init__


def _init(self: DynamoDBStreamsBackend, region_name: str, account_id: str) -> None:
    _original_init(self, region_name, account_id)
    self.shard_iterators = BoundedIterators()


def _get_records(self: DynamoDBStreamsBackend, iterator_arn: str, limit: int) -> dict[str, Any]:
    shard_iterator = self.shard_iterators.get(iterator_arn)
    if shard_iterator is None:
        raise ExpiredIterator()
    result: dict[str, Any] = shard_iterator.get(limit)
    return result


def install() -> None:
    DynamoDBStreamsBackend.__init__ = _init  # type: ignore[method-assign]
    DynamoDBStreamsBackend.get_records = _get_records  # type: ignore[method-assign]
