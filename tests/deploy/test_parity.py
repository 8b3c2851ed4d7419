"""``orders up`` provisions what the templates declare: same keys, indexes, timeouts, retention,
redrive and delivery settings (SPEC §7). One comparison; any drift on either side fails it."""

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from local.aws.emulator import MotoProcess
from local.aws.provision import provision
from local.aws.resources import ResourceNames
from runtime.aws import AwsClients
from runtime.functions import FUNCTIONS
from tests.support.cfn import Resolver, resources
from tests.support.moto_server import free_port

ENV = "dev"


@pytest.fixture(scope="module")
def provisioned_endpoint() -> Iterator[str]:
    """An emulator process of its own (moto's state is per process: a server in this one would
    also hold what other tests made), holding only what ``orders up`` provisions for ``dev``."""
    server = MotoProcess("127.0.0.1", free_port())
    server.start()

    async def run() -> None:
        clients = AwsClients(endpoint_url=server.url)
        try:
            await provision(clients, ResourceNames(ENV))
        finally:
            await clients.close()

    asyncio.run(run())
    yield server.url
    server.stop()


def _name_of(arn: str) -> str:
    return arn.rsplit(":", 1)[-1]


def _key_layout(definition: dict[str, Any]) -> dict[str, Any]:
    """Keys and indexes with their attribute types; CreateTable, DescribeTable and the template
    all spell them with the same fields."""
    types = {a["AttributeName"]: a["AttributeType"] for a in definition["AttributeDefinitions"]}

    def keys(schema: list[dict[str, str]]) -> list[tuple[str, str, str]]:
        return [(k["AttributeName"], types[k["AttributeName"]], k["KeyType"]) for k in schema]

    return {
        "keys": keys(definition["KeySchema"]),
        "indexes": {
            index["IndexName"]: (keys(index["KeySchema"]), index["Projection"]["ProjectionType"])
            for index in definition.get("GlobalSecondaryIndexes", [])
        },
    }


def _declared() -> dict[str, Any]:
    """The settings the templates declare, in the shape ``_provisioned`` reads them."""
    data = Resolver("data.yaml", {"EnvironmentName": ENV})
    tables = {}
    for table in resources("data.yaml", "AWS::DynamoDB::Table").values():
        props = data(table)["Properties"]
        tables[props["TableName"]] = {
            **_key_layout(props),
            "billing": props["BillingMode"],
            "encrypted": props["SSESpecification"]["SSEEnabled"],
            "point_in_time_recovery": props["PointInTimeRecoverySpecification"][
                "PointInTimeRecoveryEnabled"
            ],
            "ttl": props.get("TimeToLiveSpecification", {}).get("AttributeName"),
            "stream": props.get("StreamSpecification", {}).get("StreamViewType"),
        }

    messaging = Resolver("messaging.yaml", {"EnvironmentName": ENV})
    queue_names = {
        logical_id: messaging(queue)["Properties"]["QueueName"]
        for logical_id, queue in resources("messaging.yaml", "AWS::SQS::Queue").items()
    }
    (topic,) = resources("messaging.yaml", "AWS::SNS::Topic").values()
    topic_props = messaging(topic)["Properties"]
    queues = {}
    for queue in resources("messaging.yaml", "AWS::SQS::Queue").values():
        props = messaging(queue)["Properties"]
        redrive = props.get("RedrivePolicy")
        queues[props["QueueName"]] = {
            "VisibilityTimeout": props.get("VisibilityTimeout", 30),
            "MessageRetentionPeriod": props["MessageRetentionPeriod"],
            "ReceiveMessageWaitTimeSeconds": props.get("ReceiveMessageWaitTimeSeconds", 0),
            "SqsManagedSseEnabled": props["SqsManagedSseEnabled"],
            "redrive": None
            if redrive is None
            else (
                queue_names[redrive["deadLetterTargetArn"].removesuffix(".Arn")],
                redrive["maxReceiveCount"],
            ),
            "policy": None,
        }
    for policy in resources("messaging.yaml", "AWS::SQS::QueuePolicy").values():
        (queue,) = policy["Properties"]["Queues"]
        (statement,) = policy["Properties"]["PolicyDocument"]["Statement"]
        queues[queue_names[queue["Ref"]]]["policy"] = (
            statement["Principal"]["Service"],
            statement["Action"],
            topic_props["TopicName"]
            if statement["Condition"]["ArnEquals"]["aws:SourceArn"] == {"Ref": "OrderEventsTopic"}
            else None,
        )
    subscriptions = sorted(
        (
            topic_props["TopicName"],
            queue_names[s["Properties"]["Endpoint"]["Fn::GetAtt"][0]],
            s["Properties"]["Protocol"],
            s["Properties"]["RawMessageDelivery"],
        )
        for s in resources("messaging.yaml", "AWS::SNS::Subscription").values()
    )
    functions = {
        logical_id: (props["Handler"], props["Timeout"], props["MemorySize"])
        for logical_id, function in resources("functions.yaml", "AWS::Lambda::Function").items()
        for props in [function["Properties"]]
    }
    return {
        "functions": functions,
        "tables": tables,
        "topic": (topic_props["TopicName"], topic_props["KmsMasterKeyId"]),
        "queues": queues,
        "subscriptions": subscriptions,
    }


def _provisioned(endpoint: str) -> dict[str, Any]:
    """The same settings, read back from what ``orders up`` provisioned on the emulator."""
    dynamodb = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1")
    sqs = boto3.client("sqs", endpoint_url=endpoint, region_name="us-east-1")
    sns = boto3.client("sns", endpoint_url=endpoint, region_name="us-east-1")
    tables = {}
    for name in dynamodb.list_tables()["TableNames"]:
        table = dynamodb.describe_table(TableName=name)["Table"]
        ttl = dynamodb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        backups = dynamodb.describe_continuous_backups(TableName=name)[
            "ContinuousBackupsDescription"
        ]
        tables[name] = {
            **_key_layout(table),
            "billing": table["BillingModeSummary"]["BillingMode"],
            "encrypted": table.get("SSEDescription", {}).get("Status") == "ENABLED",
            "point_in_time_recovery": backups["PointInTimeRecoveryDescription"][
                "PointInTimeRecoveryStatus"
            ]
            == "ENABLED",
            "ttl": ttl.get("AttributeName") if ttl.get("TimeToLiveStatus") == "ENABLED" else None,
            "stream": table["StreamSpecification"]["StreamViewType"]
            if table.get("StreamSpecification", {}).get("StreamEnabled")
            else None,
        }
    (topic_arn,) = [t["TopicArn"] for t in sns.list_topics()["Topics"]]
    topic_attributes = sns.get_topic_attributes(TopicArn=topic_arn)["Attributes"]
    queues = {}
    for url in sqs.list_queues()["QueueUrls"]:
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        redrive = json.loads(attributes["RedrivePolicy"]) if "RedrivePolicy" in attributes else None
        policy = None
        if "Policy" in attributes:
            (statement,) = json.loads(attributes["Policy"])["Statement"]
            policy = (
                statement["Principal"]["Service"],
                statement["Action"],
                _name_of(statement["Condition"]["ArnEquals"]["aws:SourceArn"]),
            )
        queues[url.rsplit("/", 1)[-1]] = {
            "VisibilityTimeout": int(attributes["VisibilityTimeout"]),
            "MessageRetentionPeriod": int(attributes["MessageRetentionPeriod"]),
            "ReceiveMessageWaitTimeSeconds": int(attributes["ReceiveMessageWaitTimeSeconds"]),
            "SqsManagedSseEnabled": attributes.get("SqsManagedSseEnabled") == "true",
            "redrive": None
            if redrive is None
            else (_name_of(redrive["deadLetterTargetArn"]), int(redrive["maxReceiveCount"])),
            "policy": policy,
        }
    subscriptions = sorted(
        (
            _name_of(s["TopicArn"]),
            _name_of(s["Endpoint"]),
            s["Protocol"],
            sns.get_subscription_attributes(SubscriptionArn=s["SubscriptionArn"])["Attributes"].get(
                "RawMessageDelivery"
            )
            == "true",
        )
        for s in sns.list_subscriptions()["Subscriptions"]
    )
    # orders up starts each function's containers from its one declaration.
    functions = {f.logical_id: (f.handler, f.timeout_seconds, f.memory_mb) for f in FUNCTIONS}
    return {
        "functions": functions,
        "tables": tables,
        "topic": (_name_of(topic_arn), topic_attributes.get("KmsMasterKeyId")),
        "queues": queues,
        "subscriptions": subscriptions,
    }


def test_orders_up_provisions_what_the_templates_declare(provisioned_endpoint: str) -> None:
    assert _provisioned(provisioned_endpoint) == _declared()
