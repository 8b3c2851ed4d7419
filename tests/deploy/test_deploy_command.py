"""`make deploy` checks its arguments before doing anything, and runs package before deploy."""

import shutil
import subprocess

import pytest

from cfn.bundle import ROOT
from tests.support.commands import run

MAKE = shutil.which("make") or "make"


def _make(*args: str) -> subprocess.CompletedProcess[str]:
    return run(MAKE, "-s", "--no-print-directory", *args)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "BUCKET=<S3 bucket for artifacts"),
        (["BUCKET=my-artifacts", "ENV=qa"], "ENV must be dev, staging or prod"),
        (["BUCKET=my-artifacts", "ENV=../../etc/passwd"], "ENV must be dev, staging or prod"),
        (["BUCKET=My_Bucket"], "BUCKET=<S3 bucket for artifacts"),
        (["BUCKET=" + "a" * 64], "BUCKET=<S3 bucket for artifacts"),
        (['BUCKET=x"; touch pwned; "'], "BUCKET=<S3 bucket for artifacts"),
        (["BUCKET=my-artifacts", "STACK=two words"], "STACK must be a CloudFormation stack name"),
        (
            ["BUCKET=my-artifacts", "STACK=" + "s" * 129],
            "STACK must be a CloudFormation stack name",
        ),
    ],
)
def test_bad_deploy_arguments_stop_before_anything_runs(args: list[str], message: str) -> None:
    result = _make("deploy-args", *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert not (ROOT / "pwned").exists()


def test_good_deploy_arguments_pass() -> None:
    result = _make("deploy-args", "BUCKET=my-artifacts.eu", "ENV=staging", "STACK=orders-staging")
    assert (result.returncode, result.stderr) == (0, "")


def test_deploy_builds_for_the_environment_then_packages_then_deploys() -> None:
    dry_run = _make("-n", "deploy", "BUCKET=my-artifacts", "ENV=prod")
    assert dry_run.returncode == 0, dry_run.stderr
    lines = dry_run.stdout.replace("\\\n", " ").splitlines()
    steps = [line.split()[:3] for line in lines if line.startswith(".venv/bin/")]
    assert steps[:3] == [
        [".venv/bin/python", "-m", "cfn.bundle"],
        [".venv/bin/aws", "cloudformation", "package"],
        [".venv/bin/aws", "cloudformation", "deploy"],
    ]
    bundle, package, deploy = [
        " ".join(line.split()) for line in lines if line.startswith(".venv/bin/")
    ][:3]
    assert "--params cfn/params/prod.json" in bundle
    assert "--s3-bucket my-artifacts" in package
    assert "--output-template-file dist/packaged-prod.yaml" in package
    assert "--template-file dist/packaged-prod.yaml" in deploy
    assert "--stack-name prod-order-pipeline" in deploy
    # The environment's parameters plus the CodeVersion of the zips just built (cfn.bundle).
    assert "--parameter-overrides file://dist/lambda/parameters.json" in deploy
    assert "--capabilities CAPABILITY_IAM" in deploy
