"""Session-wide real components: a moto server over HTTP and a fault proxy in front of it."""

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
