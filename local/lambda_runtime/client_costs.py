"""What the local stack's processes change in their own AWS clients, requests unchanged.

- botocore builds every request's ``User-Agent`` header from scratch, twice per call, and
  cleans each of its ~16 parts character by character in a Python generator: measured in a
  local container (botocore 1.40.61, a conditional ``PutItem`` to the emulator), a sixth of the
  client's CPU per call. The cleaning is a pure function of its two arguments, so here each
  distinct part is cleaned once and remembered: the header is the same string, byte for byte.
- botocore checks every call's parameters against the service model before serialising them
  (``parameter_validation``, which its documentation says may be turned off for performance):
  a PutItem of an order walks each attribute of the item, 0.65 of its 3.7 client CPU-ms
  (botocore 1.40.61, measured against the emulator). The clients of the local stack's processes
  skip it: a valid call sends the same bytes; an invalid one is refused by the emulator instead
  of the client. The test suite's own clients still validate, so a handler that sends a bad
  parameter fails its tests as it would fail on AWS.

- SigV4 signing derives the ``host`` it signs from the request's URL with ``urlsplit`` on every
  call, a quarter of the signing (an eighth of the call): a pure function of the URL, so each
  URL's host is derived once and remembered; the signature is the same.

All three are checked in ``tests/unit/test_client_costs.py``. Only the local stack installs this
(its Lambda containers and its own pollers); the functions deployed to AWS run botocore as it
ships.
"""

import functools
from typing import Any

import botocore
import botocore.args
import botocore.auth
import botocore.useragent

WRITTEN_FOR_BOTOCORE = ("1.40.61",)
MAX_PARTS = 512
MAX_URLS = 512

_botocore_own = botocore.useragent.sanitize_user_agent_string_component
_remembered = functools.lru_cache(maxsize=MAX_PARTS)(_botocore_own)
_botocore_client_args = botocore.args.ClientArgsCreator.compute_client_args
_botocore_host_from_url = botocore.auth._host_from_url  # type: ignore[attr-defined]
_remembered_hosts = functools.lru_cache(maxsize=MAX_URLS)(_botocore_host_from_url)


def _client_args_without_validation(self: Any, *args: Any, **kwargs: Any) -> Any:
    computed = _botocore_client_args(self, *args, **kwargs)
    computed["parameter_validation"] = False
    return computed


def install(on: bool = True) -> None:
    """Remember cleaned User-Agent parts and signed hosts, and make clients that skip parameter
    validation (``on=False``: botocore's own again, for clients made after). A botocore this was not
    written for is left as it is."""
    if botocore.__version__ not in WRITTEN_FOR_BOTOCORE:
        return
    botocore.useragent.sanitize_user_agent_string_component = _remembered if on else _botocore_own
    botocore.args.ClientArgsCreator.compute_client_args = (  # type: ignore[method-assign]
        _client_args_without_validation if on else _botocore_client_args
    )
    botocore.auth._host_from_url = _remembered_hosts if on else _botocore_host_from_url  # type: ignore[attr-defined]
