"""``Idempotency-Key``: a retried request returns the first answer and never makes a second order.

No table of its own and no second call: the order id is derived from the key (and the caller's
API key id, so two callers' keys never meet), and the request's fingerprint is stored on the
order item itself. The one conditional ``PutItem`` that stores the order then settles a repeat
in the same call: when the id is taken, ``ReturnValuesOnConditionCheckFailure=ALL_OLD`` hands
back the stored item, whose fingerprint tells a replay (same body: the first answer) from a
conflict (another body: 422). The order item is also the outbox (its stream record becomes the
event), so a key can never produce a second event either.
"""

import hashlib
import re
import uuid

_KEY = re.compile(r"[\x21-\x7e]{1,255}")


def is_valid_key(key: str) -> bool:
    return _KEY.fullmatch(key) is not None


def request_hash(canonical_request: str) -> str:
    """Fingerprint of a validated request: equal requests, however formatted, hash alike."""
    return hashlib.sha256(canonical_request.encode("utf-8")).hexdigest()


def order_id_for_key(key: str, caller: str) -> str:
    """The order id a key stands for: name-based, shaped as a UUID4 (the contract's id pattern).

    A SHA-256 over the caller and the key with the version and variant bits of a UUID4 set: as
    collision-free as a random UUID4 for distinct inputs, and the same for the same ones.
    """
    digest = hashlib.sha256(f"order-id\n{caller}\n{key}".encode()).digest()
    return str(uuid.UUID(bytes=digest[:16], version=4))
