"""mobile/pyproject.toml: a Briefcase project for Android and iOS that ships exactly what the
tests ran: the same versions of its requirements as the lock file, and only pure-Python ones."""

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _lock() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        name, sep, version = line.partition("==")
        if sep:
            pins[name.lower()] = version
    return pins


def test_the_app_is_configured_for_android_and_ios() -> None:
    project = tomllib.loads((ROOT / "mobile" / "pyproject.toml").read_text())["tool"]["briefcase"]
    app = project["app"]["orders_mobile"]
    assert app["sources"] == ["src/orders_mobile"]
    assert any(r.startswith("toga-android") for r in app["android"]["requires"])
    assert any(r.startswith("toga-iOS") for r in app["iOS"]["requires"])
    assert (ROOT / "mobile" / app["sources"][0] / "__main__.py").exists()


def test_the_app_ships_the_versions_the_tests_ran_and_nothing_compiled() -> None:
    app = tomllib.loads((ROOT / "mobile" / "pyproject.toml").read_text())["tool"]["briefcase"][
        "app"
    ]["orders_mobile"]
    lock = _lock()
    for requirement in app["requires"]:
        name, _, version = requirement.partition("==")
        assert lock[name.lower()] == version, requirement
    # What a phone would have to build from source: none of it may be needed.
    for compiled in ("pydantic", "pydantic-core", "jsonschema", "rpds-py", "orjson"):
        assert all(not r.lower().startswith(compiled) for r in app["requires"])
    assert lock["toga-core"] == "0.5.7"
