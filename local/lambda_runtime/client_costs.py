"""What the local stack's processes change in their own AWS clients, answers unchanged.

botocore builds every request's ``User-Agent`` header from scratch, twice per call, and cleans
each of its ~16 parts character by character in a Python generator: measured in a local
container (botocore 1.40.61, a conditional ``PutItem`` to the emulator), a sixth of the client's
CPU per call. The cleaning is a pure function of its two arguments, so here each distinct part
is cleaned once and remembered: the header is the same string, byte for byte
(``tests/unit/test_client_costs.py``).

Only the local stack installs this (its Lambda containers and its own pollers); the functions
deployed to AWS run botocore as it ships.
"""

import functools

import botocore
import botocore.useragent

WRITTEN_FOR_BOTOCORE = ("1.40.61",)
MAX_PARTS = 512

_botocore_own = botocore.useragent.sanitize_user_agent_string_component
_remembered = functools.lru_cache(maxsize=MAX_PARTS)(_botocore_own)


def install(on: bool = True) -> None:
    """Remember cleaned User-Agent parts (``on=False``: botocore's own again). A botocore this
    was not written for is left as it is."""
    if botocore.__version__ not in WRITTEN_FOR_BOTOCORE:
        return
    botocore.useragent.sanitize_user_agent_string_component = _remembered if on else _botocore_own
