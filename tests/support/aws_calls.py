"""Which AWS API actions a function's code can call, read from the code itself.

The handler module is imported in a fresh interpreter to learn which project modules it loads;
each of those modules is parsed, and every method call whose name is an operation of an AWS
client the project uses (``put_item``, ``publish``, ...) becomes an IAM action
(``dynamodb:PutItem``, ``sns:Publish``). A role test compares this with the role's policy, so a
new call without its permission, or a permission no code uses, fails.
"""

import ast
import json
import subprocess
import sys
from functools import cache
from pathlib import Path

import botocore.session
from botocore import xform_name

ROOT = Path(__file__).resolve().parents[2]
PROJECT_PACKAGES = ("api", "consumers", "contracts", "runtime", "local")
# botocore service name -> IAM action prefix, for every client the project creates.
IAM_PREFIX = {
    "dynamodb": "dynamodb",
    "sns": "sns",
    "sqs": "sqs",
    "sesv2": "ses",
    "secretsmanager": "secretsmanager",
}


# Batch operations IAM authorises under the single operation's action.
AUTHORISED_AS = {
    "sns:PublishBatch": "sns:Publish",
    "sqs:SendMessageBatch": "sqs:SendMessage",
    "sqs:DeleteMessageBatch": "sqs:DeleteMessage",
    "sqs:ChangeMessageVisibilityBatch": "sqs:ChangeMessageVisibility",
}


@cache
def _operations() -> dict[str, set[str]]:
    """Client method name -> the IAM actions of the services that have such an operation."""
    session = botocore.session.get_session()
    methods: dict[str, set[str]] = {}
    for service, prefix in IAM_PREFIX.items():
        for operation in session.get_service_model(service).operation_names:
            action = f"{prefix}:{operation}"
            methods.setdefault(xform_name(operation), set()).add(AUTHORISED_AS.get(action, action))
    return methods


def project_modules_loaded_by(module: str) -> list[str]:
    code = (
        "import importlib, json, sys\n"
        f"importlib.import_module({module!r})\n"
        f"print(json.dumps(sorted(n for n in sys.modules if n.split('.')[0] in {PROJECT_PACKAGES!r})))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout
    modules: list[str] = json.loads(out)
    return modules


def _source_file(module: str) -> Path:
    path = ROOT.joinpath(*module.split("."))
    return path / "__init__.py" if path.is_dir() else path.with_suffix(".py")


def actions_called_by(handler_module: str) -> set[str]:
    """IAM actions of every AWS operation called in the modules the handler loads."""
    found: set[str] = set()
    for module in project_modules_loaded_by(handler_module):
        tree = ast.parse(_source_file(module).read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                actions = _operations().get(node.func.attr, set())
                assert len(actions) <= 1, f"{module}: {node.func.attr} is ambiguous: {actions}"
                found |= actions
    return found
