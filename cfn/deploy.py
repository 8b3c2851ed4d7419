"""Deploy a packaged root template through a change set: the one deploy path of ``make deploy``
and of CI.

``python -m cfn.deploy plan|execute|deploy --stack NAME ...``

- ``plan`` creates a change set with its nested stacks' change sets (``IncludeNestedStacks``),
  waits for it and prints every change, stack by stack; ``--summary FILE`` appends the same as
  a Markdown table (CI passes ``$GITHUB_STEP_SUMMARY``, so reviewers read it before approving).
- ``execute`` runs a planned change set by name and waits for the stack; on a failure it prints
  the failed resources and their reasons (CloudFormation has rolled the stack back).
- ``deploy`` is both.

Parameters are the environment's file (``cfn/params/ENV.json``) plus ``CodeVersion`` of the
zips the template was packaged from (``--code dist/lambda``), so the zips built once are
promoted unchanged from dev to staging to production. boto3 waiters poll; no fixed sleeps.
"""

import argparse
import datetime
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError, WaiterError
from botocore.parsers import ResponseParserError

from cfn.bundle import FUNCTIONS, BundleError, deploy_parameters

CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"]
# CloudFormation takes a template body of at most 51,200 bytes; a larger one goes by S3 URL.
MAX_BODY_BYTES = 51_200
NO_CHANGES = ("didn't contain changes", "No updates are to be performed")
CLOUDFORMATION_NAME = re.compile(r"[A-Za-z][A-Za-z0-9-]{0,127}")


class DeployError(Exception):
    """A deploy that cannot go on; the message says why and what to do."""


@dataclass(frozen=True)
class Change:
    """One resource change of a change set, with the path of stacks it sits in."""

    stack: str
    action: str
    logical_id: str
    resource_type: str
    replacement: str

    def row(self) -> tuple[str, ...]:
        return (self.stack, self.action, self.logical_id, self.resource_type, self.replacement)


def parameters(params: Path, code: Path) -> list[dict[str, str]]:
    missing = [f.zip_name for f in FUNCTIONS if not (code / f.zip_name).is_file()]
    if missing:
        raise DeployError(
            f"{code} lacks {', '.join(missing)}: the zips the template was packaged from "
            "(make build, or the CI artifact)"
        )
    entries = deploy_parameters(params, code)
    return [
        {"ParameterKey": key, "ParameterValue": value}
        for key, value in (entry.split("=", 1) for entry in entries)
    ]


def default_name() -> str:
    return "deploy-" + datetime.datetime.now(datetime.UTC).strftime("%Y%m%d-%H%M%S")


def no_changes(described: dict[str, Any]) -> bool:
    reason = str(described.get("StatusReason", ""))
    return described.get("Status") == "FAILED" and any(text in reason for text in NO_CHANGES)


def changes(cloudformation: Any, stack: str, change_set: str, path: str = "") -> list[Change]:
    """Every resource change, descending into the change sets of nested stacks."""
    path = path or stack
    found: list[Change] = []
    token: str | None = None
    while True:
        kwargs = {"StackName": stack, "ChangeSetName": change_set}
        described = cloudformation.describe_change_set(
            **kwargs, **({"NextToken": token} if token else {})
        )
        for entry in described.get("Changes", []):
            resource = entry.get("ResourceChange", {})
            found.append(
                Change(
                    path,
                    resource.get("Action", "?"),
                    resource.get("LogicalResourceId", "?"),
                    resource.get("ResourceType", "?"),
                    str(resource.get("Replacement", "-") or "-"),
                )
            )
            nested = resource.get("ChangeSetId")
            if nested and resource.get("ResourceType") == "AWS::CloudFormation::Stack":
                found += changes(
                    cloudformation,
                    resource.get("PhysicalResourceId") or nested,
                    nested,
                    f"{path} / {resource.get('LogicalResourceId', '?')}",
                )
        token = described.get("NextToken")
        if not token:
            return found


def table(rows: Iterable[tuple[str, ...]], header: tuple[str, ...]) -> list[str]:
    """Plain columns for a terminal or a CI log."""
    all_rows = [header, *rows]
    widths = [max(len(row[i]) for row in all_rows) for i in range(len(header))]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in all_rows
    ]


def markdown(stack: str, change_set: str, found: Sequence[Change]) -> str:
    lines = [f"### Change set `{change_set}` for stack `{stack}`", ""]
    if not found:
        return "\n".join([*lines, "No changes: the stack already matches this template.", ""])
    lines += [
        "| stack | action | logical id | type | replacement |",
        "|---|---|---|---|---|",
    ]
    lines += [
        "| " + " | ".join(cell.replace("|", "\\|") for cell in change.row()) + " |"
        for change in found
    ]
    counts = {
        action: sum(c.action == action for c in found) for action in ("Add", "Modify", "Remove")
    }
    lines += ["", ", ".join(f"{n} {action.lower()}" for action, n in counts.items()), ""]
    return "\n".join(lines)


class StackDeployer:
    """Change sets of one stack, through a CloudFormation client handed in."""

    def __init__(self, cloudformation: Any, stack: str, out: Any = sys.stdout):
        self._cf = cloudformation
        self._stack = stack
        self._out = out

    def say(self, line: str) -> None:
        print(line, file=self._out, flush=True)

    def _status(self) -> str | None:
        try:
            stacks = self._cf.describe_stacks(StackName=self._stack)["Stacks"]
        except ClientError as exc:
            if "does not exist" in str(exc):
                return None
            raise
        return str(stacks[0]["StackStatus"])

    def plan(
        self,
        template: Path,
        params: list[dict[str, str]],
        name: str,
        role_arn: str | None = None,
        summary: Path | None = None,
        poll_seconds: int = 5,
    ) -> list[Change] | None:
        """Creates the change set and reports it; None when there is nothing to change."""
        body = template.read_text(encoding="utf-8")
        if len(body.encode()) > MAX_BODY_BYTES:
            raise DeployError(
                f"{template} is over CloudFormation's {MAX_BODY_BYTES} bytes for a template body"
            )
        status = self._status()
        if (
            status is not None
            and status.endswith("_IN_PROGRESS")
            and status != "REVIEW_IN_PROGRESS"
        ):
            raise DeployError(f"stack {self._stack} is busy ({status}); wait for it and retry")
        if status == "ROLLBACK_COMPLETE":
            raise DeployError(
                f"stack {self._stack} is ROLLBACK_COMPLETE (its first create failed): delete it "
                f"(aws cloudformation delete-stack --stack-name {self._stack}) and deploy again"
            )
        kind = "CREATE" if status in (None, "REVIEW_IN_PROGRESS") else "UPDATE"
        request: dict[str, Any] = {
            "StackName": self._stack,
            "ChangeSetName": name,
            "ChangeSetType": kind,
            "TemplateBody": body,
            "Parameters": params,
            "Capabilities": CAPABILITIES,
            "IncludeNestedStacks": True,
            "Description": f"{kind.lower()} of {self._stack} by python -m cfn.deploy",
        }
        if role_arn:
            request["RoleARN"] = role_arn
        self.say(f"change set {name}: creating ({kind} of {self._stack})")
        created = self._create(request, poll_seconds)
        # A change set may change only parameters or outputs: created, with no resource listed.
        found = changes(self._cf, self._stack, name) if created else []
        if created:
            for line in table(
                (c.row() for c in found), ("stack", "action", "logical id", "type", "replacement")
            ):
                self.say(f"  {line}")
        else:
            self.say(f"change set {name}: no changes, the stack already matches")
        if summary:
            with summary.open("a", encoding="utf-8") as file:
                file.write(markdown(self._stack, name, found))
        return found if created else None

    def _create(self, request: dict[str, Any], poll_seconds: int) -> bool:
        """Creates the change set and waits for it; False if it holds no changes."""
        name = request["ChangeSetName"]
        try:
            self._cf.create_change_set(**request)
            self._cf.get_waiter("change_set_create_complete").wait(
                StackName=self._stack,
                ChangeSetName=name,
                WaiterConfig={"Delay": poll_seconds, "MaxAttempts": 720 // poll_seconds},
            )
        except (ClientError, WaiterError) as exc:
            if any(text in str(exc) for text in NO_CHANGES) or (
                isinstance(exc, WaiterError) and no_changes(self._describe(name))
            ):
                return False
            raise DeployError(
                f"change set {name} could not be created: {self._reason(exc, name)}"
            ) from None
        return True

    def _describe(self, name: str) -> dict[str, Any]:
        try:
            described: dict[str, Any] = self._cf.describe_change_set(
                StackName=self._stack, ChangeSetName=name
            )
        except ClientError:
            return {}
        return described

    def _reason(self, exc: Exception, name: str) -> str:
        reason = self._describe(name).get("StatusReason")
        return str(reason or exc)

    def execute(self, name: str, poll_seconds: int = 10) -> dict[str, str]:
        """Runs a planned change set and waits for the stack; its outputs on success."""
        described = self._describe(name)
        if not described:
            raise DeployError(f"stack {self._stack} has no change set {name}: run plan first")
        if no_changes(described):
            self.say(f"change set {name}: nothing to execute (no changes)")
            return self.outputs()
        if described.get("ExecutionStatus") != "AVAILABLE":
            raise DeployError(
                f"change set {name} cannot run: {described.get('ExecutionStatus')} "
                f"{described.get('StatusReason', '')}".rstrip()
            )
        creating = self._status() in (None, "REVIEW_IN_PROGRESS")
        started = datetime.datetime.now(datetime.UTC)
        self.say(f"change set {name}: executing")
        self._cf.execute_change_set(StackName=self._stack, ChangeSetName=name)
        waiter = "stack_create_complete" if creating else "stack_update_complete"
        try:
            self._cf.get_waiter(waiter).wait(
                StackName=self._stack,
                WaiterConfig={"Delay": poll_seconds, "MaxAttempts": 3600 // poll_seconds},
            )
        except WaiterError:
            for line in self.failures(since=started):
                self.say(f"  {line}")
            raise DeployError(
                f"stack {self._stack} did not deploy ({self._status()}); CloudFormation rolled it "
                "back to the last working state (README: Roll back)"
            ) from None
        outputs = self.outputs()
        self.say(f"stack {self._stack}: {self._status()}")
        for key, value in outputs.items():
            self.say(f"  {key} = {value}")
        return outputs

    def failures(self, since: datetime.datetime) -> list[str]:
        """The failed resources of this deploy and why, oldest first."""
        lines = []
        for event in self._cf.describe_stack_events(StackName=self._stack)["StackEvents"]:
            if event["Timestamp"] < since:
                break
            if str(event.get("ResourceStatus", "")).endswith("_FAILED"):
                lines.append(
                    f"{event['LogicalResourceId']} {event['ResourceStatus']}: "
                    f"{event.get('ResourceStatusReason', '')}"
                )
        return lines[::-1]

    def outputs(self) -> dict[str, str]:
        stack = self._cf.describe_stacks(StackName=self._stack)["Stacks"][0]
        return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def cloudformation_name(what: str) -> Callable[[str], str]:
    """An argument type for a stack or change set name (CloudFormation's rule for both)."""

    def parse(text: str) -> str:
        if not CLOUDFORMATION_NAME.fullmatch(text):
            raise argparse.ArgumentTypeError(
                f"{text!r} is not a {what} name (a letter, then letters, digits, -; at most 128)"
            )
        return text

    return parse


def poll_seconds(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 60:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds from 1 to 60")
    return int(text)


def role_arn(text: str) -> str:
    if not re.fullmatch(r"arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}", text):
        raise argparse.ArgumentTypeError(f"{text!r} is not an IAM role ARN")
    return text


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="python -m cfn.deploy",
        description="Deploy a packaged root template through a reviewed change set.",
    )
    commands = root.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in ("plan", "execute", "deploy"):
        sub = commands.add_parser(command)
        sub.add_argument(
            "--stack",
            type=cloudformation_name("stack"),
            required=True,
            help="the root stack's name",
        )
        sub.add_argument(
            "--name",
            type=cloudformation_name("change set"),
            help="the change set's name (default deploy-<UTC time>)",
        )
        sub.add_argument(
            "--poll", type=poll_seconds, default=5, help="seconds between status checks (1-60, 5)"
        )
        if command == "execute":
            continue
        sub.add_argument("--template", type=Path, required=True, help="the packaged root template")
        sub.add_argument(
            "--params", type=Path, required=True, help="the environment's cfn/params/ENV.json"
        )
        sub.add_argument(
            "--code",
            type=Path,
            default=Path("dist/lambda"),
            help="the zips the template was packaged from, for CodeVersion (dist/lambda)",
        )
        sub.add_argument(
            "--role-arn", type=role_arn, help="CloudFormation's service role for this stack"
        )
        sub.add_argument(
            "--summary",
            type=Path,
            help="append the change set as Markdown (e.g. $GITHUB_STEP_SUMMARY)",
        )
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    name = args.name or default_name()
    if args.command == "execute" and not args.name:
        print(
            "python -m cfn.deploy execute: --name of the planned change set is required",
            file=sys.stderr,
        )
        return 2
    try:
        deployer = StackDeployer(boto3.client("cloudformation"), args.stack)
        if args.command in ("plan", "deploy"):
            if not args.template.is_file():
                raise DeployError(f"no packaged template at {args.template}: run make package")
            planned = deployer.plan(
                args.template,
                parameters(args.params, args.code),
                name,
                args.role_arn,
                args.summary,
                args.poll,
            )
            if args.command == "plan" or planned is None:
                return 0
        deployer.execute(name, args.poll)
    except (DeployError, BundleError) as exc:
        print(f"python -m cfn.deploy {args.command}: {exc}", file=sys.stderr)
        return 1
    except (BotoCoreError, ClientError) as exc:
        print(f"python -m cfn.deploy {args.command}: AWS call failed: {exc}", file=sys.stderr)
        return 1
    except ResponseParserError as exc:  # an answer that is not CloudFormation's (a proxy's 500)
        answer = " ".join(str(exc).split())[:300]
        print(
            f"python -m cfn.deploy {args.command}: CloudFormation's answer could not be read "
            f"(not AWS's format; a proxy or an emulator in the way?): {answer}",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
