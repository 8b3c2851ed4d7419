"""Session-wide real components: a moto server over HTTP and a fault proxy in front of it; and
which tests are slow (``pytest -m "not slow"`` is the quick part; ``make test`` runs all)."""

import os
from collections.abc import Iterator

import pytest

from tests.support.fault_proxy import FaultProxy
from tests.support.moto_server import MotoServer

# Never let a test reach a real AWS account, whatever the developer's shell has configured.
for _name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_CONFIG_FILE"):
    os.environ.pop(_name, None)
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }
)


# Modules whose tests take seconds each, and why; everything else runs in about a minute.
SLOW_MODULES = {
    "tests/e2e/": "each test boots orders up (a dozen processes) or runs locust against it",
    "tests/deploy/test_bundle.py": "builds the Lambda zips and runs them under python3.13",
    "tests/deploy/test_lint.py": "cfn-lint and checkov over every template",
    "tests/integration/test_outbox_property.py": "a stateful property over a real stream",
    "tests/integration/test_order_properties.py": "a property over the API against moto",
    "tests/integration/test_consumer_properties.py": "a property over both consumers",
    "tests/mobile/test_app.py": "the app against orders up",
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    root = config.rootpath
    for item in items:
        path = item.path.relative_to(root).as_posix()
        if any(path.startswith(prefix) for prefix in SLOW_MODULES):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def moto() -> Iterator[MotoServer]:
    server = MotoServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def fault_proxy(moto: MotoServer) -> Iterator[FaultProxy]:
    proxy = FaultProxy(moto.url).start()
    yield proxy
    proxy.stop()


@pytest.fixture
def faults(fault_proxy: FaultProxy) -> Iterator[FaultProxy]:
    """The fault proxy, with no faults and fresh counters for this test."""
    fault_proxy.clear()
    yield fault_proxy
    fault_proxy.clear()
