"""The x86_64 Lambda zips, built once per test run by the real bundler (pip, Lambda wheels)."""

import sys
from pathlib import Path

import pytest

from cfn.bundle import FUNCTIONS
from tests.support.commands import run


@pytest.fixture(scope="session")
def x86_64_zips(tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config) -> Path:
    out = tmp_path_factory.mktemp("lambda")
    built = run(
        sys.executable, "-m", "cfn.bundle", "--arch", "x86_64", "--out", str(out), timeout=450
    )
    assert built.returncode == 0, built.stderr
    # Each zip's size, in the test run's own output (outside pytest's capture).
    capture = pytestconfig.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled():
        for line in built.stdout.splitlines():
            print(f"\nlambda zip: {line}", end="")
        print()
    assert sorted(p.name for p in out.iterdir()) == sorted(f.zip_name for f in FUNCTIONS)
    return out
