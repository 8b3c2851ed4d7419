"""The function zips run on Lambda's python3.13 with nothing but what they carry."""

import glob
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from cfn.bundle import FUNCTIONS, MAX_ZIP_BYTES, ROOT, FunctionBundle
from tests.support.commands import run

# Run inside the unpacked zip by python3.13 in isolated mode (-I: no user site, no PYTHON*
# variables, no current folder) without the site module (-S: no site-packages at all).
PROBE = """
import asyncio, importlib, json, os, sys, sysconfig
bundle, handler_module, services = sys.argv[1], sys.argv[2], sys.argv[3].split(",")
sys.path.insert(0, bundle)
module = importlib.import_module(handler_module)
assert callable(module.handler), "no callable handler"
import tenacity  # imported lazily, on the first retry

async def clients():
    import aioboto3
    session = aioboto3.Session(aws_access_key_id="x", aws_secret_access_key="x")
    for service in services:
        async with session.client(service, region_name="us-east-1"):
            pass

asyncio.run(clients())
stdlib = {os.path.realpath(sysconfig.get_paths()[key]) for key in ("stdlib", "platstdlib")}
outside = sorted(
    name for name, mod in list(sys.modules.items())
    if getattr(mod, "__file__", None)
    and not os.path.realpath(mod.__file__).startswith((os.path.realpath(bundle), *stdlib))
)
import botocore
print(json.dumps({"outside": outside, "version": sys.version_info[:2], "botocore": botocore.__version__}))
"""


def python313() -> str:
    """The python3.13 of this machine (the Lambda runtime's version)."""
    candidates = [os.environ.get("PYTHON313", ""), shutil.which("python3.13") or ""]
    candidates += sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.13*/bin/python3.13")))
    candidates += sorted(glob.glob("/opt/hostedtoolcache/Python/3.13*/x64/bin/python3.13"))
    for candidate in filter(None, candidates):
        if (
            subprocess.run([candidate, "-c", "pass"], capture_output=True, check=False).returncode
            == 0
        ):
            return candidate
    pytest.fail("no working python3.13 on this machine (set PYTHON313 to its path)")


def _locked(package: str) -> str:
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        name, _, version = line.partition("==")
        if name.lower() == package:
            return version
    raise AssertionError(f"{package} is not in requirements.lock")


@pytest.mark.parametrize("bundle", FUNCTIONS, ids=lambda bundle: bundle.name)
def test_zip_imports_its_handler_under_python313_with_no_other_site_packages(
    bundle: FunctionBundle, x86_64_zips: Path, tmp_path: Path
) -> None:
    archive = x86_64_zips / bundle.zip_name
    assert archive.stat().st_size <= MAX_ZIP_BYTES
    unpacked = tmp_path / "task"
    unpacked.mkdir()
    with zipfile.ZipFile(archive) as opened:
        opened.extractall(unpacked)
    result = subprocess.run(
        [
            python313(),
            "-I",
            "-S",
            "-c",
            PROBE,
            str(unpacked),
            bundle.handler_module,
            ",".join(bundle.aws_services),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.splitlines()[-1])
    assert report["version"] == [3, 13]
    assert report["outside"] == []
    assert report["botocore"] == _locked("botocore")  # the one aioboto3 pins, not Lambda's


def test_each_zip_holds_only_its_functions_code_and_service_models(x86_64_zips: Path) -> None:
    for bundle in FUNCTIONS:
        with zipfile.ZipFile(x86_64_zips / bundle.zip_name) as opened:
            names = opened.namelist()
        project = {name.split("/")[0] for name in names} & {
            "api",
            "consumers",
            "contracts",
            "runtime",
            "local",
            "tests",
            "cfn",
        }
        assert project == set(bundle.packages), bundle.name
        models = {
            name.split("/")[2]
            for name in names
            if name.startswith("botocore/data/") and name.count("/") > 2
        }
        assert models == set(bundle.aws_services), bundle.name
        assert not [name for name in names if "__pycache__" in name or name.endswith(".pyc")]


def _bundle(*args: str) -> subprocess.CompletedProcess[str]:
    return run(sys.executable, "-m", "cfn.bundle", *args)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--arch", "sparc"], "argument --arch: invalid choice: 'sparc'"),
        (["--arch", "arm64", "--params", "cfn/params/dev.json"], "not allowed with argument"),
        (["--params", "cfn/params/none.json"], "--params: no such file: cfn/params/none.json"),
        (["--arch"], "argument --arch: expected one argument"),
    ],
)
def test_bad_arguments_are_refused_with_a_precise_message(args: list[str], message: str) -> None:
    result = _bundle(*args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "is not a JSON file"),
        ('{"Architecture": "arm64"}', 'must be a JSON list of "Key=Value" strings'),
        ('["Architecture"]', 'must be a JSON list of "Key=Value" strings'),
        ('["Architecture=../../etc/passwd"]', "not '../../etc/passwd'"),
        ('["Architecture=' + "x" * 100_000 + '"]', "not '" + "x" * 40 + "...'"),
        (b"\xff\xfe\x00".decode("latin-1"), "is not a JSON file"),
    ],
)
def test_bad_parameter_files_are_refused_naming_the_problem(
    content: str, message: str, tmp_path: Path
) -> None:
    params = tmp_path / "params.json"
    params.write_text(content, encoding="latin-1")
    result = _bundle("--params", str(params), "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr) < 400
    assert not (tmp_path / "out").exists()
