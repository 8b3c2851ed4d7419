"""``orders cost``: every way its input can be wrong gets one clear line and exit code 2."""

import json
from pathlib import Path

import pytest

from load.cost import PRICES
from local.cli import main

COUNTS = {
    "orders": 10,
    "emails": 10,
    "loop_ms": 150.0,
    "architecture": "arm64",
    "functions": {
        "order-api": {
            "memory_mb": 512,
            "invocations": 10,
            "duration_ms": 100.0,
            "cpu_ms": 60.0,
            "log_bytes": 9000,
            "cold_starts": 1,
            "init_ms": 800.0,
        },
    },
    "aws": [
        {
            "caller": "order-api",
            "call": "dynamodb.PutItem",
            "resource": "dev-Orders",
            "requests": 10,
            "billed_requests": 10,
            "write_units": 10,
            "index_write_units": 0,
            "read_units": 0,
        },
    ],
}


def _run(folder: Path, counts: object = COUNTS) -> Path:
    folder.mkdir(parents=True)
    (folder / "summary.json").write_text(json.dumps({"aws_cost": {"counts": counts}}))
    return folder


def test_a_run_is_priced_line_by_line_and_for_a_month(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = _run(tmp_path / "steady-1")
    assert main(["cost", str(run), "--orders-per-month", "1e6"]) == 0
    out = capsys.readouterr().out
    assert "$     3.50  API Gateway: REST API requests" in out
    assert "$     0.62  DynamoDB: write request units, dev-Orders" in out
    assert "$   100.00  SES: emails (email)" in out
    assert "at 1,000,000 orders a month" in out


def test_without_a_run_the_newest_under_var_load_is_priced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    _run(tmp_path / "var" / "load" / "smoke-1")
    assert main(["cost"]) == 0
    assert "smoke-1" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "counts", "message"),
    [
        ([], None, "no run of orders load with cost counts under var/load/"),
        (["nowhere"], None, "cannot read nowhere/summary.json"),
        (["RUN"], {"orders": "ten"}, "holds no cost counts"),
        (["RUN"], [1, 2], "holds no cost counts"),
        (["RUN"], {**COUNTS, "orders": 0}, "the run accepted no order"),
        (["RUN", "--prices", "missing.toml"], COUNTS, "missing.toml: cannot read it"),
    ],
)
def test_bad_input_is_one_clear_line(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    counts: object,
    message: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    if counts is not None:
        _run(tmp_path / "RUN", counts)
    assert main(["cost", *args]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_a_summary_that_is_not_json_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "summary.json").write_bytes(b"\xff\x00 not json")
    assert main(["cost", str(tmp_path / "summary.json")]) == 2
    assert "holds no cost counts" in capsys.readouterr().err


@pytest.mark.parametrize("volume", ["0", "-5", "lots", "1e13", "nan"])
def test_a_bad_volume_is_refused_by_the_parser(
    volume: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_code:
        main(["cost", "--orders-per-month", volume])
    assert exit_code.value.code == 2
    assert "--orders-per-month" in capsys.readouterr().err


def test_the_default_price_table_is_the_committed_one() -> None:
    assert PRICES.name == "us-east-1.toml"
    assert PRICES.is_file()


def test_the_readme_shows_what_orders_cost_makes_of_the_committed_run(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """README's "What it costs" table is this run priced by this table: it cannot drift."""
    root = Path(__file__).resolve().parents[2]
    assert main(["cost", str(root / "load" / "examples" / "steady-cost.json")]) == 0
    out = capsys.readouterr().out
    readme = (root / "README.md").read_text(encoding="utf-8")
    total = out.split(" per million orders in all")[0].rsplit("$", 1)[1]
    without_email = out.split(" without email at all")[0].rsplit("$", 1)[1]
    assert f"**{total}**" in readme
    assert f"{without_email} without email at all" in readme
