"""Session-wide real components: a moto server over HTTP and a fault proxy in front of it; and
which tests are slow (``pytest -m "not slow"`` is the quick part; ``make test`` runs all, on
every core: each test owns its ports, stacks and folders, and waits on events that hold with
the other workers busy beside it)."""

import os
from collections.abc import Iterator
from typing import Any

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


# Modules that share a session fixture costing tens of seconds: make test (pytest-xdist) runs
# them on one worker, so that it is built once. Every other module is a unit of its own, whole
# on one worker, so that its module-scoped stack boots once.
SHARED_FIXTURE_TIMEOUT = 480
SAME_WORKER = {
    "tests/deploy/test_bundle.py": "x86_64_zips",
    "tests/deploy/test_lint.py": "x86_64_zips",
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    root = config.rootpath
    for item in items:
        path = item.path.relative_to(root).as_posix()
        if any(path.startswith(prefix) for prefix in SLOW_MODULES):
            item.add_marker(pytest.mark.slow)
        for name in set(SAME_WORKER.values()) & set(getattr(item, "fixturenames", ())):
            if SAME_WORKER.get(path) != name:
                raise pytest.UsageError(f"{path} uses {name}: add it to SAME_WORKER")
            # Whichever test builds the zips first waits for the build: about 60 s here beside
            # the other worker, so 3x slower machines need more than the default 120 s.
            item.add_marker(pytest.mark.timeout(SHARED_FIXTURE_TIMEOUT))
    # The slow modules first, whole: on several workers the longest units start first, so the
    # run does not end with one worker on a long module while the other is idle.
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Whole modules to workers (``--dist loadgroup`` cannot: pytest 9 ignores the node id
    it rewrites), the modules of ``SAME_WORKER`` together."""
    from xdist.scheduler import LoadScopeScheduling  # type: ignore[import-untyped]

    class ModuleScheduling(LoadScopeScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return SAME_WORKER.get(module, module)

    config.option.loadscopereorder = False  # keep the order above
    return ModuleScheduling(config, log)


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
