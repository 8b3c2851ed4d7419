"""Consumer transports, configuration, logs and metrics, against real servers."""

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from consumers.audit.handler import AuditSettings
from consumers.audit.handler import logger as audit_logger
from consumers.email.handler import EmailSettings
from consumers.email.handler import logger as email_logger
from contracts.sample_data import sample
from local.aws.provision import Provisioned
from local.mail.smtp_sink import SmtpSink
from runtime.config import ConfigError, load_settings
from tests.integration.test_observability import emf_metrics
from tests.support.api import captured_logs
from tests.support.aws import Boto
from tests.support.consumers import Consumers
from tests.support.fault_proxy import FaultProxy
from tests.support.moto_server import MotoServer
from tests.support.tls import make_tls

EMAIL = "john.doe@example.com"


def new_event(**changes: Any) -> dict[str, Any]:
    event: dict[str, Any] = sample("order_created.v1.valid.json")
    return event | {"orderId": str(uuid.uuid4())} | changes


def send(boto: Boto, url: str, body: str) -> None:
    boto.client("sqs").send_message(QueueUrl=url, MessageBody=body)


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[SmtpSink]:
    sink = SmtpSink(tmp_path / "outbox").start()
    yield sink
    sink.stop()


def pipeline(
    stack: Provisioned, sink: SmtpSink, faults: FaultProxy, moto: MotoServer, **email: Any
) -> Consumers:
    return Consumers(stack, sink, faults.url, moto.url, email_overrides=email)


def test_each_records_log_lines_carry_its_message_and_order_id(
    stack: Provisioned, smtp: SmtpSink, faults: FaultProxy, moto: MotoServer, boto: Boto
) -> None:
    consumers = pipeline(stack, smtp, faults, moto)
    events = [new_event() for _ in range(4)]
    try:
        for event in events:
            send(boto, stack.email.url, json.dumps(event))
            send(boto, stack.audit.url, json.dumps(event))
        send(boto, stack.email.url, '{"customerEmail": "john.doe@example.com", "broken": true}')
        with captured_logs(email_logger) as email_lines, captured_logs(audit_logger) as audit_lines:
            consumers.poll("email")
            consumers.poll("audit")
            lines = email_lines() + audit_lines()
    finally:
        consumers.close()
    by_order = {e["orderId"] for e in events}
    worked = [
        line for line in lines if line["message"] in ("confirmation sent", "audit record written")
    ]
    assert len(worked) == 8
    assert all(line["orderId"] in by_order and line["messageId"] for line in worked)
    assert {line["component"] for line in worked} == {"email", "audit"}
    [poison] = [
        line for line in lines if line["message"] == "poison message moved to the dead-letter queue"
    ]
    assert poison["messageId"]
    assert "j***@example.com" in poison["rawBody"]
    assert EMAIL not in json.dumps(lines)


def test_consumer_metrics(
    stack: Provisioned,
    smtp: SmtpSink,
    faults: FaultProxy,
    moto: MotoServer,
    boto: Boto,
    capsys: pytest.CaptureFixture[str],
) -> None:
    consumers = pipeline(stack, smtp, faults, moto)
    try:
        for _ in range(2):
            event = json.dumps(new_event())
            send(boto, stack.email.url, event)
            send(boto, stack.audit.url, event)
        consumers.poll("email")
        consumers.poll("audit")
        smtp.refuse()
        send(boto, stack.email.url, json.dumps(new_event()))
        consumers.poll("email")
    finally:
        consumers.close()
    totals = emf_metrics(capsys.readouterr().out)
    assert totals["EmailsSent"] == 2
    assert totals["EmailsFailed"] == 1
    assert totals["AuditRecordsCreated"] == 2


def test_ses_transport_sends_through_sesv2(
    stack: Provisioned, smtp: SmtpSink, faults: FaultProxy, moto: MotoServer, boto: Boto
) -> None:
    """Through moto's SES v2: a verified sender is accepted, an unverified one refused."""
    boto.client("ses").verify_email_identity(EmailAddress="orders@shop.example.com")
    consumers = pipeline(stack, smtp, faults, moto, EMAIL_TRANSPORT="ses")
    unverified = pipeline(
        stack, smtp, faults, moto, EMAIL_TRANSPORT="ses", EMAIL_FROM="nobody@unverified.example.com"
    )
    try:
        send(boto, stack.email.url, json.dumps(new_event()))
        sent = consumers.poll("email")
        send(boto, stack.email.url, json.dumps(new_event()))
        refused = unverified.poll("email")
    finally:
        consumers.close()
        unverified.close()
    assert (sent.received, sent.failed) == (1, [])
    assert faults.seen["POST /v2/email/outbound-emails"] >= 1
    assert (refused.received, len(refused.failed)) == (1, 1)
    assert smtp.messages() == []


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_smtp_credentials_come_from_secrets_manager(
    stack: Provisioned, tmp_path: Path, faults: FaultProxy, moto: MotoServer, boto: Boto
) -> None:
    secrets = boto.client("secretsmanager")
    good = secrets.create_secret(
        Name=f"smtp-{uuid.uuid4().hex}",
        SecretString=json.dumps({"username": "relay", "password": "s3cret"}),
    )["ARN"]
    wrong = secrets.create_secret(
        Name=f"smtp-{uuid.uuid4().hex}",
        SecretString=json.dumps({"username": "relay", "password": "nope"}),
    )["ARN"]
    sink = SmtpSink(tmp_path / "auth", credentials=("relay", "s3cret")).start()
    try:
        ok, bad = (
            pipeline(stack, sink, faults, moto, SMTP_SECRET_ARN=good),
            pipeline(stack, sink, faults, moto, SMTP_SECRET_ARN=wrong),
        )
        try:
            send(boto, stack.email.url, json.dumps(new_event()))
            accepted = ok.poll("email")
            send(boto, stack.email.url, json.dumps(new_event()))
            refused = bad.poll("email")
        finally:
            ok.close()
            bad.close()
    finally:
        sink.stop()
    assert accepted.failed == []
    assert sink.logins == ["relay"]
    assert len(refused.failed) == 1
    assert len(sink.messages()) == 1


def test_starttls_with_a_private_ca(
    stack: Provisioned, tmp_path: Path, faults: FaultProxy, moto: MotoServer, boto: Boto
) -> None:
    ca_bundle, server_context = make_tls(tmp_path)
    sink = SmtpSink(tmp_path / "tls", tls_context=server_context).start()
    try:
        tls = pipeline(
            stack, sink, faults, moto, SMTP_STARTTLS="true", SMTP_CA_BUNDLE=str(ca_bundle)
        )
        plain = pipeline(stack, sink, faults, moto)
        untrusted = pipeline(stack, sink, faults, moto, SMTP_STARTTLS="true")
        try:
            outcomes = []
            for consumers in (tls, plain, untrusted):
                send(boto, stack.email.url, json.dumps(new_event()))
                outcomes.append(consumers.poll("email"))
        finally:
            for consumers in (tls, plain, untrusted):
                consumers.close()
    finally:
        sink.stop()
    assert outcomes[0].failed == []  # STARTTLS, certificate verified against the private CA
    assert len(outcomes[1].failed) == 1  # the server requires STARTTLS
    assert len(outcomes[2].failed) == 1  # the certificate is not trusted without the bundle
    assert len(sink.messages()) == 1


BASE_EMAIL_ENV = {
    "EMAIL_FROM": "orders@shop.example.com",
    "SMTP_HOST": "127.0.0.1",
    "IDEMPOTENCY_TABLE_NAME": "dev-Idempotency",
    "DEAD_LETTER_QUEUE_URL": "http://127.0.0.1:4566/123456789012/dev-OrderEmailDLQ",
}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"EMAIL_FROM": None}, "EMAIL_FROM is required"),
        ({"EMAIL_FROM": "not an address"}, "EMAIL_FROM is invalid"),
        ({"SMTP_HOST": None}, "SMTP_HOST is required when EMAIL_TRANSPORT is smtp"),
        ({"EMAIL_TRANSPORT": "pigeon"}, "EMAIL_TRANSPORT is invalid"),
        ({"SMTP_PORT": "99999"}, "SMTP_PORT is invalid"),
        ({"SMTP_STARTTLS": "maybe"}, "SMTP_STARTTLS is invalid"),
        ({"SMTP_SECRET_ARN": "my-secret"}, "SMTP_SECRET_ARN is invalid"),
        ({"SMTP_CA_BUNDLE": "/no/such/file.pem"}, "SMTP_CA_BUNDLE is invalid"),
        ({"DEAD_LETTER_QUEUE_URL": "not a url"}, "DEAD_LETTER_QUEUE_URL is invalid"),
        ({"MAX_CONCURRENCY": "0"}, "MAX_CONCURRENCY is invalid"),
    ],
)
def test_email_settings_name_the_bad_variable(change: dict[str, str | None], message: str) -> None:
    env = {k: v for k, v in (BASE_EMAIL_ENV | change).items() if v is not None}
    with pytest.raises(ConfigError, match=message):
        load_settings(EmailSettings, env)


def test_ses_transport_needs_no_smtp_host() -> None:
    env = {k: v for k, v in BASE_EMAIL_ENV.items() if k != "SMTP_HOST"} | {"EMAIL_TRANSPORT": "ses"}
    assert load_settings(EmailSettings, env).email_transport == "ses"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({}, "AUDIT_TABLE_NAME is required"),
        ({"AUDIT_TABLE_NAME": "x"}, "AUDIT_TABLE_NAME is invalid"),
    ],
)
def test_audit_settings_name_the_bad_variable(change: dict[str, str], message: str) -> None:
    env = {"DEAD_LETTER_QUEUE_URL": "http://127.0.0.1:4566/123456789012/dev-OrderAuditDLQ"} | change
    with pytest.raises(ConfigError, match=message):
        load_settings(AuditSettings, env)
