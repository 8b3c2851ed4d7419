"""The locust side of the harness: order clients, the scenario's shape, the per-request record
and the verdict that sets locust's exit code.

Run by ``load.runner`` (``orders load``), which passes the scenario and where to write in the
environment (``LOAD_SCENARIO``, ``LOAD_OUT``, ``LOAD_API_KEY``). Each user starts one task a
second on a fixed schedule, so the users a stage runs are its rate. Each schedule starts at a
random point of the user's first second: locust creates users in batches, and its own
``constant_throughput`` paces from the moment a user was created, so users created together
fired together, one burst a second (seen: 7 of 8 requests within 2 ms). A slow answer does not
push a user's later tasks back (the schedule is fixed), which keeps the offered rate near
open-loop.
"""

import csv
import itertools
import json
import os
import random
import time
import uuid
from pathlib import Path
from typing import Any

import gevent
from locust import LoadTestShape, events, task
from locust.contrib.fasthttp import FastHttpUser
from locust.env import Environment

from load.scenarios import Scenario
from load.verdict import Sample, judge

SCENARIO = Scenario.model_validate_json(os.environ.get("LOAD_SCENARIO", "{}") or "{}")
OUT = Path(os.environ.get("LOAD_OUT", "."))
SAMPLE_ORDER = json.loads(
    (
        Path(__file__).resolve().parents[1]
        / "contracts"
        / "samples"
        / "order_request.spec_example.json"
    ).read_text(encoding="utf-8")
)
# Users started per second: locust warns that more "sometimes causes issues".
MAX_SPAWN_RATE = 100
FIELDS = ("started", "kind", "status", "ms", "order_id", "error", "refusal")

_samples: list[Sample] = []
_record: dict[str, Any] = {}
_began: list[float] = []


def order_body(**changes: Any) -> str:
    """The SPEC's sample order, under a customer id of its own."""
    return json.dumps(SAMPLE_ORDER | {"customerId": f"LOAD-{uuid.uuid4().hex[:12]}"} | changes)


INVALID_BODY = order_body(customerEmail="not-an-email", items=[])
KINDS = itertools.cycle(SCENARIO.mix.sequence())


class OrderClient(FastHttpUser):
    network_timeout = 30.0
    connection_timeout = 10.0

    def on_start(self) -> None:
        self.accepted: list[str] = []
        api_key = os.environ.get("LOAD_API_KEY")
        self.headers = {"Content-Type": "application/json"} | (
            {"x-api-key": api_key} if api_key else {}
        )
        gevent.sleep(random.random())  # noqa: S311 - spreading start times, not secrets
        self.next_task = time.monotonic()

    def wait_time(self) -> float:
        """Until the next second of this user's schedule."""
        self.next_task += 1.0
        return max(0.0, self.next_task - time.monotonic())

    @task
    def one(self) -> None:
        kind = next(KINDS)  # shared by every user of this process, in the mix's shares
        if kind == "read" and not self.accepted:
            kind = "order"
        getattr(self, kind)()

    def _post(self, kind: str, body: str, headers: dict[str, str], same_as: str = "") -> str:
        """POST /order; returns the order id when accepted. ``same_as``: the order a retry with
        this Idempotency-Key must answer with."""
        with self.client.post(
            "/order",
            data=body,
            headers=headers,
            name=f"POST /order [{kind}]",
            catch_response=True,
            context={"kind": kind},
        ) as response:
            order_id = ""
            if response.status_code == 200:
                order_id = (response.json() or {}).get("orderId", "")
                response.request_meta["context"]["order_id"] = order_id
                if same_as and order_id != same_as:
                    wrong = f"a retry created a second order ({same_as}, then {order_id})"
                    response.request_meta["context"]["error"] = wrong
                    response.failure(wrong)
                else:
                    response.success()
            elif response.status_code == 429:
                response.failure("429 throttled")
            return order_id

    def order(self) -> None:
        order_id = self._post("order", order_body(), self.headers)
        if order_id:
            self.accepted.append(order_id)

    def invalid(self) -> None:
        with self.client.post(
            "/order",
            data=INVALID_BODY,
            headers=self.headers,
            name="POST /order [invalid]",
            catch_response=True,
            context={"kind": "invalid"},
        ) as response:
            expect(response, 400, "an invalid body answered")

    def retry(self) -> None:
        """The mobile client's retry: the same body and Idempotency-Key twice, one order."""
        body, key = order_body(), f"load-{uuid.uuid4()}"
        headers = self.headers | {"Idempotency-Key": key}
        first = self._post("retry", body, headers)
        second = self._post("retry", body, headers, same_as=first)
        self.accepted += sorted({first, second} - {""})

    def read(self) -> None:
        order_id = random.choice(self.accepted)  # noqa: S311
        with self.client.get(
            f"/order/{order_id}",
            headers=self.headers,
            name="GET /order/{orderId}",
            catch_response=True,
            context={"kind": "read"},
        ) as response:
            expect(response, 200, "an accepted order read back as")


def expect(response: Any, status: int, wrong: str) -> None:
    """Mark a caught response: ``status`` is right, a 429 is throttling, and any other answer
    below 500 breaks the API's contract (a 5xx or no answer is an error anyway)."""
    code = response.status_code
    if code == status:
        response.success()
    elif code == 429:
        response.failure("429 throttled")
    elif code and code < 500:
        response.request_meta["context"]["error"] = f"{wrong} {code}, not {status}"
        response.failure(f"{wrong} {code}, not {status}")


class ScenarioShape(LoadTestShape):
    """The scenario's rate at each moment, as users starting one task a second."""

    def tick(self) -> tuple[int, float] | None:
        rate = SCENARIO.rate_at(self.get_run_time())
        if rate is None:
            return None
        if not _began:
            _began.append(time.time())
        users = max(1, round(rate))
        return users, float(min(users, MAX_SPAWN_RATE))


def open_record(environment: Environment, **_: Any) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    stream = (OUT / "requests.csv").open("w", newline="", encoding="utf-8")
    _record["stream"] = stream
    _record["writer"] = csv.writer(stream)
    _record["writer"].writerow(FIELDS)


def record(
    response: Any,
    context: dict[str, Any],
    exception: Exception | None,
    start_time: float,
    response_time: float,
    **_: Any,
) -> None:
    status = int(getattr(response, "status_code", 0) or 0)
    error = context.get("error", "")
    if not status and exception is not None:
        error = f"no answer: {type(exception).__name__}: {exception}"[:200]
    sample = Sample(
        started=start_time,
        kind=context.get("kind", "order"),
        status=status,
        ms=response_time,
        order_id=context.get("order_id", ""),
        error=error,
        refusal=response.headers.get("x-amzn-ErrorType", "") if status == 429 else "",
    )
    _samples.append(sample)
    _record["writer"].writerow([getattr(sample, name) for name in FIELDS])


def decide(environment: Environment, **_: Any) -> None:
    """The scenario's thresholds set locust's exit code; the figures go to verdict.json."""
    _record["stream"].close()
    began = _began[0] if _began else min((s.started for s in _samples), default=time.time())
    verdict = judge(_samples, SCENARIO, began)
    (OUT / "verdict.json").write_text(
        json.dumps({"began": began, **verdict.model_dump()}, indent=2), encoding="utf-8"
    )
    environment.process_exit_code = 0 if verdict.passed else 1


events.init.add_listener(open_record)
events.request.add_listener(record)
events.quitting.add_listener(decide)
