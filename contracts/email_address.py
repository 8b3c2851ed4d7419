"""Customer email addresses: RFC 5322 syntax checked by ``email-validator``, no DNS look-ups."""

from typing import Annotated

from email_validator import EmailNotValidError, validate_email
from pydantic import AfterValidator, StringConstraints, WithJsonSchema
from pydantic_core import PydanticCustomError

from contracts.client_rules import MESSAGES


def _validate_email(value: str) -> str:
    try:
        checked = validate_email(value, check_deliverability=False, strict=True)
    except EmailNotValidError as exc:
        raise PydanticCustomError("email", MESSAGES["email"], {"reason": str(exc)}) from None
    return checked.normalized


EMAIL_PATTERN = r"^[^@\s]{1,64}@[^@\s.]+(\.[^@\s.]+)+$"
_EMAIL_SCHEMA = {"type": "string", "format": "email", "maxLength": 254, "pattern": EMAIL_PATTERN}

# What the API accepts from a client: full RFC 5322 syntax, by email-validator.
EmailAddress = Annotated[str, AfterValidator(_validate_email), WithJsonSchema(_EMAIL_SCHEMA)]

# What a published contract promises (events, stored views): exactly its schema, no more, so a
# consumer never refuses an event that the schema allows. The API's check is stricter than this.
ContractEmail = Annotated[
    str, StringConstraints(max_length=254, pattern=EMAIL_PATTERN), WithJsonSchema(_EMAIL_SCHEMA)
]


def mask_email(address: str) -> str:
    """``john.doe@example.com`` → ``j***@example.com``: how an address may appear in logs."""
    local, sep, domain = address.rpartition("@")
    if not sep:
        return "***"
    return f"{local[:1]}***@{domain}"
