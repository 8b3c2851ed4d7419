"""Where the app sends orders: the API's base URL and its key, changed on the Settings screen
and kept in a JSON file in the app's data folder."""

import json
import os
import re
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

# `orders up` on this machine; from the Android emulator the host is http://10.0.2.2:8000.
DEFAULT_API_URL = os.environ.get("ORDERS_API_URL", "http://127.0.0.1:8000")
API_KEY = re.compile(r"[\x21-\x7e]{20,128}")


class SettingsError(ValueError):
    """A value the user typed that cannot be used; the message says which and why."""


@dataclass(frozen=True)
class Settings:
    api_url: str = DEFAULT_API_URL
    api_key: str = ""


def checked(api_url: str, api_key: str) -> Settings:
    url = api_url.strip().rstrip("/")
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SettingsError("API URL must start with http:// or https:// and name a host")
    if parts.query or parts.fragment or len(url) > 2048:
        raise SettingsError("API URL must be a base URL, without ? or # parts")
    key = api_key.strip()
    if key and not API_KEY.fullmatch(key):
        raise SettingsError("API key must be 20-128 characters without spaces (or empty)")
    return Settings(url, key)


class SettingsFile:
    def __init__(self, path: Path):
        self.path = path

    def load(self) -> Settings:
        """The saved settings, or the defaults when there are none or they cannot be used."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            return checked(str(data["apiUrl"]), str(data.get("apiKey", "")))
        except (OSError, ValueError, KeyError, TypeError):
            return Settings()

    def save(self, settings: Settings) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(self.path.name + ".tmp")
        temporary.write_text(
            json.dumps({"apiUrl": settings.api_url, "apiKey": settings.api_key}), encoding="utf-8"
        )
        os.replace(temporary, self.path)
