"""``orders smoke``: one order through a running pipeline, local or deployed, with a verdict.

It posts an order, reads it back, and, given AWS access, waits (bounded, with backoff) for its
audit record and its email. Each check prints one line; the first failure ends the run with a
line that says what failed and where to look, and the exit code is 1. The same command runs
against ``orders up`` and after every deploy in CI.
"""

import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TextIO

import aiohttp

from contracts.order import line_subtotal
from contracts.sample_data import sample
from local.aws.resources import ResourceNames
from local.commands.operations import Steps
from runtime.aws import AwsClients

# SES's mailbox simulator accepts the message and delivers nothing, so a smoke order in a
# sandboxed or production account neither bounces nor reaches anybody.
SMOKE_EMAIL = "success@simulator.amazonses.com"
REQUEST_TIMEOUT = aiohttp.ClientTimeout(total=30)


class SmokeFailed(Exception):
    """A check failed; the message is the verdict line."""


@dataclass(frozen=True)
class SmokeTarget:
    api: str
    api_key: str | None = None
    # The resource names to check the audit record and email in; None: HTTP checks only.
    names: ResourceNames | None = None
    aws: str | None = None


async def stack_target(stack: str, aws: str | None) -> SmokeTarget:
    """The API URL, its key (when the stack requires one) and the environment of a deployed
    stack, from its outputs and parameters."""
    clients = AwsClients(endpoint_url=aws)
    try:
        cloudformation = await clients.cloudformation()
        described = (await cloudformation.describe_stacks(StackName=stack))["Stacks"][0]
        outputs = {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}
        parameters = {
            p["ParameterKey"]: p.get("ParameterValue", "") for p in described.get("Parameters", [])
        }
        if "ApiUrl" not in outputs:
            raise SmokeFailed(
                f"stack {stack} has no ApiUrl output (status {described['StackStatus']})"
            )
        api_key = None
        if outputs.get("ApiKeyId"):
            apigateway = await clients.apigateway()
            key = await apigateway.get_api_key(apiKey=outputs["ApiKeyId"], includeValue=True)
            api_key = key["value"]
        env = parameters.get("EnvironmentName")
        names = ResourceNames(env) if env else None
        return SmokeTarget(outputs["ApiUrl"].rstrip("/"), api_key, names, aws)
    finally:
        await clients.close()


def smoke_order(run_id: str) -> dict[str, Any]:
    order: dict[str, Any] = sample("order_request.spec_example.json")
    return order | {"customerId": f"SMOKE-{run_id}", "customerEmail": SMOKE_EMAIL}


def expected_total(order: dict[str, Any]) -> Decimal:
    """What the API prices the order at (its JSON numbers read exactly, as the API reads them)."""
    return sum(
        (line_subtotal(i["quantity"], Decimal(str(i["price"]))) for i in order["items"]),
        Decimal("0.00"),
    )


async def poll(
    what: Callable[[], Awaitable[bool]], within: float, first_pause: float = 0.25
) -> float | None:
    """Seconds until ``what()`` held, polling with doubling pauses (at most 5 s) for at most
    ``within`` seconds; None if it never did."""
    started = time.monotonic()
    pause = first_pause
    while True:
        if await what():
            return time.monotonic() - started
        left = started + within - time.monotonic()
        if left <= 0:
            return None
        await asyncio.sleep(min(pause, left))
        pause = min(pause * 2, 5.0)


def _answer(status: int, body: Any) -> str:
    if isinstance(body, dict):
        detail = body.get("error") or body.get("message") or ""
        return f"{status} {detail}".strip()
    return str(status)


def _hint(status: int) -> str:
    if status == 403:
        return " (an API key is required or was refused: --api-key, or --stack to read it)"
    if status == 429:
        return " (throttled: the stage's rate limit; try again)"
    if status >= 500:
        return " (the Order API failed: read its log group /aws/lambda/{env}-OrderApi)"
    return ""


class SmokeRun:
    """The checks, in order; each writes its line."""

    def __init__(self, target: SmokeTarget, out: TextIO, within: float):
        self._target = target
        self._out = out
        self._within = within
        self._headers = {"x-api-key": target.api_key} if target.api_key else {}

    def say(self, line: str) -> None:
        print(f"smoke: {line}", file=self._out, flush=True)

    async def _call(
        self, http: aiohttp.ClientSession, method: str, path: str, **kwargs: Any
    ) -> tuple[int, Any, float]:
        """(status, JSON body or None, milliseconds)."""
        url = f"{self._target.api}{path}"
        headers = self._headers | kwargs.pop("headers", {})
        started = time.monotonic()
        try:
            async with http.request(method, url, headers=headers, **kwargs) as response:
                text = await response.text()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise SmokeFailed(
                f"{method} {path}: cannot reach {url} ({type(exc).__name__}: {exc})"
            ) from None
        try:
            body = json.loads(text)
        except ValueError:
            body = None
        return response.status, body, (time.monotonic() - started) * 1000

    async def run(self) -> None:
        order = smoke_order(uuid.uuid4().hex[:12])
        async with aiohttp.ClientSession(timeout=REQUEST_TIMEOUT) as http:
            order_id = await self._post(http, order)
            await self._read_back(http, order_id, order)
        if self._target.names is None:
            self.say("audit record, email: not checked (no AWS access given: --env or --stack)")
            return
        await self._pipeline(order_id, self._target.names)

    async def _post(self, http: aiohttp.ClientSession, order: dict[str, Any]) -> str:
        key = str(uuid.uuid4())
        status, body, ms = await self._call(
            http, "POST", "/order", json=order, headers={"Idempotency-Key": key}
        )
        if status != 200 or not isinstance(body, dict) or "orderId" not in body:
            raise SmokeFailed(f"POST /order answered {_answer(status, body)}{_hint(status)}")
        order_id = str(body["orderId"])
        self.say(f"POST /order -> 200, order {order_id} ({ms:.0f} ms)")
        return order_id

    async def _read_back(
        self, http: aiohttp.ClientSession, order_id: str, order: dict[str, Any]
    ) -> None:
        path = f"/order/{order_id}"
        status, body, ms = await self._call(http, "GET", path)
        if status != 200 or not isinstance(body, dict):
            raise SmokeFailed(f"GET {path} answered {_answer(status, body)}{_hint(status)}")
        mismatched = [
            name
            for name, want in (
                ("orderId", order_id),
                ("customerId", order["customerId"]),
                ("totalAmount", expected_total(order)),
            )
            if (Decimal(str(body.get(name))) if name == "totalAmount" else body.get(name)) != want
        ]
        if mismatched:
            raise SmokeFailed(
                f"GET {path} returned an order that differs from the one sent in "
                + ", ".join(mismatched)
            )
        self.say(f"GET {path} -> 200, the order as sent ({ms:.0f} ms)")

    async def _pipeline(self, order_id: str, names: ResourceNames) -> None:
        clients = AwsClients(endpoint_url=self._target.aws)
        try:
            steps = Steps(clients, names)

            async def audited() -> bool:
                return bool(await steps.audit_records(order_id))

            async def emailed() -> bool:
                return await steps.emailed(order_id)

            checks = (
                (f"an audit record in {names.audit_table}", audited, "audit", names.audit_queue),
                (
                    f"its email marked sent in {names.idempotency_table}",
                    emailed,
                    "email",
                    names.email_queue,
                ),
            )
            for what, check, queue, spec in checks:
                took = await poll(check, self._within)
                if took is None:
                    raise SmokeFailed(
                        f"order {order_id} has no {what.removeprefix('an ').removeprefix('its ')} "
                        f"after {self._within:g} s: the {queue} consumer is not processing "
                        f"(look at {spec.name}, its dead letters in {spec.dlq_name}: "
                        f"orders dlq list --queue {queue}, and its function's log)"
                    )
                self.say(f"{what} after {took:.1f} s")
        finally:
            await clients.close()


async def smoke(target: SmokeTarget, out: TextIO, within: float) -> int:
    """Runs the checks; 0 and a PASS line, or 1 and a FAIL line naming what failed."""
    started = time.monotonic()
    run = SmokeRun(target, out, within)
    try:
        await run.run()
    except SmokeFailed as failed:
        run.say(f"FAIL: {failed}")
        return 1
    run.say(f"PASS against {target.api} in {time.monotonic() - started:.1f} s")
    return 0
