"""Stored sample payloads (valid and invalid) that tests of every component reuse."""

import json
from pathlib import Path
from typing import Any

SAMPLE_DIR = Path(__file__).parent / "samples"


def sample_text(name: str) -> str:
    return (SAMPLE_DIR / name).read_text(encoding="utf-8")


def sample(name: str) -> Any:
    return json.loads(sample_text(name))
