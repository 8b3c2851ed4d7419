"""The templates declare what SPEC §7 asks for, and the stacks fit together."""

import json
import re
from typing import Any

import pytest
from pydantic import BaseModel

from api.config import ApiSettings
from api.publisher_function import PublisherSettings
from consumers.audit.handler import AuditSettings
from consumers.email.handler import EmailSettings
from runtime.functions import FUNCTIONS
from tests.support.cfn import (
    CFN,
    TEMPLATES,
    Resolver,
    nested_stack_of,
    resources,
    source_of,
    template,
)

NESTED = ("data.yaml", "messaging.yaml", "functions.yaml", "api.yaml", "monitoring.yaml")
VISIBILITY_BUFFER_SECONDS = 10


def _function(logical_id: str) -> dict[str, Any]:
    props: dict[str, Any] = template("functions.yaml")["Resources"][logical_id]["Properties"]
    return props


def _queue_of(event_source: dict[str, Any]) -> dict[str, Any]:
    stack, expression = source_of("functions.yaml", event_source["EventSourceArn"]["Ref"])
    assert stack == "messaging.yaml"
    queue_id = expression.removesuffix(".Arn")
    resolved: dict[str, Any] = Resolver("messaging.yaml", {"EnvironmentName": "dev"})(
        template("messaging.yaml")["Resources"][queue_id]
    )["Properties"]
    return resolved


def test_root_nests_one_stack_per_concern() -> None:
    nested = resources("root.yaml", "AWS::CloudFormation::Stack")
    assert sorted(r["Properties"]["TemplateURL"] for r in nested.values()) == sorted(NESTED)
    assert sorted(path.name for path in CFN.glob("*.yaml")) == sorted(TEMPLATES)


@pytest.mark.parametrize("child", NESTED)
def test_root_passes_every_parameter_a_nested_stack_needs(child: str) -> None:
    _, passed = nested_stack_of(child)
    declared = template(child).get("Parameters", {})
    required = {name for name, spec in declared.items() if "Default" not in spec}
    assert required <= set(passed) <= set(declared)


def test_root_outputs_the_api_url_tables_queues_and_topic() -> None:
    outputs = set(template("root.yaml")["Outputs"])
    assert {
        "ApiUrl",
        "OrdersTableName",
        "AuditTableName",
        "EmailQueueUrl",
        "AuditQueueUrl",
        "EmailDeadLetterQueueUrl",
        "AuditDeadLetterQueueUrl",
        "TopicArn",
    } <= outputs


@pytest.mark.parametrize(
    ("mapping", "function"),
    [("EmailEventSource", "EmailFunction"), ("AuditEventSource", "AuditFunction")],
)
def test_each_queue_outlasts_its_function_and_dead_letters_after_three_receives(
    mapping: str, function: str
) -> None:
    event_source = template("functions.yaml")["Resources"][mapping]["Properties"]
    assert event_source["FunctionName"] == {"Ref": FUNCTION_ALIASES[function]}
    queue = _queue_of(event_source)
    assert queue["VisibilityTimeout"] >= _function(function)["Timeout"] + VISIBILITY_BUFFER_SECONDS
    assert queue["RedrivePolicy"]["maxReceiveCount"] == 3
    assert queue["MessageRetentionPeriod"] == 4 * 86_400
    assert queue["ReceiveMessageWaitTimeSeconds"] == 20
    # Partial batch responses are ignored without this (SPEC §7).
    assert event_source["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert "Ref" in event_source["BatchSize"]
    assert "Ref" in event_source["ScalingConfig"]["MaximumConcurrency"]


def test_queues_and_dead_letter_queues_are_encrypted_in_a_way_sns_can_deliver_to() -> None:
    queues = resources("messaging.yaml", "AWS::SQS::Queue")
    assert len(queues) == 5  # two queues, their dead-letter queues, the outbox's poison queue
    for logical_id, queue in queues.items():
        props = queue["Properties"]
        assert props["SqsManagedSseEnabled"] is True, logical_id
        assert "KmsMasterKeyId" not in props, logical_id  # alias/aws/sqs would stop SNS delivery
        if "DeadLetter" in logical_id or "Poison" in logical_id:
            assert (
                props["MessageRetentionPeriod"]["Fn::FindInMap"][2] == "DeadLetterRetentionPeriod"
            )
    mapping = template("messaging.yaml")["Mappings"]["Queues"]["All"]
    assert mapping["DeadLetterRetentionPeriod"] == 14 * 86_400


def test_both_queues_are_subscribed_with_raw_delivery_and_only_the_topic_may_send() -> None:
    subscriptions = resources("messaging.yaml", "AWS::SNS::Subscription")
    endpoints = set()
    for subscription in subscriptions.values():
        props = subscription["Properties"]
        assert props["RawMessageDelivery"] is True
        assert props["Protocol"] == "sqs"
        assert props["TopicArn"] == {"Ref": "OrderEventsTopic"}
        queue = props["Endpoint"]["Fn::GetAtt"][0]
        endpoints.add(queue)
        # The policy must exist before SNS starts delivering, or the first messages are lost.
        assert subscription["DependsOn"] == f"{queue}Policy"
    assert endpoints == {"EmailQueue", "AuditQueue"}
    policies = resources("messaging.yaml", "AWS::SQS::QueuePolicy")
    covered = set()
    for policy in policies.values():
        (queue,) = policy["Properties"]["Queues"]
        covered.add(queue["Ref"])
        (statement,) = policy["Properties"]["PolicyDocument"]["Statement"]
        assert statement["Effect"] == "Allow"
        assert statement["Principal"] == {"Service": "sns.amazonaws.com"}
        assert statement["Action"] == "sqs:SendMessage"
        assert statement["Resource"] == {"Fn::GetAtt": [queue["Ref"], "Arn"]}
        assert statement["Condition"] == {
            "ArnEquals": {"aws:SourceArn": {"Ref": "OrderEventsTopic"}}
        }
    assert covered == endpoints


def test_topics_are_encrypted() -> None:
    for name in ("messaging.yaml", "monitoring.yaml"):
        for topic in resources(name, "AWS::SNS::Topic").values():
            assert topic["Properties"]["KmsMasterKeyId"]


def test_every_table_has_point_in_time_recovery_and_encryption() -> None:
    tables = resources("data.yaml", "AWS::DynamoDB::Table")
    assert len(tables) == 3
    for logical_id, table in tables.items():
        props = table["Properties"]
        assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
        assert props["SSESpecification"]["SSEEnabled"] is True, logical_id
        assert props["BillingMode"] == "PAY_PER_REQUEST", logical_id
    assert tables["IdempotencyTable"]["Properties"]["TimeToLiveSpecification"] == {
        "AttributeName": "ExpiresAt",
        "Enabled": True,
    }
    for kept in ("OrdersTable", "AuditLogsTable"):
        assert tables[kept]["DeletionPolicy"] == tables[kept]["UpdateReplacePolicy"] == "Retain"


@pytest.mark.parametrize(
    ("function", "memory", "timeout"),
    [
        ("OrderApiFunction", 512, 30),
        ("PublisherFunction", 256, 30),
        ("EmailFunction", 256, 60),
        ("AuditFunction", 256, 30),
    ],
)
def test_functions_have_the_spec_size_runtime_and_a_seven_day_log_group(
    function: str, memory: int, timeout: int
) -> None:
    props = _function(function)
    assert (props["MemorySize"], props["Timeout"]) == (memory, timeout)
    [declared] = [f for f in FUNCTIONS if f.logical_id == function]  # runtime/functions.py
    assert (declared.memory_mb, declared.timeout_seconds) == (memory, timeout)
    assert props["Handler"] == declared.handler
    assert props["Runtime"] == "python3.13"
    assert props["Architectures"] == [{"Ref": "Architecture"}]
    assert template("functions.yaml")["Parameters"]["Architecture"]["Default"] == "arm64"
    assert template("root.yaml")["Parameters"]["Architecture"]["Default"] == "arm64"
    log_group = template("functions.yaml")["Resources"][props["LoggingConfig"]["LogGroup"]["Ref"]]
    assert log_group["Properties"]["RetentionInDays"] == 7
    name = Resolver("functions.yaml", {"EnvironmentName": "dev"})(props["FunctionName"])
    assert (
        Resolver("functions.yaml", {"EnvironmentName": "dev"})(
            log_group["Properties"]["LogGroupName"]
        )
        == f"/aws/lambda/{name}"
    )


SETTINGS: dict[str, type[BaseModel]] = {
    "OrderApiFunction": ApiSettings,
    "PublisherFunction": PublisherSettings,
    "EmailFunction": EmailSettings,
    "AuditFunction": AuditSettings,
}


@pytest.mark.parametrize("function", SETTINGS)
def test_each_function_gets_every_variable_its_settings_require_and_no_unknown_one(
    function: str,
) -> None:
    fields = SETTINGS[function].model_fields.values()
    known = {field.alias for field in fields}
    required = {field.alias for field in fields if field.is_required()}
    given = set(_function(function)["Environment"]["Variables"])
    assert required <= given
    assert given <= known | set(LIBRARY_VARIABLES)


# Read by the libraries, not by the settings: each function sets them alike.
LIBRARY_VARIABLES = {"PYDANTIC_DISABLE_PLUGINS": "__all__"}


@pytest.mark.parametrize("function", SETTINGS)
def test_each_function_skips_pydantics_plugin_discovery(function: str) -> None:
    variables = _function(function)["Environment"]["Variables"]
    assert {name: variables.get(name) for name in LIBRARY_VARIABLES} == LIBRARY_VARIABLES


def test_email_function_gets_the_smtp_variables_only_when_it_sends_through_smtp() -> None:
    variables = _function("EmailFunction")["Environment"]["Variables"]
    smtp = {"UseSes": False, "UseSmtp": True, "HasSmtpSecret": False}
    over_smtp = Resolver("functions.yaml", {"SmtpHost": "smtp.example.com"}, smtp)(variables)
    assert over_smtp["SMTP_HOST"] == "smtp.example.com"
    assert "SMTP_SECRET_ARN" not in over_smtp
    over_ses = Resolver("functions.yaml", {}, {**smtp, "UseSes": True, "UseSmtp": False})(variables)
    assert not {name for name in over_ses if name.startswith("SMTP_")}


def test_functions_run_the_bundled_handlers_from_their_zips() -> None:
    declared = {
        props["Handler"]: props["Code"]
        for props in (
            r["Properties"] for r in resources("functions.yaml", "AWS::Lambda::Function").values()
        )
    }
    assert declared == {f.handler: f"../dist/lambda/{f.zip_name}" for f in FUNCTIONS}


def test_api_routes_proxy_to_the_order_function_with_throttling_and_access_logs() -> None:
    methods = resources("api.yaml", "AWS::ApiGateway::Method")
    path_of = {"OrderResource": "/order", "OrderIdResource": "/order/{orderId}"}
    parts = {
        logical_id: r["Properties"]["PathPart"]
        for logical_id, r in resources("api.yaml", "AWS::ApiGateway::Resource").items()
    }
    assert parts == {"OrderResource": "order", "OrderIdResource": "{orderId}"}
    routes = set()
    for method in methods.values():
        props = method["Properties"]
        routes.add((props["HttpMethod"], path_of[props["ResourceId"]["Ref"]]))
        assert props["Integration"]["Type"] == "AWS_PROXY"
        assert "${OrderApiFunctionArn}" in props["Integration"]["Uri"]["Fn::Sub"]
        if props["HttpMethod"] != "OPTIONS":
            assert props["ApiKeyRequired"] == {"Fn::If": ["ApiKeyRequired", True, False]}
        else:
            assert "ApiKeyRequired" not in props  # a CORS preflight carries no key
    assert routes == {
        ("POST", "/order"),
        ("OPTIONS", "/order"),
        ("GET", "/order/{orderId}"),
        ("OPTIONS", "/order/{orderId}"),
    }
    (stage,) = resources("api.yaml", "AWS::ApiGateway::Stage").values()
    (settings,) = stage["Properties"]["MethodSettings"]
    assert (settings["ResourcePath"], settings["HttpMethod"]) == ("/*", "*")
    assert settings["ThrottlingRateLimit"] == {"Ref": "ThrottleRateLimit"}
    assert template("api.yaml")["Parameters"]["ThrottleRateLimit"]["Default"] == 100
    access_log = stage["Properties"]["AccessLogSetting"]
    assert json.loads(access_log["Format"])["requestId"] == "$context.requestId"
    conditional = {
        logical_id
        for logical_id, r in template("api.yaml")["Resources"].items()
        if r.get("Condition") == "ApiKeyRequired"
    }
    assert conditional == {"UsagePlan", "ApiKey", "UsagePlanKey"}


def _alarms() -> dict[str, dict[str, Any]]:
    return {
        logical_id: Resolver("monitoring.yaml", {"EnvironmentName": "dev"})(alarm)["Properties"]
        for logical_id, alarm in resources("monitoring.yaml", "AWS::CloudWatch::Alarm").items()
    }


def _dimension(alarm: dict[str, Any]) -> Any:
    stats = [m["MetricStat"]["Metric"] for m in alarm.get("Metrics", []) if "MetricStat" in m]
    dimensions = alarm.get("Dimensions") or stats[0]["Dimensions"]
    return dimensions[0]["Value"]


def test_monitoring_has_every_alarm_of_the_spec_and_each_notifies_the_alarm_topic() -> None:
    alarms = _alarms()
    for alarm in alarms.values():
        assert alarm["AlarmActions"] == ["AlarmTopic"]
        assert alarm["TreatMissingData"] == "notBreaching"
    by_kind: dict[str, set[Any]] = {}
    for logical_id, alarm in alarms.items():
        kind = re.sub(
            r"^(OrdersTable|AuditTable|IdempotencyTable|OrderApi|Publisher|Email|Audit)",
            "",
            logical_id,
        )
        by_kind.setdefault(kind, set()).add(_dimension(alarm))
    functions = {
        "param:OrderApiFunctionName",
        "param:PublisherFunctionName",
        "param:EmailFunctionName",
        "param:AuditFunctionName",
    }
    tables = {"param:OrdersTableName", "param:AuditTableName", "param:IdempotencyTableName"}
    assert by_kind == {
        "ErrorRateAlarm": functions,
        "ThrottlesAlarm": functions | tables,
        "DurationAlarm": functions,
        "DeadLetterAlarm": {"param:EmailDeadLetterQueueName", "param:AuditDeadLetterQueueName"},
        "Api5xxAlarm": {"param:ApiName"},
        "Api4xxAlarm": {"param:ApiName"},
        # The outbox (SPEC §9): behind, a record that can never be an event, a batch given up.
        "IteratorAgeAlarm": {"param:PublisherFunctionName"},
        "OutboxPoisonAlarm": {"param:OutboxPoisonQueueName"},
        "FailureBucketAlarm": {"param:PublisherFailureBucketName"},
    }
    assert alarms["PublisherIteratorAgeAlarm"]["Threshold"] == 60_000
    assert alarms["Api5xxAlarm"]["Threshold"] == 0.01
    assert alarms["Api4xxAlarm"]["Threshold"] == 0.1
    for function in ("OrderApi", "Publisher", "Email", "Audit"):
        assert alarms[f"{function}ErrorRateAlarm"]["Threshold"] == 5


@pytest.mark.parametrize("function", ["OrderApi", "Publisher", "Email", "Audit"])
def test_duration_alarm_is_at_eighty_percent_of_that_functions_timeout(function: str) -> None:
    timeout = _function(f"{function}Function")["Timeout"]
    assert _alarms()[f"{function}DurationAlarm"]["Threshold"] == timeout * 1000 * 0.8


def test_monitoring_receives_the_names_of_the_resources_it_watches() -> None:
    expected = {
        "OrderApiFunctionName": ("functions.yaml", "OrderApiFunction"),
        "PublisherFunctionName": ("functions.yaml", "PublisherFunction"),
        "OutboxPoisonQueueName": ("messaging.yaml", "OutboxPoisonQueue.QueueName"),
        "PublisherFailureBucketName": ("messaging.yaml", "PublisherFailureBucket"),
        "EmailFunctionName": ("functions.yaml", "EmailFunction"),
        "AuditFunctionName": ("functions.yaml", "AuditFunction"),
        "EmailDeadLetterQueueName": ("messaging.yaml", "EmailDeadLetterQueue.QueueName"),
        "AuditDeadLetterQueueName": ("messaging.yaml", "AuditDeadLetterQueue.QueueName"),
        "OrdersTableName": ("data.yaml", "OrdersTable"),
    }
    for parameter, source in expected.items():
        assert source_of("monitoring.yaml", parameter) == source


def test_dashboard_body_is_json_with_the_spec_widgets() -> None:
    (dashboard,) = resources("monitoring.yaml", "AWS::CloudWatch::Dashboard").values()
    body = json.loads(
        Resolver("monitoring.yaml", {"EnvironmentName": "dev"})(dashboard)["Properties"][
            "DashboardBody"
        ]
    )
    titles = [widget["properties"]["title"] for widget in body["widgets"]]
    assert titles == [
        "Order rate (per minute)",
        "Success vs failure",
        "API latency (ms)",
        "Lambda duration p95 (ms)",
        "Queue depth",
        "Dead-letter queue depth",
        "Outbox: publish lag and iterator age (ms)",
        "Outbox: orders published vs poison records",
    ]


def _parameter_file(env: str) -> dict[str, str]:
    entries = json.loads((CFN / "params" / f"{env}.json").read_text())
    assert isinstance(entries, list)
    return dict(entry.split("=", 1) for entry in entries)


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_parameter_files_give_valid_values_for_root_parameters(env: str) -> None:
    values = _parameter_file(env)
    declared = template("root.yaml")["Parameters"]
    assert values["EnvironmentName"] == env
    assert set(values) <= set(declared)
    assert {name for name, spec in declared.items() if "Default" not in spec} <= set(values)
    for name, value in values.items():
        spec = declared[name]
        if "AllowedValues" in spec:
            assert value in spec["AllowedValues"], name
        if "AllowedPattern" in spec:
            assert re.fullmatch(spec["AllowedPattern"], value), name
        if spec["Type"] == "Number":
            assert (
                spec.get("MinValue", float("-inf"))
                <= float(value)
                <= spec.get("MaxValue", float("inf"))
            )


FUNCTION_ALIASES = {
    "OrderApiFunction": "OrderApiAlias",
    "PublisherFunction": "PublisherAlias",
    "EmailFunction": "EmailAlias",
    "AuditFunction": "AuditAlias",
}


@pytest.mark.parametrize("snapstart", ["Enabled", "Disabled"])
def test_snapstart_is_a_parameter_and_every_caller_invokes_a_published_version(
    snapstart: str,
) -> None:
    resolve = Resolver("functions.yaml", {"SnapStart": snapstart, "CodeVersion": "abc123"})
    functions = template("functions.yaml")["Resources"]
    for function_id, alias_id in FUNCTION_ALIASES.items():
        props = resolve(functions[function_id])["Properties"]
        if snapstart == "Enabled":
            assert props["SnapStart"] == {"ApplyOn": "PublishedVersions"}
        else:
            assert "SnapStart" not in props
        assert props["Runtime"] in {"python3.12", "python3.13"}  # SnapStart for Python: 3.12+
        alias = resolve(functions[alias_id])["Properties"]
        version_id = alias["FunctionVersion"].removesuffix(".Version")
        version = resolve(functions[version_id])["Properties"]
        assert version["FunctionName"] == function_id
        assert alias["FunctionName"] == function_id
        assert "abc123" in version["Description"]  # a new CodeVersion, a new version
    mappings = {
        r["Properties"]["FunctionName"]["Ref"]
        for r in resources("functions.yaml", "AWS::Lambda::EventSourceMapping").values()
    }
    assert mappings == {"PublisherAlias", "EmailAlias", "AuditAlias"}
    outputs = template("functions.yaml")["Outputs"]
    assert outputs["OrderApiFunctionArn"]["Value"] == {"Ref": "OrderApiAlias"}  # API Gateway's


def test_snapstart_is_on_for_prod_and_off_elsewhere_by_default() -> None:
    assert template("root.yaml")["Parameters"]["SnapStart"]["Default"] == "Disabled"
    for env, expected in (("dev", None), ("staging", None), ("prod", "Enabled")):
        entries = json.loads((CFN / "params" / f"{env}.json").read_text(encoding="utf-8"))
        values = dict(entry.split("=", 1) for entry in entries)
        assert values.get("SnapStart") == expected, env


def test_the_deploy_parameters_name_the_code_by_a_hash_of_the_zips(tmp_path: Any) -> None:
    from pathlib import Path

    from cfn.bundle import code_version, deploy_parameters

    out = Path(tmp_path)
    for function in FUNCTIONS:
        (out / function.zip_name).write_bytes(function.name.encode())
    entries = deploy_parameters(CFN / "params" / "prod.json", out)
    assert entries[-1] == f"CodeVersion={code_version(out)}"
    assert re.fullmatch(
        template("root.yaml")["Parameters"]["CodeVersion"]["AllowedPattern"],
        entries[-1].split("=", 1)[1],
    )
    assert "SnapStart=Enabled" in entries
    (out / FUNCTIONS[0].zip_name).write_bytes(b"changed code")
    assert code_version(out) != entries[-1].split("=", 1)[1]


def test_the_orders_stream_feeds_the_publisher_as_the_outbox_needs() -> None:
    """SPEC §9: NEW_IMAGE stream; INSERTs only; failures by sequence number; retried until the
    record is nearly a day old; then kept whole in the failure bucket."""
    orders = template("data.yaml")["Resources"]["OrdersTable"]["Properties"]
    assert orders["StreamSpecification"] == {"StreamViewType": "NEW_IMAGE"}
    mapping = template("functions.yaml")["Resources"]["PublisherEventSource"]["Properties"]
    assert source_of("functions.yaml", mapping["EventSourceArn"]["Ref"]) == (
        "data.yaml",
        "OrdersTable.StreamArn",
    )
    assert mapping["FunctionName"] == {"Ref": "PublisherAlias"}
    assert mapping["StartingPosition"] == "TRIM_HORIZON"
    assert [json.loads(f["Pattern"]) for f in mapping["FilterCriteria"]["Filters"]] == [
        {"eventName": ["INSERT"]}
    ]
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["BisectBatchOnFunctionError"] is True
    assert mapping["MaximumRetryAttempts"] == -1
    assert 23 * 3600 < mapping["MaximumRecordAgeInSeconds"] < 24 * 3600
    destination = mapping["DestinationConfig"]["OnFailure"]["Destination"]["Ref"]
    assert source_of("functions.yaml", destination) == (
        "messaging.yaml",
        "PublisherFailureBucket.Arn",
    )
    bucket = template("messaging.yaml")["Resources"]["PublisherFailureBucket"]["Properties"]
    [rule] = bucket["LifecycleConfiguration"]["Rules"]
    assert rule["ExpirationInDays"] == 14
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    # The API only writes the table: no topic, no publish permission, no other table.
    assert "ORDER_TOPIC_ARN" not in _function("OrderApiFunction")["Environment"]["Variables"]
