"""API Gateway REST proxy events, built the way API Gateway builds them for a Lambda proxy
integration, so the local HTTP front and the tests invoke the real handler with a real shape."""

import base64
import time
import uuid
from typing import Any

ROUTES = ("/order", "/order/{orderId}")


def request_time(epoch: float) -> str:
    """API Gateway's ``$context.requestTime``: CLF format, UTC."""
    return time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(epoch))


def match_resource(path: str) -> tuple[str | None, dict[str, str] | None]:
    parts = path.strip("/").split("/")
    if parts == ["order"]:
        return "/order", None
    if len(parts) == 2 and parts[0] == "order" and parts[1]:
        return "/order/{orderId}", {"orderId": parts[1]}
    return None, None


def proxy_event(
    method: str,
    path: str,
    body: str | bytes | None = None,
    headers: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
    request_id: str | None = None,
    source_ip: str = "127.0.0.1",
    stage: str = "dev",
) -> dict[str, Any]:
    resource, path_parameters = match_resource(path)
    all_headers = {"Host": "localhost", "User-Agent": "order-pipeline-local", **(headers or {})}
    is_binary = isinstance(body, bytes)
    text = base64.b64encode(body).decode("ascii") if isinstance(body, bytes) else body
    now = time.time()
    request_id = request_id or str(uuid.uuid4())
    return {
        "resource": resource or path,
        "path": path,
        "httpMethod": method.upper(),
        "headers": all_headers,
        "multiValueHeaders": {name: [value] for name, value in all_headers.items()},
        "queryStringParameters": query or None,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} if query else None,
        "pathParameters": path_parameters,
        "stageVariables": None,
        "requestContext": {
            "resourceId": "local",
            "resourcePath": resource or path,
            "httpMethod": method.upper(),
            "extendedRequestId": request_id,
            "requestTime": request_time(now),
            "path": f"/{stage}{path}",
            "accountId": "123456789012",
            "protocol": "HTTP/1.1",
            "stage": stage,
            "domainPrefix": "localhost",
            "requestTimeEpoch": int(now * 1000),
            "requestId": request_id,
            "identity": {"sourceIp": source_ip, "userAgent": all_headers["User-Agent"]},
            "domainName": "localhost",
            "apiId": "local",
        },
        "body": text,
        "isBase64Encoded": is_binary,
    }
