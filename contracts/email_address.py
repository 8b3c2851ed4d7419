"""Customer email addresses: RFC 5322 syntax checked by ``email-validator``, no DNS look-ups."""

from typing import Annotated

from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator, WithJsonSchema
from pydantic_core import PydanticCustomError


def _validate_email(value: str) -> str:
    try:
        checked = validate_email(value, check_deliverability=False, strict=True)
    except EmailNotValidError as exc:
        raise PydanticCustomError(
            "email", "is not a valid email address: {reason}", {"reason": str(exc)}
        ) from None
    return checked.normalized


EmailAddress = Annotated[
    str,
    AfterValidator(_validate_email),
    # JSON Schema cannot say all of RFC 5322; the pattern keeps non-Python consumers close.
    WithJsonSchema(
        {
            "type": "string",
            "format": "email",
            "maxLength": 254,
            "pattern": r"^[^@\s]{1,64}@[^@\s.]+(\.[^@\s.]+)+$",
        }
    ),
]


def mask_email(address: str) -> str:
    """``john.doe@example.com`` → ``j***@example.com``: how an address may appear in logs."""
    local, sep, domain = address.rpartition("@")
    if not sep:
        return "***"
    return f"{local[:1]}***@{domain}"
