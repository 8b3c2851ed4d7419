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
    ("target", "args", "message"),
    [
        ("package-args", [], "BUCKET=<S3 bucket for artifacts"),
        ("deploy", [], "BUCKET=<S3 bucket for artifacts"),
        ("deploy-args", ["ENV=qa"], "ENV must be dev, staging or prod"),
        ("ship", ["ENV=../../etc/passwd"], "ENV must be dev, staging or prod"),
        ("package-args", ["BUCKET=My_Bucket"], "BUCKET=<S3 bucket for artifacts"),
        ("package-args", ["BUCKET=" + "a" * 64], "BUCKET=<S3 bucket for artifacts"),
        ("package", ['BUCKET=x"; touch pwned; "'], "BUCKET=<S3 bucket for artifacts"),
        ("plan", ["STACK=two words"], "STACK must be a CloudFormation stack name"),
        ("execute", ["STACK=" + "s" * 129], "STACK must be a CloudFormation stack name"),
        ("smoke", ["STACK=$(touch pwned)"], "STACK must be a CloudFormation stack name"),
    ],
)
def test_bad_deploy_arguments_stop_before_anything_runs(
    target: str, args: list[str], message: str
) -> None:
    result = _make(target, *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert not (ROOT / "pwned").exists()


def test_good_deploy_arguments_pass() -> None:
    result = _make(
        "deploy-args",
        "package-args",
        "BUCKET=my-artifacts.eu",
        "ENV=staging",
        "STACK=orders-staging",
    )
    assert (result.returncode, result.stderr) == (0, "")


def _steps(dry_run: subprocess.CompletedProcess[str]) -> list[str]:
    assert dry_run.returncode == 0, dry_run.stderr
    lines = dry_run.stdout.replace("\\\n", " ").splitlines()
    return [" ".join(line.split()) for line in lines if line.startswith(".venv/bin/")]


def test_deploy_builds_then_packages_then_ships_through_a_change_set() -> None:
    bundle, package, ship = _steps(_make("-n", "deploy", "BUCKET=my-artifacts", "ENV=prod"))
    assert bundle.startswith(".venv/bin/python -m cfn.bundle")
    assert '--params "cfn/params/$ENV.json"' in bundle
    assert package.startswith(".venv/bin/aws cloudformation package")
    assert '--s3-bucket "$BUCKET"' in package
    assert "--output-template-file dist/packaged.yaml" in package
    assert ship.startswith(".venv/bin/python -m cfn.deploy deploy")
    assert '--stack "$STACK" --template dist/packaged.yaml' in ship
    assert '--params "cfn/params/$ENV.json"' in ship


def test_ci_and_people_run_the_same_steps() -> None:
    """The workflow calls the same make targets (build, package, ship/plan/execute) that
    `make deploy` chains; what each runs is the same line."""
    deploy = _steps(_make("-n", "deploy", "BUCKET=my-artifacts", "ENV=dev"))
    one_by_one = [
        *_steps(_make("-n", "build")),
        *_steps(_make("-n", "package", "BUCKET=my-artifacts")),
        *_steps(_make("-n", "ship", "ENV=dev")),
    ]
    assert deploy == one_by_one
    plan, execute = (
        _steps(_make("-n", "plan", "ENV=prod"))[0],
        _steps(_make("-n", "execute", "ENV=prod", "CHANGE_SET=gh-1-1"))[0],
    )
    assert plan.replace(" plan ", " deploy ") == deploy[2]
    assert execute.startswith(".venv/bin/python -m cfn.deploy execute --stack")


def test_every_environment_deploys_the_same_zips() -> None:
    """Build once, deploy many: one architecture in every parameter file."""
    from cfn.bundle import architecture_from_params

    params = sorted((ROOT / "cfn" / "params").glob("*.json"))
    assert [p.stem for p in params] == ["dev", "prod", "staging"]
    assert {architecture_from_params(p) for p in params} == {"arm64"}
