"""What the app tells a person about a submission that did not go through: what happened and
what they can do. The order stays saved whenever sending it again may work."""

from orders_mobile.client import Outcome

SAVED = "Your order is saved on this device and will not be sent twice."


def message(outcome: Outcome) -> str:
    status = outcome.status
    if outcome.kind == "unavailable":
        if status == 429:
            return f"The order service is busy right now. {SAVED} Tap Send again in a minute."
        if status is not None and status >= 500:
            return (
                f"The order service had a problem (HTTP {status}). {SAVED} "
                "Tap Send again in a few minutes."
            )
        return (
            "No connection to the order service"
            + (f" ({outcome.detail})" if outcome.detail else "")
            + f". {SAVED} Check your network or the API URL in Settings, then tap Send again."
        )
    if outcome.kind == "invalid":
        return "The order service found problems with this order: see the marked fields."
    if status == 413:
        return (
            "This order is too large to send (over 10 KB). Remove some items or shorten the "
            "names, then send it as a new order."
        )
    if status == 422:
        return (
            "The order service has already received this order with different contents. "
            "Start a new order."
        )
    if status in (401, 403):
        return (
            f"The order service refused the app's API key (HTTP {status}). {SAVED} "
            "Check the API key in Settings, then tap Send again."
        )
    if status == 415:
        return "The order service did not accept the app's request (HTTP 415). Update the app."
    return f"The order service refused the order (HTTP {status}): {outcome.detail or 'no reason given'}."


def keeps_order(outcome: Outcome) -> bool:
    """Whether the saved order is kept for another attempt under the same key."""
    return outcome.kind == "unavailable" or outcome.status in (401, 403)
