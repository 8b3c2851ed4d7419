"""moto's name conversions remembered: installed in the emulator.

moto's SQS reads a queue's attributes on every ``SendMessage`` (to learn whether the queue
deduplicates by content), and builds that dict by converting each of its ~14 attribute names
from CamelCase to snake_case, character by character, every time. Measured in process (moto
5.2.5): over half of an SNS ``Publish`` that fans out to two queues went there. The conversion
depends on the name alone, so each name is converted once.

Written against moto 5.2.5 (``local.aws.sqs_indexes.check_moto_version`` guards every fix module).
"""

import functools

import moto.sqs.models
from moto.core.utils import camelcase_to_underscores

MAX_NAMES = 1024

_remembered = functools.lru_cache(maxsize=MAX_NAMES)(camelcase_to_underscores)


def install(on: bool = True) -> None:
    """``on=False`` puts moto's own back (a benchmark's baseline)."""
    moto.sqs.models.camelcase_to_underscores = _remembered if on else camelcase_to_underscores  # type: ignore[attr-defined]
