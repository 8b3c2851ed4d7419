"""TLS contexts that read their CA certificates at the first handshake, not when built.

Loading a CA store costs ~20 ms of CPU, and a cold start paid it three times before the first
request: aiohttp builds two default contexts when it is imported (the verified one loads the
system store; the unverified one loads it too, though it never verifies), and every aioboto3
client loaded botocore's bundle again. A ``DeferredTrustContext`` is a real ``ssl.SSLContext``
with the same settings whose ``load`` runs once, just before its first TLS connection: an
http:// endpoint (the local emulator) never pays for it, and an https:// one pays it once.

Importing this module imports aiohttp with its two module-level contexts built this way, so it
must come before anything else imports aiohttp (``runtime.aws`` imports it first); if aiohttp
is already imported, it changes nothing.
"""

import functools
import os
import ssl
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any

from botocore.httpsession import DEFAULT_CIPHERS


class DeferredTrustContext(ssl.SSLContext):
    """An ``ssl.SSLContext`` whose CA certificates are loaded by ``load`` at first use."""

    _load: Callable[[ssl.SSLContext], None] | None
    _lock: threading.Lock

    def defer(self, load: Callable[[ssl.SSLContext], None]) -> "DeferredTrustContext":
        self._load = load
        self._lock = threading.Lock()
        return self

    @property
    def trust_loaded(self) -> bool:
        return getattr(self, "_load", None) is None

    def _ensure_trust(self) -> None:
        if self.trust_loaded:
            return
        with self._lock:
            load = self._load
            if load is not None:
                load(self)
                self._load = None

    def wrap_socket(self, *args: Any, **kwargs: Any) -> ssl.SSLSocket:
        self._ensure_trust()
        return super().wrap_socket(*args, **kwargs)

    def wrap_bio(self, *args: Any, **kwargs: Any) -> ssl.SSLObject:
        self._ensure_trust()
        return super().wrap_bio(*args, **kwargs)


def _load_default_certs(context: ssl.SSLContext) -> None:
    context.load_default_certs(ssl.Purpose.SERVER_AUTH)


def deferred_default_context() -> DeferredTrustContext:
    """What ``ssl.create_default_context()`` returns for a client, with the system store
    loaded at the first handshake."""
    context = DeferredTrustContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies, checks host names
    return context.defer(_load_default_certs)


@functools.cache
def deferred_bundle_context(ca_bundle: str) -> DeferredTrustContext:
    """The context aiobotocore builds for a client (botocore's ``create_urllib3_context``, then
    ``ca_bundle`` loaded), with the bundle read at the first handshake; one per bundle for the
    whole process. A test holds its settings equal to botocore's."""
    context = DeferredTrustContext(ssl.PROTOCOL_TLS_CLIENT)
    if DEFAULT_CIPHERS:
        context.set_ciphers(DEFAULT_CIPHERS)
    context.options |= ssl.OP_NO_SSLv2 | ssl.OP_NO_SSLv3 | ssl.OP_NO_COMPRESSION | ssl.OP_NO_TICKET
    context.post_handshake_auth = True
    context.check_hostname = False  # as botocore's: urllib3 matched host names itself
    context.verify_mode = ssl.CERT_REQUIRED
    keylog = os.environ.get("SSLKEYLOGFILE")
    if keylog and not sys.flags.ignore_environment:
        context.keylog_filename = keylog
    return context.defer(lambda ctx: ctx.load_verify_locations(ca_bundle))


@contextmanager
def _deferred_ssl_defaults() -> Iterator[None]:
    """While aiohttp's connector module runs: ``create_default_context`` returns a deferred
    context, and ``set_default_verify_paths`` (called on its unverified context, which never
    verifies) loads nothing."""
    create, set_paths = ssl.create_default_context, ssl.SSLContext.set_default_verify_paths

    def create_deferred(
        purpose: ssl.Purpose = ssl.Purpose.SERVER_AUTH, **kwargs: Any
    ) -> ssl.SSLContext:
        if purpose is ssl.Purpose.SERVER_AUTH and not kwargs:
            return deferred_default_context()
        return create(purpose, **kwargs)

    def skip_paths(self: ssl.SSLContext) -> None:
        if self.verify_mode != ssl.CERT_NONE:
            set_paths(self)

    ssl.create_default_context = create_deferred
    ssl.SSLContext.set_default_verify_paths = skip_paths  # type: ignore[method-assign]
    try:
        yield
    finally:
        ssl.create_default_context = create
        ssl.SSLContext.set_default_verify_paths = set_paths  # type: ignore[method-assign]


def import_aiohttp() -> ModuleType:
    """aiohttp, imported (once) without loading a CA store."""
    if "aiohttp" not in sys.modules:
        with _deferred_ssl_defaults():
            import aiohttp.connector  # noqa: F401 - the module that builds the contexts
    return sys.modules["aiohttp"]


import_aiohttp()
