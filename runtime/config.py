"""Configuration from environment variables, validated once at start.

Each function describes its settings as a pydantic model whose aliases are the variable names
of SPEC §7; ``load_settings`` turns any problem into one ``ConfigError`` naming every bad
variable, instead of a failure deep inside the first request.
"""

import os
from collections.abc import Mapping
from typing import Annotated, TypeVar

from pydantic import BaseModel, Field, ValidationError

S = TypeVar("S", bound=BaseModel)
# An SQS queue URL, as the functions' settings name their dead-letter and poison queues.
QueueUrl = Annotated[
    str, Field(pattern=r"^https?://[^\s/]+(:[0-9]+)?/[0-9]{12}/[A-Za-z0-9_-]{1,80}$")
]


class ConfigError(RuntimeError):
    """The environment does not describe a runnable function."""


def load_settings(model: type[S], environ: Mapping[str, str] | None = None) -> S:
    env = os.environ if environ is None else environ
    try:
        return model.model_validate(dict(env))
    except ValidationError as exc:
        problems = []
        for err in exc.errors(include_url=False):
            name = ".".join(str(part) for part in err["loc"])
            if err["type"] == "missing":
                problems.append(f"{name} is required but not set")
            else:
                problems.append(f"{name} is invalid: {err['msg']}")
        raise ConfigError("invalid configuration: " + "; ".join(problems)) from None
