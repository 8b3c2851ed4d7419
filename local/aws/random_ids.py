"""moto's random ids drawn in one call each: installed in the emulator.

moto builds every answer's request id (52 letters and digits) and every received message's
receipt handle (185 lowercase letters) one character at a time, a call of its random generator
per character. Measured in process (moto 5.2.5): the receipt handles were half of a
``ReceiveMessage`` of 10 messages, the request id a twentieth of a ``PutItem``. Here each is
random bytes from the same seeded generator (``mock_random``, which ``/moto-api/seed`` seeds),
mapped onto the same alphabet at the same length: the letters are not exactly equally likely
(256 is not a multiple of the alphabet's size), which no reader of an id can tell.

Written against moto 5.2.5 (``local.aws.sqs_indexes.check_moto_version`` guards every fix module).
"""

import string
from typing import Any

import moto.core.responses
import moto.sqs.models
from moto.moto_api._internal import mock_random

REQUEST_ID_LENGTH = 52
REQUEST_ID_CHARACTERS = string.ascii_letters + string.digits
RECEIPT_HANDLE_LENGTH = 185
RECEIPT_HANDLE_CHARACTERS = string.ascii_lowercase


def _onto(alphabet: str) -> bytes:
    """A ``bytes.translate`` table from any byte onto ``alphabet``."""
    return bytes(ord(alphabet[byte % len(alphabet)]) for byte in range(256))


_REQUEST_ID_TABLE = _onto(REQUEST_ID_CHARACTERS)
_RECEIPT_HANDLE_TABLE = _onto(RECEIPT_HANDLE_CHARACTERS)


def _draw(length: int, table: bytes) -> str:
    return mock_random.randbytes(length).translate(table).decode("ascii")


def request_id(headerdict: dict[str, Any] | None = None) -> str:
    """moto's ``gen_amzn_requestid_long``, which also sets the answer's header."""
    drawn = _draw(REQUEST_ID_LENGTH, _REQUEST_ID_TABLE)
    if isinstance(headerdict, dict):
        headerdict["x-amzn-requestid"] = drawn
    return drawn


def receipt_handle() -> str:
    """moto's ``generate_receipt_handle``."""
    return _draw(RECEIPT_HANDLE_LENGTH, _RECEIPT_HANDLE_TABLE)


_moto_own = (
    moto.core.responses.gen_amzn_requestid_long,  # type: ignore[attr-defined]
    moto.sqs.models.generate_receipt_handle,  # type: ignore[attr-defined]
)


def install(on: bool = True) -> None:
    """``on=False`` puts moto's own back (a benchmark's baseline)."""
    requests, receipts = (request_id, receipt_handle) if on else _moto_own
    moto.core.responses.gen_amzn_requestid_long = requests  # type: ignore[attr-defined]
    moto.sqs.models.generate_receipt_handle = receipts  # type: ignore[attr-defined]
