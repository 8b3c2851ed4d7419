"""The function zips run on Lambda's python3.13 with nothing but what they carry."""

import functools
import json
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import botocore
import botocore.session
import email_validator.rfc_constants
import pytest
from botocore.model import ServiceModel
from botocore.regions import EndpointResolver

from cfn.bundle import (
    FUNCTIONS,
    MAX_ZIP_BYTES,
    ROOT,
    BundleError,
    fast_email_classes,
    pruned_endpoints,
    runtime_python,
    without_documentation,
)
from runtime.functions import LambdaFunction
from tests.support.commands import run

# Put in place of every source file of the unpacked zip: a module compiled from its source
# instead of loaded from the zip's bytecode fails to import, naming itself.
NOT_FROM_SOURCE = (
    "raise ImportError('compiled from source, not loaded from the bytecode: ' + __file__)\n"
)

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
print(json.dumps({
    "outside": outside,
    "version": sys.version_info[:2],
    "botocore": botocore.__version__,
    "dont_write_bytecode": sys.dont_write_bytecode,
    "modules": sum(1 for m in list(sys.modules.values()) if str(getattr(m, "__file__", "")).startswith(bundle)),
}))
"""


def _locked(package: str) -> str:
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        name, _, version = line.partition("==")
        if name.lower() == package:
            return version
    raise AssertionError(f"{package} is not in requirements.lock")


@pytest.mark.parametrize("bundle", FUNCTIONS, ids=lambda bundle: bundle.name)
def test_zip_runs_its_handler_from_bytecode_under_python313_with_no_other_site_packages(
    bundle: LambdaFunction, x86_64_zips: Path, tmp_path: Path
) -> None:
    """As on Lambda: python3.13, nothing written (-B), nothing but the zip; and every module
    comes from the zip's bytecode, since no source can be compiled."""
    archive = x86_64_zips / bundle.zip_name
    assert archive.stat().st_size <= MAX_ZIP_BYTES
    unpacked = tmp_path / "task"
    unpacked.mkdir()
    with zipfile.ZipFile(archive) as opened:
        opened.extractall(unpacked)
    sources = list(unpacked.rglob("*.py"))
    for source in sources:
        source.write_text(NOT_FROM_SOURCE, encoding="utf-8")
    result = subprocess.run(
        [
            runtime_python(),
            "-I",
            "-S",
            "-B",
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
    assert report["dont_write_bytecode"] is True
    assert report["modules"] > 300  # the handler's whole import graph came from the bytecode


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
        with zipfile.ZipFile(x86_64_zips / bundle.zip_name) as opened:
            endpoints = json.loads(opened.read("botocore/data/endpoints.json"))
        assert {
            name for partition in endpoints["partitions"] for name in partition["services"]
        } <= {_endpoint_prefix(service) for service in bundle.aws_services}, bundle.name
        bytecode = {name for name in names if name.endswith(".pyc")}
        assert all(
            ".cpython-313." in name and "__pycache__" in name.split("/") for name in bytecode
        )
        compiled = {
            name.replace("__pycache__/", "").replace(".cpython-313.pyc", ".py") for name in bytecode
        }
        sources = {name for name in names if name.endswith(".py")}
        assert sources - compiled == set(), bundle.name  # every module has its bytecode
        with zipfile.ZipFile(x86_64_zips / bundle.zip_name) as opened:
            header = opened.read(
                f"{bundle.handler_module.replace('.', '/').rpartition('/')[0]}/__pycache__/handler.cpython-313.pyc"
            )[:8]
        # PEP 552 flags: hash-based (bit 0), not checked against the source (bit 1 clear).
        assert int.from_bytes(header[4:8], "little") == 0b01


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


def _rfc_constants(source: str) -> dict[str, Any]:
    namespace: dict[str, Any] = {}
    exec(compile(source, "rfc_constants.py", "exec"), namespace)  # noqa: S102 - the test's input
    return namespace


EMAIL_CLASSES = ("ATEXT_INTL_DOT_RE", "DOT_ATOM_TEXT_INTL", "ATEXT_HOSTNAME_INTL", "QTEXT_INTL")


def test_email_validators_rewritten_classes_match_the_same_code_points() -> None:
    """Every one of the 1,114,112 code points, alone; the dot-atom pattern on dotted words too."""
    original_source = Path(email_validator.rfc_constants.__file__).read_text(encoding="utf-8")
    original = _rfc_constants(original_source)
    fast = _rfc_constants(fast_email_classes(original_source))
    for name in EMAIL_CLASSES:
        assert fast[name].pattern != original[name].pattern, name  # rewritten
        slow, quick = original[name].match, fast[name].match
        mismatched = [c for c in range(0x110000) if bool(slow(chr(c))) != bool(quick(chr(c)))]
        assert not mismatched, (name, mismatched[:5])
    for text in ("a.b", "a..b", ".a", "a.", "ü.ñ", "a b", "a@b", "x.y.z", "é", "", "a\u0080.b"):
        assert bool(original["DOT_ATOM_TEXT_INTL"].match(text)) == bool(
            fast["DOT_ATOM_TEXT_INTL"].match(text)
        ), text


def test_a_changed_rfc_constants_is_refused_by_name() -> None:
    source = Path(email_validator.rfc_constants.__file__).read_text(encoding="utf-8")
    [line] = [line for line in source.splitlines() if line.startswith("QTEXT_INTL = ")]
    changed = source.replace(line, "QTEXT_INTL = None")
    with pytest.raises(BundleError, match="no longer defines QTEXT_INTL"):
        fast_email_classes(changed)


def _full_endpoints() -> dict[str, Any]:
    data = Path(botocore.__file__).parent / "data" / "endpoints.json"
    loaded: dict[str, Any] = json.loads(data.read_text(encoding="utf-8"))
    return loaded


@functools.cache
def _endpoint_prefix(service: str) -> str:
    return str(botocore.session.get_session().get_service_model(service).endpoint_prefix)


@pytest.mark.parametrize("bundle", FUNCTIONS, ids=lambda bundle: bundle.name)
def test_pruned_endpoints_resolve_every_region_as_the_whole_file_does(
    bundle: LambdaFunction, tmp_path: Path
) -> None:
    """Every region of every partition: the resolver's answer for each of the function's
    services, and the endpoint a client of it is made with."""
    full = _full_endpoints()
    prefixes = {_endpoint_prefix(service) for service in bundle.aws_services}
    pruned = pruned_endpoints(full, prefixes)
    assert [p["partition"] for p in pruned["partitions"]] == [
        p["partition"] for p in full["partitions"]
    ]
    assert len(json.dumps(pruned)) < len(json.dumps(full)) / 20
    (tmp_path / "endpoints.json").write_text(json.dumps(pruned), encoding="utf-8")
    whole, slim = EndpointResolver(full), EndpointResolver(pruned)
    sessions = {"whole": botocore.session.get_session(), "slim": botocore.session.get_session()}
    sessions["slim"].set_config_variable("data_path", str(tmp_path))
    compared = 0
    for partition in full["partitions"]:
        for number, region in enumerate(partition["regions"]):
            for service in bundle.aws_services:
                prefix = _endpoint_prefix(service)
                assert slim.construct_endpoint(prefix, region) == whole.construct_endpoint(
                    prefix, region
                ), (service, region)
                compared += 1
                if number:
                    continue  # a client costs ~10 ms to make: one region of each partition
                made = {
                    name: session.create_client(
                        service,
                        region_name=region,
                        aws_access_key_id="x",
                        aws_secret_access_key="x",
                    ).meta.endpoint_url
                    for name, session in sessions.items()
                }
                assert made["slim"] == made["whole"], (service, region)
    assert compared >= 40 * len(bundle.aws_services)


@pytest.mark.parametrize("service", sorted({s for f in FUNCTIONS for s in f.aws_services}))
def test_a_model_without_documentation_keeps_every_operation_and_shape(service: str) -> None:
    loader = botocore.session.get_session().get_component("data_loader")
    full = loader.load_service_model(service, "service-2")
    slim = without_documentation(full)
    assert "documentation" not in json.dumps(slim).replace('"documentation": {', "")
    assert len(json.dumps(slim)) < len(json.dumps(full)) / 2
    whole, stripped = ServiceModel(full, service), ServiceModel(slim, service)
    assert stripped.operation_names == whole.operation_names
    for name in whole.operation_names:
        for side in ("input_shape", "output_shape"):
            before = getattr(whole.operation_model(name), side)
            after = getattr(stripped.operation_model(name), side)
            assert (after and after.members.keys()) == (before and before.members.keys())
    assert without_documentation({"documentation": {"type": "structure"}}) == {
        "documentation": {"type": "structure"}  # a member so named is a dict, and stays
    }
