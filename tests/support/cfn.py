"""Reading the CloudFormation templates of ``cfn/`` the way CloudFormation would, for tests.

Templates are decoded by cfn-lint's own YAML loader (short-form tags become ``Ref``/``Fn::*``).
``Resolver`` evaluates the intrinsic functions the templates use for one set of parameter values
and conditions; a reference it cannot know before deployment (an ARN, a nested output) stays as
a symbol such as ``"EmailQueue.Arn"`` or ``"param:TopicArn"``.
"""

import json
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from cfnlint.decode import decode

CFN = Path(__file__).resolve().parents[2] / "cfn"
TEMPLATES = (
    "root.yaml",
    "data.yaml",
    "messaging.yaml",
    "functions.yaml",
    "api.yaml",
    "monitoring.yaml",
)


@cache
def template(name: str) -> dict[str, Any]:
    decoded, problems = decode(str(CFN / name))
    assert not problems, problems
    plain: dict[str, Any] = json.loads(json.dumps(decoded))
    return plain


def resources(name: str, kind: str) -> dict[str, dict[str, Any]]:
    return {
        logical_id: resource
        for logical_id, resource in template(name)["Resources"].items()
        if resource["Type"] == kind
    }


@dataclass
class Resolver:
    """Evaluates a template's intrinsic functions for given parameters and conditions."""

    name: str
    parameters: dict[str, Any] = field(default_factory=dict)
    conditions: dict[str, bool] = field(default_factory=dict)

    def __post_init__(self) -> None:
        declared = template(self.name).get("Parameters", {})
        for key, spec in declared.items():
            if key not in self.parameters and "Default" in spec:
                self.parameters[key] = spec["Default"]

    def ref(self, target: str) -> Any:
        if target in self.parameters:
            return self.parameters[target]
        if target in template(self.name).get("Parameters", {}):
            return f"param:{target}"
        return target  # a resource: its physical id is known only once deployed

    def condition(self, name: str) -> bool:
        """A condition's value: given by the test, or evaluated from the parameters."""
        if name not in self.conditions:
            self.conditions[name] = self._truth(template(self.name)["Conditions"][name])
        return self.conditions[name]

    def _truth(self, expression: dict[str, Any]) -> bool:
        ((key, arg),) = expression.items()
        if key == "Condition":
            return self.condition(arg)
        if key == "Fn::Equals":
            left, right = (self(part) for part in arg)
            return bool(left == right)
        if key == "Fn::Not":
            return not self._truth(arg[0])
        if key == "Fn::And":
            return all(self._truth(part) for part in arg)
        if key == "Fn::Or":
            return any(self._truth(part) for part in arg)
        raise AssertionError(f"unknown condition function {key}")

    def __call__(self, value: Any) -> Any:
        if isinstance(value, list):
            return [item for item in map(self, value) if item is not _NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return _NO_VALUE if arg == "AWS::NoValue" else self.ref(arg)
            if key == "Fn::GetAtt":
                return ".".join(arg) if isinstance(arg, list) else arg
            if key == "Fn::FindInMap":
                top, second, leaf = (self(part) for part in arg)
                return template(self.name)["Mappings"][top][second][leaf]
            if key == "Fn::If":
                condition, when_true, when_false = arg
                return self(when_true if self.condition(condition) else when_false)
            if key == "Fn::Sub":
                return self._sub(arg)
            if key == "Fn::Select":
                index, items = self(arg)
                return items[int(index)]
            if key == "Fn::Split":
                separator, text = self(arg)
                return text.split(separator)
        resolved = {key: self(item) for key, item in value.items()}
        return {key: item for key, item in resolved.items() if item is not _NO_VALUE}

    def _sub(self, arg: Any) -> str:
        text, local = (arg, {}) if isinstance(arg, str) else (arg[0], self(arg[1]))

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            return str(local[name] if name in local else self.ref(name))

        return re.sub(r"\$\{([^}!]+)\}", replace, text)


class _NoValue:
    def __repr__(self) -> str:
        return "AWS::NoValue"


_NO_VALUE = _NoValue()


def nested_stack_of(child: str) -> tuple[str, dict[str, Any]]:
    """The root's logical id for the nested stack built from ``child`` and the values it passes."""
    for logical_id, resource in resources("root.yaml", "AWS::CloudFormation::Stack").items():
        if resource["Properties"]["TemplateURL"] == child:
            return logical_id, resource["Properties"].get("Parameters", {})
    raise AssertionError(f"root.yaml nests no {child}")


def source_of(child: str, parameter: str) -> tuple[str, str]:
    """Follow a nested stack's parameter through the root to the resource behind it.

    Returns (template, expression) such as ``("messaging.yaml", "EmailQueue.Arn")``.
    """
    _, passed = nested_stack_of(child)
    value = passed[parameter]
    if "Fn::GetAtt" not in value:
        raise AssertionError(f"{child}:{parameter} is not a nested stack output")
    stack_id, path = value["Fn::GetAtt"]
    outputs, _, output = path.partition(".")
    assert outputs == "Outputs", value
    source = template("root.yaml")["Resources"][stack_id]["Properties"]["TemplateURL"]
    expression = template(source)["Outputs"][output]["Value"]
    return source, Resolver(source)(expression)
