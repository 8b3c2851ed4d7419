"""The README's screenshots of the app: the real app on toga-textual (the terminal backend),
filled in and tapped through Textual's test pilot, saved by Textual as SVG and turned into PNG.

    pip install toga-core==0.5.7 toga-textual==0.5.7 httpx==0.28.1 email-validator cairosvg
    orders up &                                   # the API on http://127.0.0.1:8000
    TOGA_BACKEND=toga_textual PYTHONPATH=mobile/src python mobile/tools/screenshots.py docs-dir
"""

import asyncio
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

os.environ.setdefault("TOGA_BACKEND", "toga_textual")
os.environ["HOME"] = tempfile.mkdtemp()  # a fresh device: no saved orders or settings

import cairosvg

from orders_mobile.app import OrdersApp, main

SIZE = (100, 56)


def fill(app: OrdersApp, name: str, email: str, items: list[tuple[str, str, str, str]]) -> None:
    form = app.form
    form.name.value, form.email.value, form.customer_id.value = name, email, "CUST-12345"
    for index, (product, title, quantity, price) in enumerate(items):
        row = form.rows[index] if index < len(form.rows) else form.add_row()
        row.product_id.value, row.product_name.value = product, title
        row.quantity.value, row.price.value = quantity, price


async def tap(button: Any, pilot: Any) -> None:
    result = button.on_press()
    if asyncio.iscoroutine(result) or isinstance(result, asyncio.Future):
        await result
    await pilot.pause(0.3)


async def shoot(native: Any, pilot: Any, out: Path, name: str) -> None:
    await pilot.pause(0.5)
    svg = native.save_screenshot(filename=f"{name}.svg", path=str(out))
    cairosvg.svg2png(url=svg, write_to=str(out / f"{name}.png"), output_width=900)
    os.remove(svg)
    print(out / f"{name}.png")


async def scenario(out: Path) -> None:
    app = main()
    native = app._impl.native
    async with native.run_test(size=SIZE) as pilot:
        await pilot.pause(0.5)
        fill(
            app,
            "John Doe",
            "john.doe@example.com",
            [("PROD-001", "Widget A", "2", "29.99"), ("PROD-002", "Widget B", "1", "49.99")],
        )
        await shoot(native, pilot, out, "mobile-form")
        await tap(app.form.submit, pilot)
        await tap(app.check_status, pilot)
        await shoot(native, pilot, out, "mobile-confirmation")
        await tap(app.confirmation.children[-1], pilot)  # New order
        fill(app, " J ", "john.doe@@example.com", [("PROD-001", "", "0", "29.999")])
        await tap(app.form.submit, pilot)
        await shoot(native, pilot, out, "mobile-validation")
        app.settings = app.settings.__class__(api_url="http://127.0.0.1:9")  # nothing there
        fill(app, "John Doe", "john.doe@example.com", [("PROD-001", "Widget A", "2", "29.99")])
        await tap(app.form.submit, pilot)
        await shoot(native, pilot, out, "mobile-saved")


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else ".")
    target.mkdir(parents=True, exist_ok=True)
    asyncio.run(scenario(target.resolve()))
