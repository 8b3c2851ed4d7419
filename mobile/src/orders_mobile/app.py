"""The app's screens: the order form, the confirmation, the settings.

The form checks an order with the contract's rules (``rules.py``) before anything is sent and
shows each error under its field. An order that passes is saved on the device with a new
idempotency key (``pending.py``), then sent (``client.py``); it leaves the device only when the
API has answered for good. An order still saved when the app starts is shown again, locked, to
be sent under its key or discarded.
"""

import re
from decimal import Decimal
from typing import Any

import httpx
import toga

from orders_mobile.client import OrderClient, Outcome
from orders_mobile.feedback import keeps_order, message
from orders_mobile.pending import PendingOrder, PendingOrders, UnreadableStore
from orders_mobile.pricing import format_money, order_total
from orders_mobile.rules import FieldError, OrderRules
from orders_mobile.settings import SettingsError, SettingsFile, checked

INTEGER = re.compile(r"[+-]?[0-9]{1,12}")
NUMBER = re.compile(r"[+-]?[0-9]{1,15}(\.[0-9]{1,15})?")
ITEM_PATH = re.compile(r"items\[(\d+)\]\.(\w+)")


def _lines(text: str) -> str:
    """A sentence a line: labels do not wrap on every backend."""
    return re.sub(r"(?<=\.) (?=[A-Z])", "\n", text)


def _listed(errors: list[FieldError]) -> str:
    """Errors with no field on the form to show them under, for the status line."""
    return "".join(f" {e.field}: {e.message}." for e in errors)


def _error_label() -> toga.Label:
    return toga.Label("", color="#b00020", font_size=9)


def _quantity(text: str) -> Any:
    """What the field says, as JSON will carry it: an integer if it is one, else the text
    (which the rules then refuse as the API would)."""
    text = text.strip()
    return int(text) if INTEGER.fullmatch(text) else text


def _price(text: str) -> Any:
    text = text.strip()
    return Decimal(text) if NUMBER.fullmatch(text) else text


def _scrolling(box: toga.Box) -> toga.Widget:
    """The form scrolls on a phone; toga-textual (a terminal) has no scroll container."""
    try:
        return toga.ScrollContainer(content=box, horizontal=False)
    except NotImplementedError:
        return box


class ItemRow:
    """One line of the order: product id, name, quantity, price, with their errors."""

    FIELDS = ("productId", "productName", "quantity", "price")

    def __init__(self, on_change: Any, on_remove: Any):
        self.product_id = toga.TextInput(placeholder="Product id", on_change=on_change, flex=1)
        self.product_name = toga.TextInput(
            placeholder="Name (optional)", on_change=on_change, flex=1
        )
        self.quantity = toga.TextInput(
            placeholder="Quantity", value="1", on_change=on_change, flex=1
        )
        self.price = toga.TextInput(placeholder="Price", on_change=on_change, flex=1)
        self.remove = toga.Button("Remove", on_press=on_remove)
        self.errors = {name: _error_label() for name in self.FIELDS}
        # Two lines per item: a phone is narrow.
        self.box = toga.Box(
            direction="column",
            margin_bottom=6,
            children=[
                toga.Box(direction="row", children=[self.product_id, self.product_name]),
                self.errors["productId"],
                self.errors["productName"],
                toga.Box(direction="row", children=[self.quantity, self.price, self.remove]),
                self.errors["quantity"],
                self.errors["price"],
            ],
        )

    def body(self) -> dict[str, Any]:
        item: dict[str, Any] = {"productId": self.product_id.value.strip()}
        if self.product_name.value.strip():
            item["productName"] = self.product_name.value.strip()
        item["quantity"] = _quantity(self.quantity.value)
        item["price"] = _price(self.price.value)
        return item

    def fill(self, item: dict[str, Any]) -> None:
        self.product_id.value = str(item.get("productId", ""))
        self.product_name.value = str(item.get("productName") or "")
        self.quantity.value = str(item.get("quantity", ""))
        price = item.get("price", "")
        self.price.value = format(price, "f") if isinstance(price, Decimal) else str(price)

    def line(self) -> tuple[int, Decimal] | None:
        """(quantity, price) once both are numbers the total can use exactly (a price of more
        than two places is not one: it is an error, not rounded)."""
        quantity, price = _quantity(self.quantity.value), _price(self.price.value)
        if isinstance(quantity, int) and isinstance(price, Decimal):
            exponent = price.normalize().as_tuple().exponent
            if isinstance(exponent, int) and exponent >= -2:
                return quantity, price
        return None

    def enable(self, enabled: bool) -> None:
        for widget in (self.product_id, self.product_name, self.quantity, self.price, self.remove):
            widget.enabled = enabled


class OrderForm:
    """The order form's widgets and what they say as an order body."""

    def __init__(self, app: "OrdersApp"):
        self.app = app
        self.name = toga.TextInput(placeholder="Customer name")
        self.email = toga.TextInput(placeholder="Email")
        self.customer_id = toga.TextInput(placeholder="Customer id (optional)")
        self.errors = {
            "customerName": _error_label(),
            "customerEmail": _error_label(),
            "customerId": _error_label(),
            "items": _error_label(),
        }
        self.rows: list[ItemRow] = []
        self.rows_box = toga.Box(direction="column")
        self.add_item = toga.Button("Add item", on_press=self.on_add)
        self.total = toga.Label("Total: 0.00", font_weight="bold")
        self.status = toga.Label("")
        self.submit = toga.Button("Send order", on_press=app.on_submit)
        self.discard = toga.Button("Discard saved order", on_press=app.on_discard)
        self.settings = toga.Button("Settings", on_press=app.show_settings)
        self.box = toga.Box(
            direction="column",
            margin=10,
            children=[
                toga.Box(
                    direction="row",
                    children=[toga.Label("New order", font_size=16, flex=1), self.settings],
                ),
                toga.Label("Customer name"),
                self.name,
                self.errors["customerName"],
                toga.Label("Email"),
                self.email,
                self.errors["customerEmail"],
                toga.Label("Customer id"),
                self.customer_id,
                self.errors["customerId"],
                toga.Label("Items"),
                self.rows_box,
                self.errors["items"],
                self.add_item,
                self.total,
                self.status,
                self.submit,
            ],
        )
        self.view = _scrolling(self.box)
        self.add_row()

    def add_row(self) -> ItemRow:
        row: ItemRow

        def remove(widget: Any) -> None:
            self.remove_row(row)

        row = ItemRow(on_change=self.on_change, on_remove=remove)
        self.rows.append(row)
        self.rows_box.add(row.box)
        self.on_change(None)
        return row

    def remove_row(self, row: ItemRow) -> None:
        self.rows.remove(row)
        self.rows_box.remove(row.box)
        self.on_change(None)

    def on_add(self, widget: Any) -> None:
        self.add_row()

    def on_change(self, widget: Any) -> None:
        lines = [row.line() for row in self.rows]
        counted = [line for line in lines if line is not None]
        text = f"Total: {format_money(order_total(counted))}"
        missing = len(lines) - len(counted)
        if missing:
            text += f" ({missing} item(s) without a quantity and price yet)"
        self.total.text = text

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {}
        if self.customer_id.value.strip():
            body["customerId"] = self.customer_id.value.strip()
        body["customerName"] = self.name.value.strip()
        body["customerEmail"] = self.email.value.strip()
        body["items"] = [row.body() for row in self.rows]
        return body

    def fill(self, body: dict[str, Any]) -> None:
        self.name.value = str(body.get("customerName", ""))
        self.email.value = str(body.get("customerEmail", ""))
        self.customer_id.value = str(body.get("customerId") or "")
        for row in list(self.rows):
            self.remove_row(row)
        for item in body.get("items", []):
            self.add_row().fill(item)

    def clear(self) -> None:
        self.fill({"items": [{"quantity": 1}]})
        self.show_errors([])
        self.status.text = ""

    def show_errors(self, errors: list[FieldError]) -> list[FieldError]:
        """Each error under its field; returns those that have no field on the form."""
        for label in self.errors.values():
            label.text = ""
        for row in self.rows:
            for label in row.errors.values():
                label.text = ""
        unplaced = []
        for error in errors:
            item = ITEM_PATH.fullmatch(error.field)
            if item and int(item.group(1)) < len(self.rows):
                row = self.rows[int(item.group(1))]
                if item.group(2) in row.errors:
                    row.errors[item.group(2)].text = f"{item.group(2)} {error.message}"
                    continue
            if error.field in self.errors:
                self.errors[error.field].text = error.message
                continue
            unplaced.append(error)
        return unplaced

    def lock(self, locked: bool) -> None:
        """A saved order is sent as it was saved: its fields cannot change under its key."""
        for widget in (self.name, self.email, self.customer_id, self.add_item):
            widget.enabled = not locked
        for row in self.rows:
            row.enable(not locked)


class OrdersApp(toga.App):
    def startup(self) -> None:
        self.rules = OrderRules.from_contract()
        self.pending = PendingOrders(self.paths.data / "pending-orders.json")
        self.settings_file = SettingsFile(self.paths.data / "settings.json")
        self.settings = self.settings_file.load()
        self.current: PendingOrder | None = None
        self.form = OrderForm(self)
        self._build_confirmation()
        self._build_settings()
        self.window = toga.MainWindow(size=(480, 800))  # type: ignore[no-untyped-call]
        self.main_window = self.window
        self.window.content = self.form.view
        self.form.discard.enabled = False
        self._resume_saved_order()
        self.window.show()

    def client(self) -> OrderClient:
        return OrderClient(self.settings.api_url, self.settings.api_key or None)

    # -- sending ------------------------------------------------------------------------------

    def _resume_saved_order(self) -> None:
        try:
            saved = self.pending.load()
        except UnreadableStore as exc:
            self.form.status.text = f"{exc}."
            return
        if saved:
            self._hold(saved[0])
            self.form.status.text = _lines(
                f"An order saved on this device ({saved[0].saved_at[:16].replace('T', ' ')} UTC) "
                "has not reached the order service yet. Tap Send again, or discard it."
            )

    def _hold(self, order: PendingOrder) -> None:
        self.current = order
        self.form.fill(order.body)
        self.form.lock(True)
        self.form.submit.text = "Send again"
        if self.form.discard not in self.form.box.children:
            self.form.box.add(self.form.discard)
        self.form.discard.enabled = True

    def _release(self) -> None:
        self.current = None
        self.form.lock(False)
        self.form.submit.text = "Send order"
        if self.form.discard in self.form.box.children:
            self.form.box.remove(self.form.discard)

    async def on_submit(self, widget: Any) -> None:
        if self.current is None:
            body = self.form.body()
            errors = self.rules.check(body)
            unplaced = self.form.show_errors(errors)
            if errors:
                self.form.status.text = "Please correct the marked fields." + _listed(unplaced)
                return
            self.current = self.pending.save(body)
        await self.send(self.current)

    async def send(self, order: PendingOrder) -> Outcome:
        self.form.submit.enabled = False
        self.form.lock(True)
        self.form.status.text = "Sending..."
        try:
            outcome = await self.client().submit(order.body, order.idempotency_key)
        finally:
            self.form.submit.enabled = True
        if outcome.kind == "accepted":
            self.pending.remove(order.idempotency_key)
            self._release()
            self.show_confirmation(outcome)
            return outcome
        if keeps_order(outcome):
            self._hold(order)
        else:
            self.pending.remove(order.idempotency_key)
            self._release()
        unplaced = self.form.show_errors([FieldError(f, m) for f, m in outcome.errors])
        self.form.status.text = _lines(message(outcome) + _listed(unplaced))
        return outcome

    def on_discard(self, widget: Any) -> None:
        if self.current is not None:
            self.pending.remove(self.current.idempotency_key)
        self._release()
        self.form.status.text = "The saved order was discarded; nothing more will be sent."

    # -- confirmation -------------------------------------------------------------------------

    def _build_confirmation(self) -> None:
        self.confirmed_id = toga.Label("")
        self.confirmed_at = toga.Label("")
        self.order_status = toga.Label("")
        self.check_status = toga.Button("Check status", on_press=self.on_check_status)
        self.confirmation = toga.Box(
            direction="column",
            margin=10,
            children=[
                toga.Label("Order received", font_size=16),
                self.confirmed_id,
                self.confirmed_at,
                self.check_status,
                self.order_status,
                toga.Button("New order", on_press=self.on_new_order),
            ],
        )

    def show_confirmation(self, outcome: Outcome) -> None:
        self.confirmed_id.text = f"Order id: {outcome.order_id}"
        self.confirmed_at.text = f"Received: {outcome.created_at}"
        self.order_status.text = ""
        self.window.content = self.confirmation
        self.check_status.focus()

    async def on_check_status(self, widget: Any) -> None:
        order_id = self.confirmed_id.text.removeprefix("Order id: ")
        try:
            status, order = await self.client().order(order_id)
        except httpx.TransportError as exc:
            self.order_status.text = (
                f"No connection to the order service ({type(exc).__name__}). Try again later."
            )
            return
        if status == 200 and order is not None:
            count = len(order.get("items", []))
            self.order_status.text = (
                f"Stored: {count} item(s), total {order.get('totalAmount')}, "
                f"for {order.get('customerName')}."
            )
        elif status == 404:
            self.order_status.text = "Not found yet: try again in a moment."
        else:
            self.order_status.text = f"The order service answered HTTP {status}. Try again later."

    def on_new_order(self, widget: Any) -> None:
        self.form.clear()
        self.window.content = self.form.view
        self.form.name.focus()

    # -- settings -----------------------------------------------------------------------------

    def _build_settings(self) -> None:
        self.api_url = toga.TextInput(value=self.settings.api_url)
        try:
            self.api_key: toga.TextInput = toga.PasswordInput(value=self.settings.api_key)
        except NotImplementedError:  # toga-textual, the terminal backend
            self.api_key = toga.TextInput(value=self.settings.api_key)
        self.settings_error = _error_label()
        self.settings_view = toga.Box(
            direction="column",
            margin=10,
            children=[
                toga.Label("Settings", font_size=16),
                toga.Label("API URL (orders up: http://127.0.0.1:8000)"),
                self.api_url,
                toga.Label("API key (when the API requires one)"),
                self.api_key,
                self.settings_error,
                toga.Box(
                    direction="row",
                    children=[
                        toga.Button("Save", on_press=self.on_save_settings),
                        toga.Button("Cancel", on_press=self.on_close_settings),
                    ],
                ),
            ],
        )

    def show_settings(self, widget: Any) -> None:
        self.api_url.value = self.settings.api_url
        self.api_key.value = self.settings.api_key
        self.settings_error.text = ""
        self.window.content = self.settings_view

    def on_save_settings(self, widget: Any) -> None:
        try:
            self.settings = checked(self.api_url.value, self.api_key.value)
        except SettingsError as exc:
            self.settings_error.text = str(exc)
            return
        self.settings_file.save(self.settings)
        self.window.content = self.form.view
        self.form.status.text = f"Orders go to {self.settings.api_url}."

    def on_close_settings(self, widget: Any) -> None:
        self.window.content = self.form.view


def main() -> OrdersApp:
    return OrdersApp("Orders", "com.example.orderpipeline.orders_mobile")
