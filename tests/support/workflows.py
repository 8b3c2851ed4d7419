"""The delivery rules of SPEC §14 for GitHub Actions workflows, checked on their text.

``problems(text)`` returns one line per broken rule (empty: the workflow keeps them all):

- every action is pinned to a full commit SHA, with its version in a comment;
- the workflow grants nothing by default and each job names its own ``permissions``; only
  deploy jobs (those with an ``environment``) may have ``id-token: write``, nobody writes code;
- every job has a timeout; every deploy job has a per-environment ``concurrency`` group that
  never cancels a running deploy;
- deploy jobs run only for pushes to main, in the order build → dev (+ smoke) → staging
  (+ smoke) → production-plan → production (+ smoke), each through the make targets people
  use, with OIDC role credentials and never with stored keys;
- the zips are built once (the build job) and promoted: deploy jobs download them, only dev
  packages them.
"""

import re
from typing import Any

import yaml

FULL_SHA = re.compile(r"[0-9a-f]{40}")
USES = re.compile(r"^\s*(?:-\s+)?uses:\s*(?P<target>\S+)(?P<comment>\s+#.*)?$")
# Deploy jobs, in promotion order, with their environment and whether a smoke test follows.
DEPLOY_ORDER = (
    ("dev", "dev", True),
    ("staging", "staging", True),
    ("production-plan", "production-plan", False),
    ("production", "production", True),
)
REVIEWED = ("staging", "production")
MAX_TIMEOUT_MINUTES = 90


def load(text: str) -> dict[str, Any]:
    workflow = yaml.safe_load(text)
    if not isinstance(workflow, dict):
        raise ValueError("a workflow is a mapping")
    # YAML 1.1 reads the key `on` as True.
    if True in workflow:
        workflow["on"] = workflow.pop(True)
    return workflow


def pin_problems(text: str) -> list[str]:
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        match = USES.match(line)
        if not match:
            continue
        target = match.group("target").strip("'\"")
        if target.startswith("./"):
            continue
        if target.startswith("docker://"):
            if "@sha256:" not in target:
                found.append(f"line {number}: {target} is not pinned to an image digest")
            continue
        _, _, ref = target.partition("@")
        if not FULL_SHA.fullmatch(ref):
            found.append(f"line {number}: {target} is not pinned to a full commit SHA")
        elif not re.search(r"#\s*v\d", match.group("comment") or ""):
            found.append(f"line {number}: {target} has no version comment (# vX.Y.Z)")
    return found


def _steps_text(job: dict[str, Any]) -> list[str]:
    return [str(step.get("run", "")) for step in job.get("steps", [])]


def _needs(job: dict[str, Any]) -> list[str]:
    needs = job.get("needs", [])
    return [needs] if isinstance(needs, str) else list(needs)


def _environment(job: dict[str, Any]) -> str | None:
    environment = job.get("environment")
    if isinstance(environment, dict):
        return str(environment.get("name"))
    return None if environment is None else str(environment)


def job_problems(name: str, job: dict[str, Any]) -> list[str]:
    found = []
    permissions = job.get("permissions")
    environment = _environment(job)
    if not isinstance(permissions, dict):
        found.append(f"job {name}: no permissions of its own (name each scope it needs)")
        permissions = {}
    for scope, level in permissions.items():
        if level == "write" and scope != "id-token":
            found.append(f"job {name}: {scope}: write is more than delivery needs")
    if permissions.get("id-token") == "write" and environment is None:
        found.append(f"job {name}: id-token: write outside a deploy job (one with an environment)")
    timeout = job.get("timeout-minutes")
    if not isinstance(timeout, int) or not 0 < timeout <= MAX_TIMEOUT_MINUTES:
        found.append(f"job {name}: timeout-minutes must be set (at most {MAX_TIMEOUT_MINUTES})")
    for step in job.get("steps", []):
        with_ = step.get("with", {}) or {}
        if "aws-access-key-id" in with_ or "aws-secret-access-key" in with_:
            found.append(f"job {name}: long-lived AWS keys; assume a role through OIDC instead")
    if environment is not None:
        concurrency = job.get("concurrency")
        if not isinstance(concurrency, dict) or environment not in str(concurrency.get("group")):
            found.append(f"job {name}: no concurrency group for environment {environment}")
        elif concurrency.get("cancel-in-progress") is not False:
            found.append(f"job {name}: cancel-in-progress must be false (never stop a deploy)")
        if permissions.get("id-token") != "write":
            found.append(f"job {name}: deploys without id-token: write (OIDC)")
        roles = [
            step["with"].get("role-to-assume")
            for step in job.get("steps", [])
            if "configure-aws-credentials" in str(step.get("uses", ""))
        ]
        if not roles or not all(roles):
            found.append(f"job {name}: no role-to-assume through configure-aws-credentials")
    return found


def order_problems(jobs: dict[str, Any]) -> list[str]:
    found = []
    previous = "build"
    for name, environment, smoke in DEPLOY_ORDER:
        job = jobs.get(name)
        if job is None:
            found.append(f"job {name} is missing (build → dev → staging → production)")
            previous = name
            continue
        if _environment(job) != environment:
            found.append(f"job {name}: must run in GitHub environment {environment}")
        if previous not in _needs(job):
            found.append(f"job {name}: must need {previous}")
        if "refs/heads/main" not in str(job.get("if", "")) and name == "dev":
            found.append(f"job {name}: must run only for pushes to main")
        runs = _steps_text(job)
        deploy = [i for i, run in enumerate(runs) if re.search(r"\bmake (ship|execute)\b", run)]
        plan = [i for i, run in enumerate(runs) if re.search(r"\bmake plan\b", run)]
        smokes = [i for i, run in enumerate(runs) if re.search(r"\bmake smoke\b", run)]
        if smoke:
            if not deploy:
                found.append(f"job {name}: no deploy step (make ship or make execute)")
            elif not smokes or min(smokes) < max(deploy):
                found.append(f"job {name}: no smoke test (make smoke) after its deploy step")
        elif not plan or deploy:
            found.append(f"job {name}: must make a change set (make plan) and not execute it")
        if any(re.search(r"\bmake (build|deploy)\b", run) for run in runs):
            found.append(f"job {name}: builds again; promote the build job's zips")
        downloads = [
            str((step.get("with") or {}).get("name"))
            for step in job.get("steps", [])
            if "download-artifact" in str(step.get("uses", ""))
        ]
        if name != "production" and "lambda-zips" not in downloads:
            found.append(f"job {name}: does not deploy the build job's zips (lambda-zips)")
        packages = any(re.search(r"\bmake package\b", run) for run in runs)
        if name == "dev" and not packages:
            found.append("job dev: must package the zips (make package) for every environment")
        if name not in ("dev", "production") and (packages or "packaged-template" not in downloads):
            found.append(f"job {name}: must promote dev's packaged-template, not package again")
        previous = name
    build = jobs.get("build")
    if build is None or not any("make build" in run for run in _steps_text(build)):
        found.append("job build: must build the zips once (make build) and upload them")
    if "test" not in _needs(jobs.get("dev", {})):
        found.append("job dev: must need test (nothing deploys untested)")
    return found


def problems(text: str) -> list[str]:
    workflow = load(text)
    found = pin_problems(text)
    if workflow.get("permissions") not in ({}, None, {"contents": "read"}):
        found.append("workflow: default permissions must be {} (each job names its own)")
    jobs = workflow.get("jobs") or {}
    for name, job in jobs.items():
        found += job_problems(name, job)
    if any(_environment(job) for job in jobs.values()):
        found += order_problems(jobs)
    return found
