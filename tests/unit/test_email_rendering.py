"""The confirmation email's rendering (``consumers.email.rendering``): pure, no SMTP."""

from email import policy
from email.message import EmailMessage

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consumers.email import rendering
from contracts.events import OrderCreated
from contracts.sample_data import sample

SENDER = "orders@shop.example.com"


def order(**changes: object) -> OrderCreated:
    return OrderCreated.model_validate({**sample("order_created.v1.valid.json"), **changes})


def as_bytes(message: EmailMessage) -> bytes:
    message.set_boundary("boundary")  # the only part drawn at random
    raw: bytes = message.as_bytes(policy=policy.default.clone(linesep="\r\n"))
    return raw


@settings(max_examples=60, deadline=None)
@given(name=st.text(min_size=1, max_size=80).filter(lambda text: text.strip() != ""))
def test_the_cached_header_classes_change_no_byte_of_the_message(name: str) -> None:
    """The header registry's classes made once give the bytes ``policy.default`` gives."""
    event = order(customerName=name)
    ours = as_bytes(rendering.render(event, SENDER))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(rendering, "POLICY", policy.default)
        standard = as_bytes(rendering.render(event, SENDER))
    assert ours == standard


def test_a_name_cannot_add_a_header() -> None:
    message = rendering.render(order(customerName="Eve\r\nBcc: victim@example.com"), SENDER)
    assert message["Bcc"] is None
    headers = as_bytes(message).split(b"\r\n\r\n", 1)[0]
    assert b"\r\nBcc:" not in headers


def test_a_non_ascii_name_is_encoded_and_the_html_part_escaped() -> None:
    message = rendering.render(order(customerName="Zoë <script>"), SENDER)
    raw = as_bytes(message)
    assert b"=?utf-8?" in raw.split(b"\r\n\r\n", 1)[0]
    html = message.get_body(("html",))
    assert html is not None
    assert "&lt;script&gt;" in html.get_content()
