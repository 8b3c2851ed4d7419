"""Money in ``Decimal``, priced as the API prices it (SPEC §3): a line is quantity × price, the
order is the sum of its lines. Never a binary float: 0.1 + 0.2 totals 0.30."""

from collections.abc import Iterable
from decimal import Context, Decimal

CENT = Decimal("0.01")


def line_subtotal(quantity: int, price: Decimal) -> Decimal:
    return Decimal(quantity) * price


def order_total(lines: Iterable[tuple[int, Decimal]]) -> Decimal:
    return sum((line_subtotal(quantity, price) for quantity, price in lines), Decimal("0.00"))


def format_money(value: Decimal) -> str:
    """``Decimal('5')`` → ``'5.00'``."""
    digits = len(value.as_tuple().digits) + max(0, int(value.as_tuple().exponent)) + 3
    return format(value.quantize(CENT, context=Context(prec=max(28, digits))), "f")
