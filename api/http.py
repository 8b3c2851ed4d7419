"""API Gateway REST proxy events in, proxy responses out: everything HTTP-shaped lives here."""

import base64
import binascii
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from contracts.api import ErrorResponse

MAX_BODY_BYTES = 10 * 1024
JSON_MEDIA_TYPE = "application/json"
ALLOWED_HEADERS = "Content-Type,Idempotency-Key,X-Api-Key,X-Amz-Date,Authorization"


@dataclass(frozen=True)
class ProxyRequest:
    """The parts of an API Gateway REST proxy event this API reads.

    Read by hand rather than through Powertools' ``APIGatewayProxyEvent``: importing Powertools'
    ``data_classes`` package loads every event type it knows, ~38 ms of each cold start, for
    what is a handful of dictionary reads here.
    """

    method: str
    path: str
    resource: str | None
    path_parameters: dict[str, str]
    headers: dict[str, str]  # names lower-cased: HTTP header names are case-insensitive
    body: str | None
    is_base64_encoded: bool
    # Who is calling: API Gateway's id of the request's API key ("" without one). It scopes
    # Idempotency-Keys, so two callers' keys never name the same order.
    caller: str = ""

    @classmethod
    def from_event(cls, event: dict[str, Any]) -> "ProxyRequest":
        headers = event.get("headers") or {}
        params = event.get("pathParameters") or {}
        body = event.get("body")
        identity = (event.get("requestContext") or {}).get("identity") or {}
        caller = identity.get("apiKeyId") if isinstance(identity, dict) else None
        return cls(
            method=str(event.get("httpMethod") or "").upper(),
            path=str(event.get("path") or ""),
            resource=event.get("resource") if isinstance(event.get("resource"), str) else None,
            path_parameters={str(k): str(v) for k, v in params.items()},
            headers={str(k).lower(): str(v) for k, v in headers.items() if v is not None},
            body=body if isinstance(body, str) else None,
            is_base64_encoded=bool(event.get("isBase64Encoded")),
            caller=caller if isinstance(caller, str) else "",
        )

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


class HttpError(Exception):
    """A request the API answers with an error status, without reaching the order logic."""

    def __init__(
        self, status: int, error: str, message: str, headers: dict[str, str] | None = None
    ):
        super().__init__(message)
        self.status = status
        self.body = ErrorResponse(error=error, message=message)
        self.headers = headers or {}


def cors_headers(allow_origin: str) -> dict[str, str]:
    return {
        "Access-Control-Allow-Origin": allow_origin,
        "Access-Control-Allow-Headers": ALLOWED_HEADERS,
        "Access-Control-Allow-Methods": "GET,POST,OPTIONS",
    }


def json_response(
    status: int,
    body: BaseModel | str | None,
    cors: dict[str, str],
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A proxy response; ``body`` is a contract model, or JSON text already serialised."""
    text = body.model_dump_json(by_alias=True) if isinstance(body, BaseModel) else body
    all_headers = {"Content-Type": JSON_MEDIA_TYPE, **cors, **(headers or {})}
    return {
        "statusCode": status,
        "headers": all_headers,
        "body": text or "",
        "isBase64Encoded": False,
    }


def _is_json_media_type(content_type: str | None) -> bool:
    if not content_type:
        return False
    media_type, *params = (part.strip() for part in content_type.split(";"))
    if media_type.lower() != JSON_MEDIA_TYPE:
        return False
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip('"').lower() not in (
            "utf-8",
            "utf8",
        ):
            return False
    return True


def json_body_bytes(request: ProxyRequest) -> bytes:
    """The raw request body, after the checks API Gateway and this API make before parsing it."""
    raw = request.body
    if request.is_base64_encoded and raw is not None:
        try:
            body = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            raise HttpError(400, "Bad request", "Request body is not valid base64") from None
    else:
        try:
            body = (raw or "").encode("utf-8")
        except UnicodeEncodeError:
            raise HttpError(400, "Bad request", "Request body is not valid UTF-8") from None
    if len(body) > MAX_BODY_BYTES:
        raise HttpError(
            413,
            "Payload too large",
            f"Request body is {len(body)} bytes; the limit is {MAX_BODY_BYTES}",
        )
    content_type = request.header("Content-Type")
    if not _is_json_media_type(content_type):
        raise HttpError(
            415,
            "Unsupported media type",
            "Content-Type must be application/json (charset utf-8 if given)",
        )
    return body
