"""Create the resources of ``local.aws.resources`` on an AWS endpoint, idempotently.

Running it twice changes nothing; running it against an endpoint where some resources exist
converges them to the declared settings.
"""

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiobotocore.config import AioConfig
from botocore.exceptions import ClientError

from local.aws.resources import (
    ORDERS_STREAM,
    QueueSpec,
    ResourceNames,
    dlq_attributes,
    queue_attributes,
    topic_only_policy,
)
from runtime.aws import DEFAULT_CONFIG, AwsClients, error_code

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient
    from types_aiobotocore_sns import SNSClient
    from types_aiobotocore_sqs import SQSClient


@dataclass(frozen=True)
class QueueEndpoints:
    url: str
    arn: str
    dlq_url: str
    dlq_arn: str


@dataclass(frozen=True)
class Provisioned:
    names: ResourceNames
    topic_arn: str
    email: QueueEndpoints
    audit: QueueEndpoints
    orders_stream_arn: str
    outbox_poison_url: str


def _on_demand_encrypted() -> dict[str, Any]:
    return {"BillingMode": "PAY_PER_REQUEST", "SSESpecification": {"Enabled": True}}


async def _create_table(client: "DynamoDBClient", name: str, **definition: Any) -> None:
    try:
        await client.create_table(TableName=name, **_on_demand_encrypted(), **definition)
    except ClientError as exc:
        if error_code(exc) != "ResourceInUseException":
            raise
    await client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1})
    await client.update_continuous_backups(
        TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
    )


async def _orders_stream(client: "DynamoDBClient", name: str) -> str:
    """The Orders table's stream ARN, turning the stream on where the table has none."""
    table = (await client.describe_table(TableName=name))["Table"]
    if table.get("StreamSpecification", {}).get("StreamEnabled") and "LatestStreamArn" in table:
        return table["LatestStreamArn"]
    updated = await client.update_table(TableName=name, StreamSpecification=ORDERS_STREAM)  # type: ignore[arg-type]
    return updated["TableDescription"]["LatestStreamArn"]


# Provisioning runs once, at start, while every container is starting too: the functions' tight
# timeouts and single attempt (runtime.aws) would fail a start on a busy machine.
PROVISIONING_CONFIG: AioConfig = DEFAULT_CONFIG.merge(
    AioConfig(connect_timeout=10, read_timeout=60, retries={"total_max_attempts": 3})
)


async def provision_tables(client: "DynamoDBClient", names: ResourceNames) -> str:
    """Create the tables; returns the Orders table's stream ARN."""
    await _create_table(
        client,
        names.orders_table,
        KeySchema=[{"AttributeName": "OrderId", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "OrderId", "AttributeType": "S"}],
        StreamSpecification=ORDERS_STREAM,
    )
    stream_arn = await _orders_stream(client, names.orders_table)
    await _create_table(
        client,
        names.audit_table,
        KeySchema=[
            {"AttributeName": "AuditId", "KeyType": "HASH"},
            {"AttributeName": "Timestamp", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "AuditId", "AttributeType": "S"},
            {"AttributeName": "Timestamp", "AttributeType": "S"},
            {"AttributeName": "OrderId", "AttributeType": "S"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "OrderIdIndex",
                "KeySchema": [
                    {"AttributeName": "OrderId", "KeyType": "HASH"},
                    {"AttributeName": "Timestamp", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    )
    await _create_table(
        client,
        names.idempotency_table,
        KeySchema=[{"AttributeName": "IdempotencyKey", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "IdempotencyKey", "AttributeType": "S"}],
    )
    description = await client.describe_time_to_live(TableName=names.idempotency_table)
    if description["TimeToLiveDescription"].get("TimeToLiveStatus") != "ENABLED":
        await client.update_time_to_live(
            TableName=names.idempotency_table,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": "ExpiresAt"},
        )
    return stream_arn


async def _queue(client: "SQSClient", name: str, attributes: dict[str, str]) -> tuple[str, str]:
    url = (await client.create_queue(QueueName=name))["QueueUrl"]
    await client.set_queue_attributes(QueueUrl=url, Attributes=attributes)  # type: ignore[arg-type]
    got = await client.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    return url, got["Attributes"]["QueueArn"]


async def _subscribed_queue(
    sqs: "SQSClient", sns: "SNSClient", spec: QueueSpec, topic_arn: str
) -> QueueEndpoints:
    dlq_url, dlq_arn = await _queue(sqs, spec.dlq_name, dlq_attributes())
    url, arn = await _queue(sqs, spec.name, queue_attributes(spec, dlq_arn))
    await sqs.set_queue_attributes(
        QueueUrl=url, Attributes={"Policy": topic_only_policy(arn, topic_arn)}
    )
    existing = await sns.list_subscriptions_by_topic(TopicArn=topic_arn)
    if not any(s.get("Endpoint") == arn for s in existing.get("Subscriptions", [])):
        await sns.subscribe(
            TopicArn=topic_arn,
            Protocol="sqs",
            Endpoint=arn,
            Attributes={"RawMessageDelivery": "true"},
            ReturnSubscriptionArn=True,
        )
    return QueueEndpoints(url=url, arn=arn, dlq_url=dlq_url, dlq_arn=dlq_arn)


async def provision(clients: AwsClients, names: ResourceNames) -> Provisioned:
    stream_arn = await provision_tables(await clients.dynamodb(), names)
    sns = await clients.sns()
    sqs = await clients.sqs()
    topic_arn = (
        await sns.create_topic(Name=names.topic, Attributes={"KmsMasterKeyId": "alias/aws/sns"})
    )["TopicArn"]
    email = await _subscribed_queue(sqs, sns, names.email_queue, topic_arn)
    audit = await _subscribed_queue(sqs, sns, names.audit_queue, topic_arn)
    poison_url, _ = await _queue(sqs, names.outbox_poison_queue, dlq_attributes())
    return Provisioned(
        names=names,
        topic_arn=topic_arn,
        email=email,
        audit=audit,
        orders_stream_arn=stream_arn,
        outbox_poison_url=poison_url,
    )
