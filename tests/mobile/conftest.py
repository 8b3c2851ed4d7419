"""The app's tests run its real widgets on Toga's dummy backend, which must be chosen before
the first App is made (Toga caches the backend)."""

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ["TOGA_BACKEND"] = "toga_dummy"

from orders_mobile.app import OrdersApp, main
from tests.support.stack_process import ONE_OF_EACH, StackProcess, start_with_emulator


@pytest.fixture
def phone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A device of its own: the app's data folder lives under this HOME."""
    home = tmp_path / "phone"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    return home


def start_app() -> OrdersApp:
    return main()


@pytest.fixture(scope="module")
def orders_up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackProcess]:
    started, _ = start_with_emulator(tmp_path_factory.mktemp("mobile-stack"), *ONE_OF_EACH)
    yield started
    started.stop()
