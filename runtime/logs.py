"""Structured JSON logs (Powertools Logger) that never carry a plain email address.

The masking sits in the formatter, so it covers every field of every line, including exception
texts and tracebacks, not only the places that remember to call ``mask_email``.
"""

import logging
import re
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter
from aws_lambda_powertools.logging.types import PowertoolsLogRecord

# Keys Powertools writes on every line that CloudWatch already has, each line billed as ingested
# bytes: the log group names the function (so its ARN), Lambda's REPORT line gives its memory
# size, and every message is written in one place (so its source line). About a sixth of a line.
REDUNDANT_KEYS = frozenset({"function_arn", "function_memory_size", "location"})
_EMAIL = re.compile(r"([^\s@\"'<>(),;:\\\[\]]+)@((?:[\w-]+\.)+[\w-]+)")


def _mask_match(match: re.Match[str]) -> str:
    return f"{match.group(1)[:1]}***@{match.group(2)}"


def mask_emails(value: Any) -> Any:
    """Every email address inside ``value`` (strings, lists, dicts) as ``j***@example.com``."""
    if isinstance(value, str):
        return _EMAIL.sub(_mask_match, value) if "@" in value else value
    if isinstance(value, dict):
        return {key: mask_emails(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [mask_emails(item) for item in value]
    if value is None or isinstance(value, int | float):
        return value
    # Anything else (an exception object in a stack trace, say) is logged as its str().
    return mask_emails(str(value))


class MaskingFormatter(LambdaPowertoolsFormatter):
    """Stamps every line with its component and masks email addresses in all of it. The
    component is added here because Powertools' ``clear_state`` drops appended keys."""

    def __init__(self, component: str, **kwargs: Any):
        super().__init__(**kwargs)
        self.component = component

    def _extract_log_message(self, log_record: logging.LogRecord) -> Any:
        # Powertools tries json.loads on every string message; ours are words, not JSON, and the
        # failed decode was a sixth of the cost of a log line.
        message = log_record.msg
        if isinstance(message, str) and not log_record.args and not message.startswith(("{", "[")):
            return message
        return super()._extract_log_message(log_record)

    def serialize(self, log: dict[str, Any] | PowertoolsLogRecord) -> str:
        kept = {key: value for key, value in log.items() if key not in REDUNDANT_KEYS}
        masked: dict[str, Any] = mask_emails({**kept, "component": self.component})
        return super().serialize(masked)


def make_logger(service: str, component: str) -> Logger:
    """A masking JSON logger. Its level is set explicitly (INFO until the function's validated
    settings say otherwise): left to itself, Powertools reads ``LOG_LEVEL`` at import and dies
    on a bad value with an error that does not name the variable."""
    return Logger(service=service, level="INFO", logger_formatter=MaskingFormatter(component))
