"""Running the project's own commands as a user would, from the repository root."""

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run(
    *command: str,
    timeout: float = 60,
    env: dict[str, str] | None = None,
    cwd: Path = ROOT,
) -> subprocess.CompletedProcess[str]:
    """The command's exit status and text output; never raises on a non-zero exit."""
    return subprocess.run(
        list(command),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=env,
    )
