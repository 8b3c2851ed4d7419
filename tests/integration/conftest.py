from collections.abc import Iterator

import pytest

from local.provision import Provisioned
from tests.support.api import Api, settings_for
from tests.support.aws import Boto, new_stack
from tests.support.fault_proxy import FaultProxy
from tests.support.moto_server import MotoServer


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
