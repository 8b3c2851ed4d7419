"""Where a process's function logs and EMF metrics go: a file, as they would go to CloudWatch.

Powertools' loggers write to their own stream and its metrics print to stdout; both are pointed
at ``<log_dir>/functions.log`` (opened for appending, one whole line per write, so the API and
consumer processes can share it), and the process's console keeps its own lines on
``sys.__stdout__``.
"""

import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TextIO

from aws_lambda_powertools import Logger

FILE_NAME = "functions.log"


def route_function_output(log_dir: Path, loggers: Iterable[Logger]) -> TextIO:
    log_dir.mkdir(parents=True, exist_ok=True)
    stream = (log_dir / FILE_NAME).open("a", encoding="utf-8", buffering=1)
    for logger in loggers:
        logger.registered_handler.setStream(stream)  # type: ignore[attr-defined]
    sys.stdout = stream
    return stream


def restore_console(stream: TextIO) -> None:
    sys.stdout = sys.__stdout__
    stream.close()
