"""The app's real widgets (Toga's dummy backend) driven as a person would, against a real
``orders up``: fill the form, send, read the confirmation, check the status; invalid input;
a stopped server, a restart, and the saved order sent under its one key."""

import asyncio
import json
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

import pytest
import requests

from orders_mobile.app import OrdersApp
from orders_mobile.client import OrderClient
from tests.mobile.conftest import start_app
from tests.support.moto_server import free_port
from tests.support.scripted_http import Reply, ScriptedServer
from tests.support.stack_process import StackProcess


def press(button: Any) -> Any:
    """A tap: Toga's wrapped handler takes no arguments (its stub says it takes the widget)."""
    return button.on_press()


def run(app: OrdersApp, handler: Awaitable[Any] | None) -> None:
    if handler is not None:
        app.loop.run_until_complete(handler)


def point_at(app: OrdersApp, url: str, key: str = "") -> None:
    """Through the Settings screen, as a person would."""
    press(app.form.settings)
    assert app.window.content is app.settings_view
    app.api_url.value = url
    app.api_key.value = key
    press(app.settings_view.children[-1].children[0])  # Save
    assert app.window.content is app.form.view, app.settings_error.text


def fill(app: OrdersApp, name: str = "John Doe", email: str = "john.doe@example.com") -> None:
    form = app.form
    form.name.value = name
    form.email.value = email
    form.customer_id.value = "CUST-APP-1"
    first = form.rows[0]
    first.product_id.value, first.product_name.value = "PROD-001", "Widget A"
    first.quantity.value, first.price.value = "2", "29.99"
    press(form.add_item)
    second = form.rows[1]
    second.product_id.value, second.quantity.value, second.price.value = "PROD-002", "1", "49.99"


def saved(phone: Path) -> list[dict[str, Any]]:
    path = next(phone.rglob("pending-orders.json"), None)
    if path is None:
        return []
    orders: list[dict[str, Any]] = json.loads(path.read_text())["orders"]
    return orders


def test_an_order_is_sent_confirmed_and_its_status_checked(
    phone: Path, orders_up: StackProcess
) -> None:
    app = start_app()
    point_at(app, orders_up.api)
    fill(app)
    assert app.form.total.text == "Total: 109.97"
    run(app, press(app.form.submit))
    assert app.window.content is app.confirmation, app.form.status.text
    order_id = app.confirmed_id.text.removeprefix("Order id: ")
    stored = requests.get(f"{orders_up.api}/order/{order_id}", timeout=10).json()
    assert stored["customerName"] == "John Doe"
    assert stored["totalAmount"] == "109.97"
    assert [i["productId"] for i in stored["items"]] == ["PROD-001", "PROD-002"]
    run(app, press(app.check_status))
    assert app.order_status.text == "Stored: 2 item(s), total 109.97, for John Doe."
    assert saved(phone) == []  # nothing left on the device
    press(app.confirmation.children[-1])  # New order
    assert app.window.content is app.form.view
    assert app.form.name.value == ""
    assert len(app.form.rows) == 1


def test_invalid_input_is_shown_next_to_its_fields_and_nothing_is_sent(phone: Path) -> None:
    async def attempt(app: OrdersApp) -> ScriptedServer:
        async with ScriptedServer([]) as server:
            point_at(app, server.url)
            await press(app.form.submit)
        return server

    app = start_app()
    fill(app, name=" J ", email="john.doe@@example.com")
    app.form.rows[1].price.value = "49.999"
    app.form.rows[0].quantity.value = "two"
    server = app.loop.run_until_complete(attempt(app))
    assert server.requests == []
    assert saved(phone) == []
    form = app.form
    assert form.errors["customerName"].text == (
        "must have at least 2 character(s), not counting surrounding spaces"
    )
    assert form.errors["customerEmail"].text.startswith("is not a valid email address: ")
    assert form.rows[0].errors["quantity"].text == "quantity must be an integer"
    assert form.rows[1].errors["price"].text == "price must have at most 2 decimal places"
    assert form.status.text == "Please correct the marked fields."
    assert form.name.enabled  # nothing was saved, so the form stays editable


def test_a_stopped_server_keeps_the_order_which_is_sent_after_a_restart_under_its_key(
    phone: Path, orders_up: StackProcess
) -> None:
    app = start_app()
    point_at(app, f"http://127.0.0.1:{free_port()}")  # nothing listens there
    fill(app)
    run(app, press(app.form.submit))  # three attempts, 1 s and 2 s apart
    assert app.window.content is app.form.view
    assert app.form.status.text.startswith("No connection to the order service (ConnectError")
    assert "Your order is saved on this device" in app.form.status.text
    assert app.form.submit.text == "Send again"
    assert not app.form.name.enabled  # a saved order is sent as saved
    (kept,) = saved(phone)
    key = kept["idempotencyKey"]

    restarted = start_app()  # the app was closed; the phone kept its files
    assert restarted.form.submit.text == "Send again"
    assert restarted.form.name.value == "John Doe"
    assert [r.price.value for r in restarted.form.rows] == ["29.99", "49.99"]
    assert "has not reached the order service yet" in restarted.form.status.text
    point_at(restarted, orders_up.api)
    run(restarted, press(restarted.form.submit))
    assert restarted.window.content is restarted.confirmation, restarted.form.status.text
    order_id = restarted.confirmed_id.text.removeprefix("Order id: ")
    assert saved(phone) == []
    # The API knows the order by the saved key: the same request again is the same order.
    again = requests.post(
        f"{orders_up.api}/order",
        data=json.dumps(kept["body"]),
        headers={"Content-Type": "application/json", "Idempotency-Key": key},
        timeout=10,
    )
    assert again.json()["orderId"] == order_id


def test_a_saved_order_can_be_discarded(phone: Path) -> None:
    app = start_app()
    point_at(app, f"http://127.0.0.1:{free_port()}")
    fill(app)
    app.client = lambda: _no_retries(app)  # type: ignore[method-assign]
    run(app, press(app.form.submit))
    assert len(saved(phone)) == 1
    press(app.form.discard)
    assert saved(phone) == []
    assert app.form.submit.text == "Send order"
    assert app.form.name.enabled
    assert start_app().form.submit.text == "Send order"


def _no_retries(app: OrdersApp) -> Any:
    return OrderClient(app.settings.api_url, retries=0, sleep=_no_wait)


def test_settings_refuse_bad_values_and_survive_a_restart(phone: Path) -> None:
    app = start_app()
    press(app.form.settings)
    for url, key, expected in [
        ("ftp://example.com", "", "must start with http:// or https://"),
        ("http://", "", "must start with http:// or https://"),
        ("https://api.example.com/prod?x=1", "", "without ? or # parts"),
        ("https://api.example.com/prod", "short", "20-128 characters"),
        ("https://api.example.com/prod", "k" * 20 + " " + "k", "20-128 characters"),
    ]:
        app.api_url.value, app.api_key.value = url, key
        press(app.settings_view.children[-1].children[0])
        assert expected in app.settings_error.text
        assert app.window.content is app.settings_view
    point_at(app, "https://api.example.com/prod/", "k" * 24)
    restarted = start_app()
    assert restarted.settings.api_url == "https://api.example.com/prod"
    assert restarted.settings.api_key == "k" * 24


def test_the_total_is_live_and_exact(phone: Path) -> None:
    form = start_app().form
    row = form.rows[0]
    row.quantity.value, row.price.value = "1", "0.1"
    press(form.add_item)
    form.rows[1].quantity.value, form.rows[1].price.value = "1", "0.2"
    assert form.total.text == "Total: 0.30"
    press(form.add_item)
    assert form.total.text == "Total: 0.30 (1 item(s) without a quantity and price yet)"
    form.rows[2].price.value = "0.999"  # not rounded into the total: it is an error
    assert form.total.text == "Total: 0.30 (1 item(s) without a quantity and price yet)"
    press(form.rows[2].remove)
    press(form.rows[0].remove)
    assert form.total.text == "Total: 0.20"
    assert len(form.rows_box.children) == 1


@pytest.mark.parametrize(
    ("replies", "says", "kept"),
    [
        ([Reply(413, {"message": "Request Too Long"})], "too large to send (over 10 KB)", False),
        ([Reply(422, {"error": "Idempotency-Key reused"})], "already received this order", False),
        ([Reply(415, {"error": "Unsupported Media Type"})], "Update the app", False),
        ([Reply(403, {"message": "Forbidden"})], "Check the API key in Settings", True),
        ([Reply(429, headers={"Retry-After": "0"})] * 3, "busy right now", True),
        ([Reply(503)] * 3, "had a problem (HTTP 503)", True),
        ([Reply(drop=True)] * 3, "No connection to the order service", True),
        (
            [
                Reply(
                    400,
                    {
                        "error": "Validation failed",
                        "errors": [
                            {"field": "customerName", "message": "is taken"},
                            {"field": "body", "message": "odd"},
                        ],
                    },
                )
            ],
            "found problems with this order",
            False,
        ),
    ],
)
def test_each_failure_says_what_happened_and_what_to_do(
    phone: Path, replies: list[Reply], says: str, kept: bool
) -> None:
    app = start_app()

    async def attempt() -> None:
        async with ScriptedServer(replies) as server:
            point_at(app, server.url)
            app.client = lambda: OrderClient(server.url, sleep=_no_wait)  # type: ignore[method-assign]
            await press(app.form.submit)

    fill(app)
    app.loop.run_until_complete(attempt())
    assert says in app.form.status.text.replace("\n", " ")
    assert bool(saved(phone)) is kept
    assert (app.form.submit.text == "Send again") is kept
    if replies[0].status == 400:
        assert app.form.errors["customerName"].text == "is taken"
        assert "body: odd." in app.form.status.text


async def _no_wait(seconds: float) -> None:
    await asyncio.sleep(0)


def test_the_app_is_a_client_only() -> None:
    """mobile/ speaks HTTP to the API and reads the contract's files; it imports no server code."""
    sources = Path(__file__).resolve().parents[2] / "mobile"
    for path in sources.rglob("*.py"):
        text = path.read_text()
        for package in ("api", "consumers", "local", "contracts", "runtime", "load"):
            assert f"from {package}" not in text, path
            assert f"import {package}" not in text, path
