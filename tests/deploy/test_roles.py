"""Each function's role allows exactly what that function uses, on exactly its resources."""

from typing import Any

import pytest

from runtime.functions import FUNCTIONS
from tests.support.aws_calls import actions_called_by
from tests.support.cfn import Resolver, resources, source_of, template

# The only actions allowed on "*": AWS gives them no resource-level permissions.
AWS_REQUIRES_STAR = {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}
# What Lambda itself needs, whatever the code does: writing the function's logs, traces, and
# (for the consumers) the event-source mapping's polling of the queue.
LOGS = {"logs:CreateLogStream", "logs:PutLogEvents"}
EVENT_SOURCE = {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"}
# The publisher's mapping reads the Orders stream and writes batches it gives up on to S3.
STREAM_SOURCE = {
    "dynamodb:DescribeStream",
    "dynamodb:GetRecords",
    "dynamodb:GetShardIterator",
    "dynamodb:ListStreams",
    "s3:PutObject",
    "s3:ListBucket",
}

FUNCTION_OF_HANDLER = {function.handler: function.logical_id for function in FUNCTIONS}

SES = {"UseSes": True, "UseSmtp": False, "HasSmtpSecret": False}
SMTP_WITH_SECRET = {"UseSes": False, "UseSmtp": True, "HasSmtpSecret": True}
SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:smtp-AbCdEf"
PARAMETERS = {
    "EnvironmentName": "dev",
    "EmailFrom": "orders@shop.example.com",
    "SmtpSecretArn": SECRET,
}


def _pairs(function: str, conditions: dict[str, bool]) -> set[tuple[str, str]]:
    """(action, resource) for every Allow of the function's role, resources traced to their stack."""
    resolve = Resolver("functions.yaml", dict(PARAMETERS), conditions)
    role_id = template("functions.yaml")["Resources"][function]["Properties"]["Role"]["Fn::GetAtt"]
    role = resolve(template("functions.yaml")["Resources"][role_id[0]])
    pairs: set[tuple[str, str]] = set()
    for policy in role["Properties"]["Policies"]:
        for statement in policy["PolicyDocument"]["Statement"]:
            assert statement["Effect"] == "Allow"
            assert set(statement) <= {"Sid", "Effect", "Action", "Resource"}, statement
            actions = _as_list(statement["Action"])
            for resource in _as_list(statement["Resource"]):
                pairs |= {(action, _traced(resource)) for action in actions}
    return pairs


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _traced(resource: str) -> str:
    if resource.startswith("param:"):
        parameter, slash, rest = resource.removeprefix("param:").partition("/")
        stack, expression = source_of("functions.yaml", parameter)
        return f"{stack}:{expression}{slash}{rest}"
    return resource


def test_order_api_role_is_exactly_its_calls() -> None:
    assert _pairs("OrderApiFunction", SES) == {
        ("logs:CreateLogStream", "OrderApiLogGroup.Arn"),
        ("logs:PutLogEvents", "OrderApiLogGroup.Arn"),
        ("xray:PutTraceSegments", "*"),
        ("xray:PutTelemetryRecords", "*"),
        ("dynamodb:PutItem", "data.yaml:OrdersTable.Arn"),
        ("dynamodb:GetItem", "data.yaml:OrdersTable.Arn"),
    }


def test_publisher_role_is_exactly_its_calls() -> None:
    stream = "data.yaml:OrdersTable.StreamArn"
    bucket = "messaging.yaml:PublisherFailureBucket.Arn"
    assert _pairs("PublisherFunction", SES) == {
        ("logs:CreateLogStream", "PublisherLogGroup.Arn"),
        ("logs:PutLogEvents", "PublisherLogGroup.Arn"),
        ("xray:PutTraceSegments", "*"),
        ("xray:PutTelemetryRecords", "*"),
        ("dynamodb:DescribeStream", stream),
        ("dynamodb:GetRecords", stream),
        ("dynamodb:GetShardIterator", stream),
        ("dynamodb:ListStreams", stream),
        ("sns:Publish", "messaging.yaml:OrderEventsTopic"),
        ("sqs:SendMessage", "messaging.yaml:OutboxPoisonQueue.Arn"),
        ("s3:PutObject", f"{bucket}/*"),  # its objects: the failed batches
        ("s3:ListBucket", bucket),
    }


def test_email_role_is_exactly_its_calls_with_ses() -> None:
    identity = "arn:AWS::Partition:ses:AWS::Region:AWS::AccountId:identity/"
    assert _pairs("EmailFunction", SES) == {
        ("logs:CreateLogStream", "EmailLogGroup.Arn"),
        ("logs:PutLogEvents", "EmailLogGroup.Arn"),
        ("xray:PutTraceSegments", "*"),
        ("xray:PutTelemetryRecords", "*"),
        ("sqs:ReceiveMessage", "messaging.yaml:EmailQueue.Arn"),
        ("sqs:DeleteMessage", "messaging.yaml:EmailQueue.Arn"),
        ("sqs:GetQueueAttributes", "messaging.yaml:EmailQueue.Arn"),
        ("sqs:SendMessage", "messaging.yaml:EmailDeadLetterQueue.Arn"),
        ("dynamodb:PutItem", "data.yaml:IdempotencyTable.Arn"),
        ("dynamodb:BatchWriteItem", "data.yaml:IdempotencyTable.Arn"),  # the SENT marks
        ("dynamodb:DeleteItem", "data.yaml:IdempotencyTable.Arn"),
        # The sender address and its domain: SES authorises against whichever identity it used.
        ("ses:SendEmail", identity + "orders@shop.example.com"),
        ("ses:SendEmail", identity + "shop.example.com"),
    }


def test_email_role_over_smtp_reads_only_its_secret_and_cannot_use_ses() -> None:
    pairs = _pairs("EmailFunction", SMTP_WITH_SECRET)
    assert ("secretsmanager:GetSecretValue", SECRET) in pairs
    assert not {action for action, _ in pairs if action.startswith("ses:")}
    without_secret = _pairs("EmailFunction", {**SMTP_WITH_SECRET, "HasSmtpSecret": False})
    assert pairs - without_secret == {("secretsmanager:GetSecretValue", SECRET)}


def test_audit_role_is_exactly_its_calls() -> None:
    assert _pairs("AuditFunction", SES) == {
        ("logs:CreateLogStream", "AuditLogGroup.Arn"),
        ("logs:PutLogEvents", "AuditLogGroup.Arn"),
        ("xray:PutTraceSegments", "*"),
        ("xray:PutTelemetryRecords", "*"),
        ("sqs:ReceiveMessage", "messaging.yaml:AuditQueue.Arn"),
        ("sqs:DeleteMessage", "messaging.yaml:AuditQueue.Arn"),
        ("sqs:GetQueueAttributes", "messaging.yaml:AuditQueue.Arn"),
        ("sqs:SendMessage", "messaging.yaml:AuditDeadLetterQueue.Arn"),
        ("dynamodb:PutItem", "data.yaml:AuditLogsTable.Arn"),
    }


@pytest.mark.parametrize("bundle", FUNCTIONS, ids=lambda bundle: bundle.name)
def test_role_actions_are_the_ones_the_code_calls(bundle: Any) -> None:
    """Beyond what Lambda itself needs, the role's actions are the AWS calls in the code."""
    function = FUNCTION_OF_HANDLER[bundle.handler]
    conditions = {**SES, "HasSmtpSecret": True}  # every optional statement present
    granted = {action for action, _ in _pairs(function, conditions)}
    granted |= {action for action, _ in _pairs(function, SMTP_WITH_SECRET)}
    infrastructure = LOGS | AWS_REQUIRES_STAR
    if function == "PublisherFunction":
        infrastructure |= STREAM_SOURCE
    elif function != "OrderApiFunction":
        infrastructure |= EVENT_SOURCE
    assert granted - infrastructure == actions_called_by(bundle.handler_module)


def test_only_the_actions_aws_requires_it_for_are_allowed_on_star() -> None:
    for function in FUNCTION_OF_HANDLER.values():
        for conditions in (SES, SMTP_WITH_SECRET):
            # A named bucket's objects ("<bucket>/*") are that bucket's, not a wildcard.
            starred = {
                action
                for action, resource in _pairs(function, conditions)
                if "*" in resource.removesuffix("/*")
            }
            assert starred == AWS_REQUIRES_STAR, function


def test_each_function_has_a_role_of_its_own_that_only_lambda_assumes() -> None:
    functions = resources("functions.yaml", "AWS::Lambda::Function")
    roles = [function["Properties"]["Role"]["Fn::GetAtt"][0] for function in functions.values()]
    assert len(set(roles)) == len(functions) == len(FUNCTIONS)
    for role in roles:
        trust = template("functions.yaml")["Resources"][role]["Properties"]
        assert trust["AssumeRolePolicyDocument"]["Statement"] == [
            {
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ]
        assert "ManagedPolicyArns" not in trust
