"""The Order API's answers to invalid input, as data (``client_rules.json``): one message per
kind of error and how text fields are read. The API renders its 400 bodies from it, and the
mobile app, which cannot run pydantic on a phone, validates with it and the request schema."""

import json
import re
from pathlib import Path
from typing import Any

PATH = Path(__file__).with_name("client_rules.json")
RULES: dict[str, Any] = json.loads(PATH.read_text(encoding="utf-8"))
MESSAGES: dict[str, str] = RULES["messages"]
FORBIDDEN_TEXT = re.compile(RULES["text"]["forbidden"])
