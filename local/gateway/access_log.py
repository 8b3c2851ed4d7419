"""API Gateway's access log for the local front: one JSON line per request, in the format the
stage writes (``cfn/api.yaml``, ``AccessLogSetting.Format``), to ``access.log`` beside the
functions' log. On AWS these lines are CloudWatch Logs ingestion like the functions' own, so
the cost model counts their bytes (``load.cost``)."""

import json
import time
import uuid
from pathlib import Path
from typing import IO

from local.gateway.proxy_event import request_time

ACCESS_LOG_FILE = "access.log"


class AccessLog:
    """Appends one line per request; a line is written whole, then flushed, so a reader of the
    file's size sees every answered request."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[bytes] = path.open("ab")

    def write(
        self,
        *,
        request_id: str | None,
        ip: str,
        method: str,
        resource: str,
        status: int,
        response_length: int,
        latency_ms: float,
        integration_ms: float | None,
        error: str | None,
    ) -> None:
        # $context variables API Gateway has no value for are written as "-", as it does.
        record = {
            "requestId": request_id or str(uuid.uuid4()),
            "ip": ip,
            "requestTime": request_time(time.time()),
            "httpMethod": method,
            "resourcePath": resource,
            "status": str(status),
            "responseLength": str(response_length),
            "latency": str(round(latency_ms)),
            "integrationLatency": "-" if integration_ms is None else str(round(integration_ms)),
            "errorMessage": error or "-",
        }
        self._file.write(json.dumps(record, separators=(",", ":")).encode() + b"\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()
