from collections.abc import Iterator

import pytest

from local.aws.emulator import MotoProcess
from local.aws.provision import Provisioned
from tests.support.api import Api, settings_for
from tests.support.aws import Boto, new_stack
from tests.support.fault_proxy import FaultProxy
from tests.support.moto_server import MotoServer, free_port
from tests.support.outbox import Outbox


@pytest.fixture
def stack(moto: MotoServer) -> Provisioned:
    return new_stack(moto.url)


@pytest.fixture
def boto(moto: MotoServer) -> Boto:
    return Boto(moto.url)


@pytest.fixture
def api(stack: Provisioned, faults: FaultProxy) -> Iterator[Api]:
    """The Order API on a fresh stack; its AWS traffic passes the fault proxy."""
    client = Api(settings_for(stack), faults.url)
    yield client
    client.close()


@pytest.fixture
def outbox(stack: Provisioned, moto: MotoServer) -> Iterator[Outbox]:
    """The order publisher on the stack's Orders stream, straight to moto (no faults)."""
    relay = Outbox(stack, moto.url)
    yield relay
    relay.close()


@pytest.fixture(scope="module")
def emulator() -> Iterator[MotoProcess]:
    """The emulator process ``orders up`` runs (moto with this project's fixes), one a module."""
    process = MotoProcess("127.0.0.1", free_port())
    process.start()
    yield process
    process.stop()
