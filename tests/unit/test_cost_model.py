"""The cost model's pure parts: item sizes and request units as AWS defines them, the price
table's checks, and the bill built from a run's counts."""

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from load.cost import (
    GB,
    PRICES,
    TEMPLATES,
    FunctionRun,
    Line,
    PriceTable,
    PriceTableError,
    RunCounts,
    TableTraits,
    add_to_report,
    functions_from,
    itemize,
    lambda_ms,
    metrics_from,
    table_lines,
    table_traits,
    trace_sampling_rate,
    usage_delta,
)
from local.aws.usage_meter import (
    attribute_size,
    caller_of,
    chunks,
    item_size,
    number_size,
    read_units,
    resource_of,
    write_units,
)
from tests.support.cfn import template


@pytest.mark.parametrize(
    ("number", "size"),
    [("1", 2), ("12", 2), ("123", 3), ("1000", 2), ("0.001", 2), ("-12345.678", 5), ("0", 2)],
)
def test_a_number_takes_a_byte_per_two_significant_digits_plus_one(number: str, size: int) -> None:
    assert number_size(number) == size


def test_item_size_counts_names_values_and_container_overheads() -> None:
    assert attribute_size({"S": "héllo"}) == 6  # UTF-8 bytes
    assert attribute_size({"BOOL": True}) == attribute_size({"NULL": True}) == 1
    assert attribute_size({"B": "AAEC"}) == 3  # base64 of 3 bytes
    assert attribute_size({"SS": ["ab", "c"]}) == 3
    assert attribute_size({"L": [{"S": "ab"}, {"N": "1"}]}) == 3 + (1 + 2) + (1 + 2)
    assert attribute_size({"M": {"k": {"S": "v"}}}) == 3 + 1 + 1 + 1
    assert item_size({"OrderId": {"S": "x" * 36}, "Total": {"N": "12.5"}}) == 7 + 36 + 5 + 3
    assert item_size(None) == item_size({}) == 0


def test_request_units_round_up_with_a_minimum_of_one() -> None:
    assert [write_units(n) for n in (0, 1, 1024, 1025, 4096)] == [1, 1, 1, 2, 4]
    assert read_units(0, consistent=True) == 1
    assert read_units(4096, consistent=False) == 0.5
    assert read_units(4097, consistent=True) == 2
    assert [chunks(n) for n in (0, 65536, 65537)] == [1, 1, 2]


def test_callers_and_resources_are_read_from_the_request() -> None:
    ua = "aiobotocore/2.25.1 md/Botocore#1.40.61 ua/2.1 app/email-consumer cfg/retry-mode#standard"
    assert caller_of(ua) == "email-consumer"
    assert caller_of("Boto3/1.40.61") == "other"
    assert resource_of("sqs", b'{"QueueUrl": "http://h:1/123456789012/dev-OrderEmailQueue"}') == (
        "dev-OrderEmailQueue"
    )
    assert resource_of("dynamodb", b'{"TableName": "dev-Orders"}') == "dev-Orders"
    topic = b"Action=PublishBatch&TopicArn=arn%3Aaws%3Asns%3Aus-east-1%3A123%3Adev-OrderEvents"
    assert resource_of("sns", topic) == "dev-OrderEvents"
    assert resource_of("dynamodb", b"not json") == ""


def _table(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "prices.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_committed_price_table_loads_and_every_price_names_its_source() -> None:
    table = PriceTable.load()
    assert table.region == "us-east-1"
    for name, price in table.prices.items():
        assert price.source.startswith("https://"), name
        assert price.read == "2026-11-27", name


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            lambda text: text.replace(
                "[price.sqs_request]\nusd = 0.40", "[price.sqs_request]\nusd = -1"
            ),
            "price.sqs_request: usd must be >= 0",
        ),
        (
            lambda text: text.replace("[price.ses_email]", "[price.ses_mail]"),
            "price.ses_email needs usd",
        ),
        (
            lambda text: text.replace(
                "lambda_xray_sampling_rate = 0.05", 'lambda_xray_sampling_rate = "lots"'
            ),
            "assumption.lambda_xray_sampling_rate",
        ),
        (lambda text: text + "\n[price\n", "not a TOML file"),
    ],
)
def test_a_bad_price_table_is_refused_naming_the_entry(
    tmp_path: Path, mutate: Callable[[str], str], message: str
) -> None:
    path = _table(tmp_path, mutate(PRICES.read_text(encoding="utf-8")))
    with pytest.raises(PriceTableError, match=message):
        PriceTable.load(path)


def test_a_missing_price_table_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(PriceTableError, match="cannot read it"):
        PriceTable.load(tmp_path / "nowhere.toml")


def _counts() -> RunCounts:
    functions = {
        "order-api": FunctionRun(
            512, invocations=100, duration_ms=1500, cpu_ms=1000, log_bytes=80_000
        ),
        "order-publisher": FunctionRun(
            256, invocations=10, duration_ms=100, cpu_ms=50, log_bytes=0
        ),
        "email-consumer": FunctionRun(
            256, invocations=10, duration_ms=900, cpu_ms=600, log_bytes=50_000
        ),
    }
    aws = [
        {
            "caller": "order-api",
            "call": "dynamodb.PutItem",
            "resource": "dev-Orders",
            "requests": 100,
            "billed_requests": 100,
            "write_units": 200,
            "index_write_units": 0,
            "read_units": 0,
        },
        {
            "caller": "email-consumer",
            "call": "dynamodb.PutItem",
            "resource": "dev-Idempotency",
            "requests": 200,
            "billed_requests": 200,
            "write_units": 200,
            "index_write_units": 0,
            "read_units": 0,
        },
        {
            "caller": "event-source-mapping",
            "call": "sqs.ReceiveMessage",
            "resource": "dev-OrderEmailQueue",
            "requests": 12,
            "billed_requests": 12,
        },
        {
            "caller": "order-publisher",
            "call": "sns.PublishBatch",
            "resource": "dev-OrderEvents",
            "requests": 10,
            "billed_requests": 10,
        },
    ]
    aws.append(  # orders load reading the records back: a client of the stack, not billed
        {
            "caller": "other",
            "call": "dynamodb.Query",
            "resource": "dev-AuditLogs",
            "requests": 100,
            "read_units": 50,
        }
    )
    return RunCounts(orders=100, emails=100, loop_ms=120.0, functions=functions, aws=aws)


def test_the_bill_prices_each_count_per_million_orders() -> None:
    table = PriceTable.load()
    bill = itemize(_counts(), table)
    by_what = {line.what: line for line in bill.lines}
    assert by_what["REST API requests"].usd_per_million == pytest.approx(3.50)
    assert by_what["write request units, dev-Orders"].usd_per_million == pytest.approx(2 * 0.625)
    assert by_what["write request units, dev-Idempotency"].email
    assert by_what["emails"].usd_per_million == pytest.approx(100.0)
    assert by_what["publish requests (64 KB chunks)"].usd_per_million == pytest.approx(0.05)
    assert not [line for line in bill.lines if line.what.startswith("read request units")]
    assert bill.without_email < bill.without_ses < bill.total
    assert bill.dominant().service == "SES"
    assert bill.dominant(email=False).what == "REST API requests"
    assert any("without email at all" in line for line in table_lines(bill, 100))


def test_lambda_duration_scales_cpu_by_memory_share_and_machine_speed_not_waiting() -> None:
    table = PriceTable.load()
    run = FunctionRun(512, invocations=10, duration_ms=300, cpu_ms=100)
    same_speed = lambda_ms(run, table.assumptions["lambda_reference_loop_ms"], table)
    assert same_speed == pytest.approx(100 * 1769 / 512 + 200 + 5)
    slower_here = lambda_ms(run, 2 * table.assumptions["lambda_reference_loop_ms"], table)
    assert slower_here == pytest.approx(50 * 1769 / 512 + 200 + 5)
    big = FunctionRun(4096, invocations=1, duration_ms=10, cpu_ms=10)
    assert lambda_ms(big, table.assumptions["lambda_reference_loop_ms"], table) == pytest.approx(
        10.5
    )


def test_a_run_without_orders_cannot_be_priced() -> None:
    counts = _counts()
    counts.orders = 0
    with pytest.raises(ValueError, match="no order"):
        itemize(counts, PriceTable.load())


def test_invocation_records_are_summed_by_function_and_bad_lines_skipped() -> None:
    lines = [
        '{"function": "order-api", "requestId": "a", "durationMs": 5, "cpuMs": 3, "memoryMb": 512, "logBytes": 400, "initMs": 900.5}',
        '{"function": "order-api", "requestId": "b", "durationMs": 4, "cpuMs": 6, "memoryMb": 512, "logBytes": 300, "initMs": null}',
        '{"function": "order-api", "requestId": "c", "durat',
        "[]",
    ]
    runs = functions_from(lines)
    assert list(runs) == ["order-api"]
    run = runs["order-api"]
    assert (run.invocations, run.duration_ms, run.cpu_ms, run.log_bytes) == (2, 9, 7, 700)
    assert (run.cold_starts, run.init_ms) == (1, 900.5)


def test_usage_delta_keeps_what_grew() -> None:
    before = [
        {"caller": "x", "call": "sqs.SendMessage", "resource": "q", "requests": 2, "messages": 2}
    ]
    after = [
        {"caller": "x", "call": "sqs.SendMessage", "resource": "q", "requests": 5, "messages": 5},
        {
            "caller": "x",
            "call": "sqs.ReceiveMessage",
            "resource": "q",
            "requests": 1,
            "messages": 0,
        },
        {"caller": "y", "call": "sns.Publish", "resource": "t", "requests": 0},
    ]
    assert usage_delta(before, after) == [
        {"caller": "x", "call": "sqs.SendMessage", "resource": "q", "requests": 3, "messages": 3},
        {
            "caller": "x",
            "call": "sqs.ReceiveMessage",
            "resource": "q",
            "requests": 1,
            "messages": 0,
        },
    ]


def _templates_with(tmp_path: Path, prod: list[str]) -> Path:
    """A copy of the templates whose prod parameters are ``prod``."""
    folder = tmp_path / "cfn"
    (folder / "params").mkdir(parents=True)
    for path in TEMPLATES.glob("*.yaml"):
        (folder / path.name).write_text(path.read_text(encoding="utf-8"))
    (folder / "params" / "prod.json").write_text(json.dumps(prod))
    return folder


def test_traces_follow_the_prod_sampling_rate_for_the_api_and_lambdas_fixed_rate_for_the_rest(
    tmp_path: Path,
) -> None:
    table = PriceTable.load()
    assert trace_sampling_rate() == 0.01  # cfn/params/prod.json
    [xray] = [line for line in itemize(_counts(), table).lines if line.service == "X-Ray"]
    # 100 API requests at 1 %, 20 event-driven invocations at Lambda's 5 %, per 100 orders
    assert xray.units_per_order == pytest.approx((100 * 0.01 + 20 * 0.05) / 100)
    assert xray.usd_per_million == pytest.approx(xray.units_per_order * 5.00)
    default = _templates_with(tmp_path, ["EnvironmentName=prod"])
    assert trace_sampling_rate(default) == 0.05  # the root template's default
    [xray] = [line for line in itemize(_counts(), table, default).lines if line.service == "X-Ray"]
    assert xray.units_per_order == pytest.approx((100 * 0.05 + 20 * 0.05) / 100)


def test_the_html_report_gets_the_bill_before_its_end_escaped(tmp_path: Path) -> None:
    bill = itemize(_counts(), PriceTable.load())
    bill.lines.append(Line("SNS", "<script>alert(1)</script>", 0.0, 0.0))
    report = tmp_path / "report.html"
    report.write_text("<html><body><h1>locust</h1></body></html>", encoding="utf-8")
    add_to_report(report, bill, 100)
    text = report.read_text(encoding="utf-8")
    assert text.startswith('<html><body><h1>locust</h1><section id="aws-cost">')
    assert text.endswith("</section></body></html>")
    assert "<script>" not in text
    assert "&lt;script&gt;" in text
    assert f"{bill.total:,.2f}" in text
    assert "from 100 orders" in text
    add_to_report(tmp_path / "missing.html", bill)  # no report: nothing to add to, no error
    assert not (tmp_path / "missing.html").exists()


def test_api_gateways_access_log_is_priced_as_log_ingestion_when_counted() -> None:
    table = PriceTable.load()
    counts = _counts()
    assert not [line for line in itemize(counts, table).lines if "access log" in line.what]
    counts.access_log_bytes = 30_000  # 300 bytes for each of the 100 orders
    [line] = [line for line in itemize(counts, table).lines if "access log" in line.what]
    assert line.note == "300 bytes an order"
    assert line.usd_per_million == pytest.approx(300 * 1_000_000 / GB * 0.50)
    assert RunCounts.from_json(counts.as_json()).access_log_bytes == 30_000


def test_table_traits_read_from_the_data_template_agree_with_cloudformations_reading() -> None:
    decoded = template("data.yaml")["Resources"]
    expected = {}
    for resource in decoded.values():
        if resource["Type"] != "AWS::DynamoDB::Table":
            continue
        properties = resource["Properties"]
        name = properties["TableName"]["Fn::Sub"].removeprefix("${EnvironmentName}-")
        expected[name] = TableTraits(
            expires=properties.get("TimeToLiveSpecification", {}).get("Enabled") is True,
            backed_up=properties.get("PointInTimeRecoverySpecification", {}).get(
                "PointInTimeRecoveryEnabled"
            )
            is True,
        )
    assert table_traits() == expected
    assert expected["Idempotency"].expires
    assert not expected["Orders"].expires


def test_storage_a_million_orders_keep_is_priced_a_month_with_expiring_tables_apart() -> None:
    counts = _counts()
    counts.aws += [
        {"caller": "order-api", "call": "dynamodb.PutItem", "resource": "dev-Orders",
         "stored_bytes": 50_000, "index_stored_bytes": 0},  # 500 bytes an order
        {"caller": "email-consumer", "call": "dynamodb.PutItem", "resource": "dev-Idempotency",
         "stored_bytes": 20_000, "index_stored_bytes": 0},
    ]  # fmt: skip
    bill = itemize(counts, PriceTable.load())
    lines = {line.what: line for line in bill.storage}
    gb = 500 * 1_000_000 / GB
    assert lines["dev-Orders: items"].units_per_order == pytest.approx(gb)
    assert lines["dev-Orders: items"].usd_per_million == pytest.approx(gb * 0.25)
    assert lines["dev-Orders: point-in-time recovery"].usd_per_million == pytest.approx(gb * 0.20)
    assert lines["dev-Idempotency: items"].expires
    assert bill.storage_per_month == pytest.approx(gb * 0.45)  # the expiring table left out
    assert "dev-Orders: index copies" not in lines  # nothing stored there
    text = "\n".join(table_lines(bill))
    assert "each million orders kept adds 0.47 GB to DynamoDB" in text
    assert "dev-Idempotency: its rows expire (TTL)" in text


def test_custom_metrics_are_each_name_and_set_of_dimension_values_the_emf_lines_wrote() -> None:
    def emf(dimensions: list[list[str]], names: list[str], **values: str) -> str:
        directive = {
            "Namespace": "OrderPipeline",
            "Dimensions": dimensions,
            "Metrics": [{"Name": name, "Unit": "Count"} for name in names],
        }
        return json.dumps({"_aws": {"Timestamp": 1, "CloudWatchMetrics": [directive]}, **values})

    lines = [
        emf([["service"]], ["OrdersReceived", "OrdersProcessed"], service="order-api"),
        emf([["service"]], ["OrdersReceived"], service="order-api"),  # the same metric again
        emf([["function_name", "service"]], ["ColdStart"], function_name="a", service="s"),
        emf([["function_name", "service"]], ["ColdStart"], function_name="b", service="s"),
        '{"level": "INFO", "message": "not a metric"}',
        '{"_aws": {"CloudWatchMetrics": "broken"}}',
    ]
    assert metrics_from(lines) == [
        "OrderPipeline/ColdStart{function_name=a,service=s}",
        "OrderPipeline/ColdStart{function_name=b,service=s}",
        "OrderPipeline/OrdersProcessed{service=order-api}",
        "OrderPipeline/OrdersReceived{service=order-api}",
    ]
    counts = _counts()
    counts.metrics = metrics_from(lines)
    [line] = [line for line in itemize(counts, PriceTable.load()).monthly if "EMF" in line.what]
    assert line.usd_per_million == pytest.approx(4 * 0.30)


def test_a_cold_start_in_prod_is_a_snapstart_restore_and_its_duration(tmp_path: Path) -> None:
    table = PriceTable.load()
    counts = _counts()
    counts.functions["order-api"].cold_starts = 2
    counts.functions["order-api"].init_ms = 400.0  # 200 ms a restore
    lines = {line.what: line for line in itemize(counts, table).cold_starts}
    api = lines["order-api: a cold start (SnapStart restore of 0.5 GB)"]
    restore = table.prices["lambda_snapstart_restore_gb"].each
    gb_second = table.prices["lambda_gb_second_arm64"].each
    assert api.usd_per_million == pytest.approx(0.5 * restore + 0.2 * 0.5 * gb_second)
    assert (
        "no cold start" in lines["email-consumer: a cold start (SnapStart restore of 0.25 GB)"].note
    )
    without = _templates_with(tmp_path, ["EnvironmentName=prod", "SnapStart=Disabled"])
    bill = itemize(counts, table, without)
    assert all(line.usd_per_million == 0 and "INIT" in line.note for line in bill.cold_starts)


def test_idle_polling_of_the_queues_mappings_is_a_fixed_monthly_line() -> None:
    bill = itemize(_counts(), PriceTable.load())
    [idle] = [line for line in bill.monthly if line.what.startswith("idle polling")]
    # two SQS mappings in cfn/functions.yaml (the stream's polling is free), 5 long polls each,
    # a request every 20 s for a 30-day month
    assert idle.units_per_order == 2 * 5 * 2_592_000 / 20
    assert idle.usd_per_million == pytest.approx(idle.units_per_order * 0.40 / 1_000_000)
