"""Build one Lambda zip per function: its code packages plus the locked dependencies as wheels
for the Lambda runtime (python3.13, manylinux, the chosen architecture).

``python -m cfn.bundle [--arch arm64|x86_64 | --params cfn/params/dev.json] [--out DIR]
[--python PATH]``

With ``--params``, the architecture is the environment's. Every environment deploys the same
zips (built once, promoted by ``python -m cfn.deploy``), so every parameter file names the same
architecture; ``CodeVersion``, a hash of the zips, publishes new function versions.

Everything the functions import is bundled, aioboto3 with exactly the botocore it pins (the
runtime's own boto3/botocore are never used). botocore's service models are pruned to the
services each function calls: the full set is ~25 MB of the ~27 MB a function would weigh.
What stays is slimmed: ``endpoints.json`` keeps only those services' entries (every client
parsed all 1.2 MB of it, ~50 ms of a cold start), their models lose their documentation.

Every module ships its bytecode, compiled by python3.13 (the runtime's): Lambda's /var/task is
read-only, so without it every cold start compiles every module it imports (~2.5x slower to
the first response). The ``.pyc`` files are ``unchecked-hash``: Python loads them without
comparing them with their sources, so no timestamp has to survive the zip. Their file names
say /var/task, where Lambda unpacks the zip, so tracebacks show the source lines.
"""

import argparse
import glob
import gzip
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from runtime.functions import FUNCTIONS as FUNCTIONS

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements.lock"
PYTHON_VERSION = "3.13"
ARCHITECTURES = ("arm64", "x86_64")
MAX_ZIP_BYTES = 15 * 1024 * 1024
# zlib's default: level 9 made each zip 0.8 % smaller in 3.6 times the time (6.3 s a zip here).
ZIP_LEVEL = 6
BYTECODE_TAG = "cpython-313"
# Lambda's python3.13 runs on Amazon Linux 2023 (glibc 2.34): any of these wheels loads there.
_PLATFORM_TAGS = ("manylinux2014", "manylinux_2_17", "manylinux_2_28")
_MACHINE = {"arm64": "aarch64", "x86_64": "x86_64"}


class BundleError(Exception):
    """A bad argument or parameter file, said in one line."""


def runtime_requirements() -> list[str]:
    """The project's runtime dependencies (pyproject), resolved against the lock file."""
    with (ROOT / "pyproject.toml").open("rb") as file:
        return list(tomllib.load(file)["project"]["dependencies"])


def read_parameter_file(path: Path) -> list[str]:
    """An environment's parameter file: a JSON list of ``Key=Value`` strings."""
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
    return entries


def architecture_from_params(path: Path) -> str:
    """The ``Architecture`` of an environment's parameter file (the root's default otherwise)."""
    values = dict(entry.split("=", 1) for entry in read_parameter_file(path))
    architecture = values.get("Architecture", "arm64")
    if architecture not in ARCHITECTURES:
        shown = architecture if len(architecture) <= 40 else architecture[:40] + "..."
        raise BundleError(
            f"--params: Architecture in {path} must be one of {', '.join(ARCHITECTURES)}, "
            f"not {shown!r}"
        )
    return architecture


def runtime_python(explicit: str | None = None) -> str:
    """A working python3.13 on this machine: ``explicit``, else $PYTHON313, else python3.13 on
    PATH, else one installed by pyenv or by actions/setup-python."""
    candidates = [explicit] if explicit else []
    candidates += [os.environ.get("PYTHON313", ""), shutil.which("python3.13") or ""]
    candidates += sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.13*/bin/python3.13")))
    candidates += sorted(glob.glob("/opt/hostedtoolcache/Python/3.13*/*/bin/python3.13"))
    for candidate in filter(None, candidates):
        probe = [candidate, "-c", "import sys; assert sys.version_info[:2] == (3, 13)"]
        try:
            if subprocess.run(probe, capture_output=True, check=False).returncode == 0:  # noqa: S603
                return candidate
        except OSError:
            pass
        if explicit:
            break
    where = f"--python {explicit} is not" if explicit else "no"
    raise BundleError(
        f"{where} a working python3.13 (Lambda's runtime), which compiles the bytecode: "
        "install it, or name it with --python or PYTHON313"
    )


def compile_bytecode(tree: Path, python: str) -> None:
    """Compile every module under ``tree`` with the runtime's Python, as unchecked-hash .pyc
    files."""
    command = [
        *(python, "-m", "compileall", "-q", "-j", "0"),
        *("--invalidation-mode", "unchecked-hash", str(tree)),
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    if result.returncode != 0:
        raise BundleError(f"python3.13 could not compile the bundle:\n{result.stdout[-2000:]}")


def install_dependencies(
    architecture: str, target: Path, requirements: Sequence[str] | None = None
) -> None:
    """pip-install the locked runtime dependencies (or ``requirements``, resolved against the
    lock) as Lambda wheels into ``target``."""
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
        *(requirements if requirements is not None else runtime_requirements()),
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


def pruned_endpoints(data: dict[str, Any], prefixes: set[str]) -> dict[str, Any]:
    """botocore's ``endpoints.json`` with only these services' entries (by endpoint prefix),
    every partition kept whole otherwise (its regions, defaults, DNS suffix): what a client of
    one of them resolves is unchanged, and a client parses a few KB instead of 1.2 MB."""
    return {
        **data,
        "partitions": [
            {
                **partition,
                "services": {
                    name: entry
                    for name, entry in partition.get("services", {}).items()
                    if name in prefixes
                },
            }
            for partition in data["partitions"]
        ],
    }


def without_documentation(model: Any) -> Any:
    """A service model without its ``documentation`` strings (most of its bytes): botocore
    reads them only to write docstrings. A member or shape that happens to be called
    ``documentation`` is a dict, and stays."""
    if isinstance(model, dict):
        return {
            key: without_documentation(value)
            for key, value in model.items()
            if not (key in ("documentation", "documentationUrl") and isinstance(value, str))
        }
    if isinstance(model, list):
        return [without_documentation(value) for value in model]
    return model


def _slim_botocore(site: Path) -> None:
    """After ``_prune_botocore``: the endpoints of the services left only, and their models
    without documentation."""
    data = site / "botocore" / "data"
    prefixes = set()
    for model_file in sorted(data.glob("*/*/service-2.json.gz")):
        with gzip.open(model_file, "rt", encoding="utf-8") as opened:
            model = json.load(opened)
        prefixes.add(model["metadata"]["endpointPrefix"])
        with gzip.GzipFile(model_file, "wb", mtime=0) as rewritten:
            rewritten.write(json.dumps(without_documentation(model)).encode())
    endpoints = data / "endpoints.json"
    full = json.loads(endpoints.read_text(encoding="utf-8"))
    endpoints.write_text(
        json.dumps(pruned_endpoints(full, prefixes), separators=(",", ":")), encoding="utf-8"
    )


# email-validator's character classes that admit every code point from U+0080, as its
# rfc_constants.py writes them: compiling each fills a table for the whole range in Python
# (50-70 ms of a cold start here), though all they say of a non-ASCII character is "yes".
EMAIL_VALIDATOR_VERSIONS = ("2.4.0",)
_EMAIL_CLASS_NAMES = (
    "ATEXT_INTL_DOT_RE",
    "DOT_ATOM_TEXT_INTL",
    "ATEXT_HOSTNAME_INTL",
    "QTEXT_INTL",
)


def ascii_negated(members: str) -> str:
    """A class of ``members`` (ASCII) and every non-ASCII code point, written as the negation
    of the ASCII characters it leaves out: the same set, compiled without a table."""
    left_out = "".join(f"\\x{code:02x}" for code in range(128) if chr(code) not in members)
    return f"[^{left_out}]"


def _ascii_members(pattern: "re.Pattern[str]") -> str:
    return "".join(chr(code) for code in range(128) if pattern.fullmatch(chr(code)))


def fast_email_classes(source: str) -> str:
    """email-validator's rfc_constants.py with its four classes over U+0080-U+10FFFF written as
    equal negated ASCII classes (``tests/deploy/test_bundle.py`` checks every code point).
    Each definition line is replaced by a literal pattern; a file that does not define the
    four in one line each is refused."""
    namespace: dict[str, object] = {}
    exec(compile(source, "rfc_constants.py", "exec"), namespace)  # noqa: S102 - a file we bundle
    atext = _ascii_members(re.compile("[" + str(namespace["ATEXT"]) + "]"))
    intl = ascii_negated(atext)
    patterns = {
        "ATEXT_INTL_DOT_RE": ascii_negated(atext + "."),
        "DOT_ATOM_TEXT_INTL": intl + "+(?:\\." + intl + "+)*\\Z",
        "ATEXT_HOSTNAME_INTL": ascii_negated(_ascii_members(re.compile(r"[a-zA-Z0-9\-\.]"))),
        "QTEXT_INTL": ascii_negated("".join(map(chr, range(0x20, 0x7F)))),
    }
    out = []
    for line in source.splitlines(keepends=True):
        name = line.split(" = re.compile(", 1)[0]
        if name in patterns and line.startswith(name + " = re.compile("):
            out.append(f"{name} = re.compile({patterns.pop(name)!r})  # cfn.bundle: same set\n")
        else:
            out.append(line)
    if patterns:
        raise BundleError(
            "email-validator's rfc_constants.py no longer defines " + ", ".join(patterns)
        )
    return "".join(out)


def _fast_email_validator(site: Path) -> None:
    """The bundle step: rewrite email-validator's four slow classes (``fast_email_classes``)."""
    found = sorted(site.glob("email_validator-*.dist-info"))
    version = found[0].name.removesuffix(".dist-info").split("-", 1)[1] if found else "?"
    if version not in EMAIL_VALIDATOR_VERSIONS:
        raise BundleError(
            f"cfn.bundle rewrites email-validator {', '.join(EMAIL_VALIDATOR_VERSIONS)}'s "
            f"rfc_constants.py, but {version} is locked: check fast_email_classes against it"
        )
    constants = site / "email_validator" / "rfc_constants.py"
    text = fast_email_classes(constants.read_text(encoding="utf-8"))
    constants.write_text(text, encoding="utf-8")


def _is_bundled(path: Path) -> bool:
    """Sources and data, and only the runtime's bytecode (no stubs, no stray .pyc)."""
    if path.suffix == ".pyc":
        return path.parent.name == "__pycache__" and f".{BYTECODE_TAG}." in path.name
    return "__pycache__" not in path.parts and path.suffix != ".pyi"


def write_zip(tree: Path, destination: Path) -> None:
    """A reproducible zip: sorted entries, fixed timestamps, files readable by Lambda's user."""
    with zipfile.ZipFile(
        destination, "w", zipfile.ZIP_DEFLATED, compresslevel=ZIP_LEVEL
    ) as archive:
        for path in sorted(tree.rglob("*")):
            if path.is_file() and _is_bundled(path.relative_to(tree)):
                info = zipfile.ZipInfo(str(path.relative_to(tree)), date_time=(1980, 1, 1, 0, 0, 0))
                info.external_attr = 0o644 << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, path.read_bytes(), compresslevel=ZIP_LEVEL)


def build(architecture: str, out: Path, python: str | None = None) -> dict[str, int]:
    """Build every function's zip into ``out``; returns each zip's size in bytes."""
    interpreter = runtime_python(python)
    out.mkdir(parents=True, exist_ok=True)
    sizes: dict[str, int] = {}
    with tempfile.TemporaryDirectory(prefix="lambda-bundle-") as work:
        site = Path(work) / "site"
        install_dependencies(architecture, site)
        _fast_email_validator(site)
        compile_bytecode(site, interpreter)
        for function in FUNCTIONS:
            tree = Path(work) / function.name
            shutil.copytree(site, tree)
            _prune_botocore(tree, function.aws_services)
            _slim_botocore(tree)
            for package in function.packages:
                shutil.copytree(
                    ROOT / package, tree / package, ignore=shutil.ignore_patterns("__pycache__")
                )
                compile_bytecode(tree / package, interpreter)
            destination = out / function.zip_name
            write_zip(tree, destination)
            sizes[function.name] = destination.stat().st_size
    return sizes


def code_version(out: Path) -> str:
    """Names the built code: a hash of the zips (reproducible, so the same code gives the same
    name and a deploy of it publishes no new function version)."""
    digest = hashlib.sha256()
    for function in FUNCTIONS:
        digest.update((out / function.zip_name).read_bytes())
    return digest.hexdigest()[:16]


def deploy_parameters(params: Path, out: Path) -> list[str]:
    """The environment's parameter file (``Key=Value`` entries) plus ``CodeVersion`` of these
    zips: what a deploy of them passes to CloudFormation."""
    entries = [e for e in read_parameter_file(params) if not e.startswith("CodeVersion=")]
    return [*entries, f"CodeVersion={code_version(out)}"]


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
    parser.add_argument(
        "--python", help="python3.13 that compiles the bytecode (default: found on this machine)"
    )
    args = parser.parse_args(argv)
    try:
        architecture = args.arch or (
            architecture_from_params(args.params) if args.params else "arm64"
        )
        sizes = build(architecture, args.out, args.python)
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
    print(f"CodeVersion={code_version(args.out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
