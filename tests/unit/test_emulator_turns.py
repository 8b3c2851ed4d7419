"""``Turns``: one holder at a time, foreground before background, background never starved."""

import threading
import time

from local.emulator_turns import Turns


def waiter(turns: Turns, foreground: bool, order: list[str], name: str) -> threading.Thread:
    def run() -> None:
        with turns.turn(foreground):
            order.append(name)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def wait_until(condition: object, within: float = 2.0) -> None:
    deadline = time.monotonic() + within
    while not condition() and time.monotonic() < deadline:  # type: ignore[operator]
        time.sleep(0.001)


def test_a_waiting_foreground_goes_before_a_background_that_came_first() -> None:
    turns = Turns(age_seconds=5)
    order: list[str] = []
    turns.acquire(foreground=True)
    background = waiter(turns, False, order, "background")
    wait_until(lambda: turns.waiting == (0, 1))
    foreground = waiter(turns, True, order, "foreground")
    wait_until(lambda: turns.waiting[0] == 1)
    turns.release()
    for thread in (background, foreground):
        thread.join(5)
    assert order == ["foreground", "background"]


def test_a_background_that_has_waited_its_age_is_served_despite_a_stream_of_foregrounds() -> None:
    turns = Turns(age_seconds=0.05)
    stop = threading.Event()

    def foregrounds() -> None:
        while not stop.is_set():
            with turns.turn(foreground=True):
                time.sleep(0.002)

    streams = [threading.Thread(target=foregrounds) for _ in range(3)]
    for thread in streams:
        thread.start()
    time.sleep(0.02)
    started = time.monotonic()
    with turns.turn(foreground=False):
        waited = time.monotonic() - started
    stop.set()
    for thread in streams:
        thread.join(5)
    assert waited < 0.5


def test_suspended_gives_the_turn_away_while_blocking_and_takes_one_back() -> None:
    turns = Turns()
    order: list[str] = []
    with turns.turn(foreground=False):
        other = waiter(turns, True, order, "other")
        wait_until(lambda: turns.waiting[0] == 1)
        with turns.suspended():
            other.join(5)  # it could run only because the turn was given away
        order.append("back")
    assert order == ["other", "back"]


def test_suspended_outside_a_turn_does_nothing() -> None:
    turns = Turns()
    with turns.suspended():
        pass
    with turns.turn(foreground=True):
        assert turns._held
    assert not turns._held
