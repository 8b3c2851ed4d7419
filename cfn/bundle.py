"""Build one Lambda zip per function: its code packages plus the locked dependencies as wheels
for the Lambda runtime (python3.13, manylinux, the chosen architecture).

``python -m cfn.bundle [--arch arm64|x86_64 | --params cfn/params/dev.json] [--out DIR]``

Everything the functions import is bundled, aioboto3 with exactly the botocore it pins (the
runtime's own boto3/botocore are never used). botocore's service models are pruned to the
services each function calls: the full set is ~25 MB of the ~27 MB a function would weigh.
"""

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements.lock"
PYTHON_VERSION = "3.13"
ARCHITECTURES = ("arm64", "x86_64")
MAX_ZIP_BYTES = 10 * 1024 * 1024
# Lambda's python3.13 runs on Amazon Linux 2023 (glibc 2.34): any of these wheels loads there.
_PLATFORM_TAGS = ("manylinux2014", "manylinux_2_17", "manylinux_2_28")
_MACHINE = {"arm64": "aarch64", "x86_64": "x86_64"}


@dataclass(frozen=True)
class FunctionBundle:
    """What one function's zip holds: its handler, project packages and AWS service models."""

    name: str
    handler: str
    packages: tuple[str, ...]
    aws_services: tuple[str, ...]

    @property
    def handler_module(self) -> str:
        return self.handler.rpartition(".")[0]

    @property
    def zip_name(self) -> str:
        return f"{self.name}.zip"


FUNCTIONS = (
    FunctionBundle(
        name="order-api",
        handler="api.handler.handler",
        packages=("api", "contracts", "runtime"),
        aws_services=("dynamodb", "sns"),
    ),
    FunctionBundle(
        name="email-consumer",
        handler="consumers.email.handler.handler",
        packages=("consumers", "contracts", "runtime"),
        aws_services=("dynamodb", "sqs", "sesv2", "secretsmanager"),
    ),
    FunctionBundle(
        name="audit-consumer",
        handler="consumers.audit.handler.handler",
        packages=("consumers", "contracts", "runtime"),
        aws_services=("dynamodb", "sqs"),
    ),
)


class BundleError(Exception):
    """A bad argument or parameter file, said in one line."""


def runtime_requirements() -> list[str]:
    """The project's runtime dependencies (pyproject), resolved against the lock file."""
    with (ROOT / "pyproject.toml").open("rb") as file:
        return list(tomllib.load(file)["project"]["dependencies"])


def architecture_from_params(path: Path) -> str:
    """The ``Architecture`` of an environment's parameter file (the root's default otherwise)."""
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BundleError(f"--params: no such file: {path}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"--params: {path} is not a JSON file: {exc}") from None
    if not isinstance(entries, list) or not all(
        isinstance(entry, str) and "=" in entry for entry in entries
    ):
        raise BundleError(f'--params: {path} must be a JSON list of "Key=Value" strings')
    values: dict[str, str] = dict(entry.split("=", 1) for entry in entries)
    architecture = values.get("Architecture", "arm64")
    if architecture not in ARCHITECTURES:
        shown = architecture if len(architecture) <= 40 else architecture[:40] + "..."
        raise BundleError(
            f"--params: Architecture in {path} must be one of {', '.join(ARCHITECTURES)}, "
            f"not {shown!r}"
        )
    return architecture


def install_dependencies(architecture: str, target: Path) -> None:
    """pip-install the locked runtime dependencies as Lambda wheels into ``target``."""
    machine = _MACHINE[architecture]
    platforms = [arg for tag in _PLATFORM_TAGS for arg in ("--platform", f"{tag}_{machine}")]
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--target",
        str(target),
        "--implementation",
        "cp",
        "--python-version",
        PYTHON_VERSION,
        *platforms,
        "--only-binary=:all:",
        "-c",
        str(LOCK),
        *runtime_requirements(),
    ]
    subprocess.run(command, check=True)  # noqa: S603 - fixed arguments, no shell


def _prune_botocore(site: Path, services: Sequence[str]) -> None:
    """Drop the service models no function client loads; the files at the top of botocore/data
    (endpoints, partitions, retry rules, defaults) are read by every client and stay."""
    data = site / "botocore" / "data"
    for entry in data.iterdir():
        if entry.is_dir() and entry.name not in services:
            shutil.rmtree(entry)
    missing = [service for service in services if not (data / service).is_dir()]
    if missing:
        raise BundleError(f"botocore has no service model for {', '.join(missing)}")


def _is_bundled(path: Path) -> bool:
    return "__pycache__" not in path.parts and path.suffix not in {".pyc", ".pyi"}


def _write_zip(tree: Path, destination: Path) -> None:
    """A reproducible zip: sorted entries, fixed timestamps, files readable by Lambda's user."""
    with zipfile.ZipFile(destination, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for path in sorted(tree.rglob("*")):
            if path.is_file() and _is_bundled(path.relative_to(tree)):
                info = zipfile.ZipInfo(str(path.relative_to(tree)), date_time=(1980, 1, 1, 0, 0, 0))
                info.external_attr = 0o644 << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, path.read_bytes(), compresslevel=9)


def build(architecture: str, out: Path) -> dict[str, int]:
    """Build every function's zip into ``out``; returns each zip's size in bytes."""
    out.mkdir(parents=True, exist_ok=True)
    sizes: dict[str, int] = {}
    with tempfile.TemporaryDirectory(prefix="lambda-bundle-") as work:
        site = Path(work) / "site"
        install_dependencies(architecture, site)
        for function in FUNCTIONS:
            tree = Path(work) / function.name
            shutil.copytree(site, tree)
            _prune_botocore(tree, function.aws_services)
            for package in function.packages:
                shutil.copytree(ROOT / package, tree / package)
            destination = out / function.zip_name
            _write_zip(tree, destination)
            sizes[function.name] = destination.stat().st_size
    return sizes


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m cfn.bundle", description="Build one Lambda zip per function."
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--arch", choices=ARCHITECTURES, help="Lambda architecture (arm64)")
    source.add_argument(
        "--params", type=Path, help="take the architecture from an environment's parameter file"
    )
    parser.add_argument(
        "--out", type=Path, default=ROOT / "dist" / "lambda", help="output folder (dist/lambda)"
    )
    args = parser.parse_args(argv)
    try:
        architecture = args.arch or (
            architecture_from_params(args.params) if args.params else "arm64"
        )
        sizes = build(architecture, args.out)
    except BundleError as exc:
        parser.exit(2, f"python -m cfn.bundle: error: {exc}\n")
    except subprocess.CalledProcessError as exc:
        parser.exit(1, f"python -m cfn.bundle: error: pip failed (exit {exc.returncode})\n")
    too_big = False
    for name, size in sizes.items():
        too_big |= size > MAX_ZIP_BYTES
        print(f"{args.out / (name + '.zip')}  {size / 1_048_576:.2f} MB  ({architecture})")
    if too_big:
        print(f"error: a zip is over {MAX_ZIP_BYTES // 1_048_576} MB", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
