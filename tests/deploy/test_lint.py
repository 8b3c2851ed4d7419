"""cfn-lint and checkov pass over the templates, and over what `aws cloudformation package` makes."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

import boto3
import pytest

from cfn.bundle import FUNCTIONS, ROOT
from tests.support.cfn import CFN, TEMPLATES, template
from tests.support.commands import run
from tests.support.moto_server import MotoServer

BIN = Path(sys.executable).parent
CHECKOV = Path(os.environ.get("CHECKOV", ROOT / ".venv-checkov" / "bin" / "checkov"))


def _cfn_lint(*args: str) -> subprocess.CompletedProcess[str]:
    return run(str(BIN / "cfn-lint"), *args, timeout=300)


def test_cfn_lint_finds_nothing_in_the_source_templates() -> None:
    """W3002 ("may only work with 'package'") is the one check left out here: the local
    nested-template and zip paths are what `aws cloudformation package` rewrites. The packaged
    templates are linted below with no check left out."""
    result = _cfn_lint("--ignore-checks", "W3002", "--", *(str(CFN / name) for name in TEMPLATES))
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def _checkov_report() -> dict[str, object]:
    if not CHECKOV.exists():
        pytest.fail(
            f"checkov is not installed at {CHECKOV}: `make test` installs it from cfn/checkov.lock"
        )
    result = run(
        str(CHECKOV),
        "-d",
        str(CFN),
        "--framework",
        "cloudformation",
        "--skip-download",
        "-o",
        "json",
        timeout=300,
    )
    report: dict[str, object] = json.loads(result.stdout)
    return report


def test_checkov_fails_no_check_and_every_skip_is_inline_with_a_reason() -> None:
    report = _checkov_report()
    summary = report["summary"]
    assert isinstance(summary, dict)
    assert summary["failed"] == 0, json.dumps(report["results"], indent=1)[:4000]
    assert summary["parsing_errors"] == 0
    assert summary["resource_count"] >= 60  # every template was read
    results = report["results"]
    assert isinstance(results, dict)
    for skipped in results["skipped_checks"]:
        reason = skipped["check_result"].get("suppress_comment", "")
        assert len(reason) >= 40, f"{skipped['check_id']} on {skipped['resource']}: {reason!r}"


def test_every_checkov_skip_in_the_templates_names_a_check_and_gives_its_reason() -> None:
    skips = [
        (name, logical_id, skip)
        for name in TEMPLATES
        for logical_id, resource in template(name)["Resources"].items()
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", [])
    ]
    assert skips
    for name, logical_id, skip in skips:
        assert set(skip) == {"id", "comment"}, (name, logical_id)
        assert re.fullmatch(r"CKV2?_AWS_[0-9]+", skip["id"]), (name, logical_id)
        assert len(skip["comment"]) >= 40, (name, logical_id)


@pytest.fixture(scope="module")
def packaged(x86_64_zips: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`aws cloudformation package` run for real, against moto's S3 (no AWS account here)."""
    work = tmp_path_factory.mktemp("package")
    shutil.copytree(
        CFN, work / "cfn", ignore=shutil.ignore_patterns("*.py", "__pycache__", "*.lock")
    )
    shutil.copytree(x86_64_zips, work / "dist" / "lambda")
    server = MotoServer().start()
    try:
        s3 = boto3.client("s3", endpoint_url=server.url, region_name="us-east-1")
        s3.create_bucket(Bucket="artifacts")
        out = work / "packaged"
        out.mkdir()
        command = [
            str(BIN / "aws"),
            "cloudformation",
            "package",
            "--template-file",
            str(work / "cfn" / "root.yaml"),
        ]
        command += ["--s3-bucket", "artifacts", "--output-template-file", str(out / "root.yaml")]
        command += ["--region", "us-east-1"]
        # package uploads through its S3 client: point that one at moto.
        env = {**os.environ, "AWS_ENDPOINT_URL_S3": server.url}
        result = run(*command, timeout=300, env=env)
        assert result.returncode == 0, result.stderr
        # Bring the uploaded nested templates back, to lint what CloudFormation would read.
        root = (out / "root.yaml").read_text()
        for url in sorted({word for word in root.split() if word.startswith("http")}):
            key = urlparse(url).path.rsplit("/", 1)[-1]
            body = s3.get_object(Bucket="artifacts", Key=key)["Body"].read()
            (out / f"{key}.yaml").write_bytes(body)
            # Against AWS, package writes the bucket's regional S3 URL; only the emulator's
            # address differs, and cfn-lint reads anything but an S3 URL as a local path.
            root = root.replace(url, f"https://s3.us-east-1.amazonaws.com/artifacts/{key}")
        (out / "root.yaml").write_text(root)
        sizes = {o["Key"]: o["Size"] for o in s3.list_objects_v2(Bucket="artifacts")["Contents"]}
        (out / "objects.json").write_text(json.dumps(sizes))
    finally:
        server.stop()
    return out


def test_package_uploads_the_nested_templates_and_every_zip(
    packaged: Path, x86_64_zips: Path
) -> None:
    sizes = json.loads((packaged / "objects.json").read_text())
    nested = list(packaged.glob("*.template.yaml")) or [
        p for p in packaged.glob("*.yaml") if p.name != "root.yaml"
    ]
    assert len(nested) == 5
    zip_sizes = sorted((x86_64_zips / f.zip_name).stat().st_size for f in FUNCTIONS)
    assert sorted(size for size in sizes.values() if size in zip_sizes) == zip_sizes
    functions = next(p for p in nested if "AWS::Lambda::Function" in p.read_text())
    text = functions.read_text()
    assert "../dist/lambda" not in text
    assert text.count("S3Bucket: artifacts") == len(FUNCTIONS)


def test_cfn_lint_finds_nothing_in_the_packaged_templates(packaged: Path) -> None:
    result = _cfn_lint("--", *(str(p) for p in sorted(packaged.glob("*.yaml"))))
    assert (result.returncode, result.stdout + result.stderr) == (0, "")
