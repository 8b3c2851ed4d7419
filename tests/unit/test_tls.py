"""Deferred CA loading: the same TLS settings as before, the store read at the first use."""

import ssl
import subprocess
import sys

from botocore.httpsession import create_urllib3_context, get_cert_path

from runtime.tls import DeferredTrustContext, deferred_bundle_context, deferred_default_context


def settings(context: ssl.SSLContext) -> dict[str, object]:
    return {
        "options": context.options,
        "verify_mode": context.verify_mode,
        "check_hostname": context.check_hostname,
        "post_handshake_auth": context.post_handshake_auth,
        "minimum_version": context.minimum_version,
        "ciphers": [cipher["name"] for cipher in context.get_ciphers()],
    }


def test_the_client_context_has_aiobotocores_settings() -> None:
    bundle = get_cert_path(True)
    assert isinstance(bundle, str)
    ours = deferred_bundle_context(bundle)
    assert settings(ours) == settings(create_urllib3_context())


def test_the_bundle_is_read_at_the_first_handshake_only() -> None:
    bundle = get_cert_path(True)
    assert isinstance(bundle, str)
    context = DeferredTrustContext(ssl.PROTOCOL_TLS_CLIENT).defer(
        lambda ctx: ctx.load_verify_locations(bundle)
    )
    assert context.cert_store_stats()["x509_ca"] == 0
    assert not context.trust_loaded
    context.wrap_bio(ssl.MemoryBIO(), ssl.MemoryBIO(), server_hostname="example.com")
    assert context.trust_loaded
    assert context.cert_store_stats()["x509_ca"] > 100


def test_the_default_context_verifies_like_create_default_context() -> None:
    context = deferred_default_context()
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname is True
    assert context.minimum_version == ssl.create_default_context().minimum_version


PROBE = """
import ssl
create, set_paths = ssl.create_default_context, ssl.SSLContext.set_default_verify_paths
import runtime.tls
import aiohttp.connector as connector
from runtime.tls import DeferredTrustContext
verified, unverified = connector._SSL_CONTEXT_VERIFIED, connector._SSL_CONTEXT_UNVERIFIED
assert isinstance(verified, DeferredTrustContext) and not verified.trust_loaded
assert verified.verify_mode == ssl.CERT_REQUIRED and verified.check_hostname
assert unverified.verify_mode == ssl.CERT_NONE and not unverified.check_hostname
assert ssl.create_default_context is create
assert ssl.SSLContext.set_default_verify_paths is set_paths
print("ok")
"""


def test_aiohttp_is_imported_with_deferred_contexts_and_ssl_is_left_as_it_was() -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
