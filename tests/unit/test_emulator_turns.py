"""``Turns``: one holder at a time, foreground before background, background never starved."""

import threading
import time
from collections.abc import Callable

from local.aws.turns import Turns


def waiter(turns: Turns, foreground: bool, order: list[str], name: str) -> threading.Thread:
    def run() -> None:
        with turns.turn(foreground):
            order.append(name)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def wait_until(condition: Callable[[], object], within: float = 30.0) -> None:
    """Polls ``condition`` until it holds; a condition that never holds fails the test."""
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "the condition never held"
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
    taken = [0, 0, 0]

    def foregrounds(index: int) -> None:
        while not stop.is_set():
            with turns.turn(foreground=True):
                taken[index] += 1
                time.sleep(0.002)

    streams = [threading.Thread(target=foregrounds, args=(i,)) for i in range(3)]
    for thread in streams:
        thread.start()
    wait_until(lambda: all(taken))  # every stream is taking turns
    served = threading.Event()

    def background() -> None:
        with turns.turn(foreground=False):
            served.set()

    thread = threading.Thread(target=background)
    thread.start()
    # Without aging it would wait as long as the foregrounds keep coming: forever.
    got_its_turn = served.wait(30)
    stop.set()
    for other in (*streams, thread):
        other.join(30)
    assert got_its_turn


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
