"""What orders cost on AWS, from what a run of the local stack counted, priced by one table.

The local stack sees every billable event of the pipeline: each AWS call passes its emulator,
which counts what AWS would bill for it (``GET /_emulator/usage``: request units from item
sizes, 64 KB chunks, by caller and resource), and each invocation of a function leaves a record
beside the functions' log (``invocations.jsonl``: duration, CPU time, log bytes). ``RunCounts``
holds the difference over a run; ``itemize`` prices it per million orders with the table in
``load/prices/us-east-1.toml`` (every price there, none here).

One line is a model, not a count: Lambda's billed duration. A function's time here is its CPU
time on this machine plus the time it waited (on AWS calls, on SMTP). Lambda gives a function a
share of a vCPU in proportion to its memory (a whole one at 1,769 MB), so its CPU time is
scaled by that share and by the speed of this machine against Lambda's (SPEC §12's reference
loop, here and as assumed for Lambda); waiting is kept as measured. That line shows its figure
at half and at twice the CPU time so scaled.
"""

import contextlib
import html
import json
import math
import re
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

PRICES = Path(__file__).resolve().with_name("prices") / "us-east-1.toml"
TEMPLATES = Path(__file__).resolve().parents[1] / "cfn"
MILLION = 1_000_000
GB = 1024**3
API_FUNCTION = "order-api"
EMAIL_FUNCTION = "email-consumer"
# Callers of AWS that belong to the pipeline besides its functions (``app/`` ids in the
# User-Agent, set by the local stack): Lambda's event source mappings.
PIPELINE_CALLERS = ("event-source-mapping",)
STREAM_ACTIONS = ("GetRecords", "GetShardIterator", "DescribeStream", "ListStreams")
ROUNDING_MS = 0.5  # Lambda bills each invocation's duration rounded up to the millisecond
REQUIRED_PRICES = (
    "apigateway_rest_request",
    "apigateway_http_request",
    "lambda_request",
    "lambda_gb_second_x86_64",
    "lambda_gb_second_arm64",
    "lambda_snapstart_cache_gb_second",
    "lambda_snapstart_restore_gb",
    "dynamodb_write_request_unit",
    "dynamodb_read_request_unit",
    "dynamodb_storage_gb_month",
    "dynamodb_pitr_gb_month",
    "dynamodb_streams_read_request",
    "sns_request",
    "sqs_request",
    "ses_email",
    "logs_ingested_gb",
    "alarm_month",
    "custom_metric_month",
    "dashboard_month",
    "xray_trace",
    "kms_key_month",
    "secret_month",
)
REQUIRED_ASSUMPTIONS = (
    "lambda_full_vcpu_mb",
    "lambda_reference_loop_ms",
    "lambda_xray_sampling_rate",
    "month_seconds",
    "sqs_idle_pollers",
    "sqs_long_poll_seconds",
)


class PriceTableError(ValueError):
    """The price table cannot be used; the message names the file and the entry."""


@dataclass(frozen=True)
class Price:
    usd: float
    per: float
    unit: str
    source: str
    read: str

    @property
    def each(self) -> float:
        return self.usd / self.per


@dataclass(frozen=True)
class PriceTable:
    region: str
    prices: dict[str, Price]
    assumptions: dict[str, float]

    @classmethod
    def load(cls, path: Path = PRICES) -> "PriceTable":
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise PriceTableError(f"{path}: cannot read it ({exc.strerror})") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise PriceTableError(f"{path}: not a TOML file ({exc})") from None
        prices: dict[str, Price] = {}
        raw = data.get("price")
        raw = raw if isinstance(raw, dict) else {}
        for name in REQUIRED_PRICES:
            entry: Any = raw.get(name)
            try:
                price = Price(
                    float(entry["usd"]),
                    float(entry["per"]),
                    str(entry["unit"]),
                    str(entry["source"]),
                    str(entry["read"]),
                )
            except (TypeError, KeyError, ValueError):
                raise PriceTableError(
                    f"{path}: price.{name} needs usd, per, unit, source and read"
                ) from None
            if not (math.isfinite(price.usd) and price.usd >= 0 and price.per > 0):
                raise PriceTableError(f"{path}: price.{name}: usd must be >= 0 and per > 0")
            prices[name] = price
        assumptions: dict[str, float] = {}
        given = data.get("assumption")
        given = given if isinstance(given, dict) else {}
        for name in REQUIRED_ASSUMPTIONS:
            value = given.get(name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise PriceTableError(f"{path}: assumption.{name} must be a number >= 0")
            assumptions[name] = float(value)
        return cls(str(data.get("region", "?")), prices, assumptions)


@dataclass
class FunctionRun:
    """One function's invocations in a run, summed from ``invocations.jsonl``."""

    memory_mb: int
    invocations: int = 0
    duration_ms: float = 0.0
    cpu_ms: float = 0.0
    log_bytes: int = 0
    cold_starts: int = 0
    init_ms: float = 0.0

    def add(self, record: dict[str, Any]) -> None:
        self.invocations += 1
        self.duration_ms += float(record["durationMs"])
        self.cpu_ms += min(float(record["cpuMs"]), float(record["durationMs"]))
        self.log_bytes += int(record["logBytes"])
        if record.get("initMs") is not None:
            self.cold_starts += 1
            self.init_ms += float(record["initMs"])


def functions_from(lines: list[str]) -> dict[str, FunctionRun]:
    """``invocations.jsonl`` lines (those a run appended) by function; unreadable lines are
    skipped (a container killed mid-write leaves at most one)."""
    runs: dict[str, FunctionRun] = {}
    for line in lines:
        try:
            record = json.loads(line)
            run = runs.setdefault(record["function"], FunctionRun(int(record["memoryMb"])))
            run.add(record)
        except (ValueError, KeyError, TypeError):
            continue
    return runs


def metrics_from(lines: list[str]) -> list[str]:
    """The custom metrics the functions' EMF lines create (``functions.log`` lines a run
    appended): CloudWatch bills one for each namespace, metric name and set of dimension
    values, a month, from the first time it is written."""
    found = set()
    for line in lines:
        if not line.startswith('{"_aws"'):
            continue
        try:
            document = json.loads(line)
            for directive in document["_aws"]["CloudWatchMetrics"]:
                for dimensions in directive.get("Dimensions") or [[]]:
                    values = ",".join(f"{name}={document[name]}" for name in dimensions)
                    for metric in directive["Metrics"]:
                        found.add(f"{directive['Namespace']}/{metric['Name']}{{{values}}}")
        except (ValueError, KeyError, TypeError, AttributeError):
            continue
    return sorted(found)


def usage_delta(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The emulator's usage rows (``/_emulator/usage``) that grew between two readings, by how
    much."""

    def key(row: dict[str, Any]) -> tuple[str, str, str]:
        return (row["caller"], row["call"], row["resource"])

    earlier = {key(row): row for row in before}
    rows = []
    for row in after:
        old = earlier.get(key(row), {})
        grown = {
            name: value - old.get(name, 0)
            for name, value in row.items()
            if isinstance(value, (int, float)) and not isinstance(value, bool)
        }
        if grown.get("requests", 0) > 0:
            rows.append(
                {"caller": row["caller"], "call": row["call"], "resource": row["resource"], **grown}
            )
    return rows


@dataclass
class RunCounts:
    """What a run of the local stack counted: the input of ``itemize``."""

    orders: int
    emails: int
    loop_ms: float
    functions: dict[str, FunctionRun]
    aws: list[dict[str, Any]]
    architecture: str = "arm64"
    access_log_bytes: int = 0  # API Gateway's access log lines (the front writes them)
    metrics: list[str] = field(default_factory=list)  # custom metrics the EMF lines created

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "functions": {k: asdict(v) for k, v in self.functions.items()}}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "RunCounts":
        return cls(
            orders=int(data["orders"]),
            emails=int(data["emails"]),
            loop_ms=float(data["loop_ms"]),
            functions={k: FunctionRun(**v) for k, v in data["functions"].items()},
            aws=list(data["aws"]),
            architecture=str(data.get("architecture", "arm64")),
            access_log_bytes=int(data.get("access_log_bytes", 0)),
            metrics=[str(metric) for metric in data.get("metrics", [])],
        )


@dataclass(frozen=True)
class Line:
    service: str
    what: str
    units_per_order: float
    usd_per_million: float
    email: bool = False  # there only because orders are emailed
    note: str = ""
    expires: bool = False  # storage whose rows expire (TTL): not kept with the orders


@dataclass
class Bill:
    lines: list[Line]
    comparisons: list[Line]
    monthly: list[Line] = field(default_factory=list)  # fixed, per month, whatever the volume
    # DynamoDB storage a million orders add, $ a month for as long as they are kept
    # (units: GB a million orders)
    storage: list[Line] = field(default_factory=list)
    # What one cold start of each function costs (units: GB-s billed); AWS, not the run,
    # decides how often they happen
    cold_starts: list[Line] = field(default_factory=list)

    @property
    def total(self) -> float:
        return sum(line.usd_per_million for line in self.lines)

    @property
    def without_email(self) -> float:
        return sum(line.usd_per_million for line in self.lines if not line.email)

    @property
    def without_ses(self) -> float:
        return sum(line.usd_per_million for line in self.lines if line.service != "SES")

    @property
    def storage_per_month(self) -> float:
        """$ a month that each million orders kept add (tables whose rows expire left out)."""
        return sum(line.usd_per_million for line in self.storage if not line.expires)

    @property
    def fixed_per_month(self) -> float:
        return sum(line.usd_per_million for line in self.monthly)

    def dominant(self, email: bool = True) -> Line:
        return max(
            (line for line in self.lines if email or not line.email),
            key=lambda line: line.usd_per_million,
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "per_million_orders": [asdict(line) for line in self.lines],
            "comparisons": [asdict(line) for line in self.comparisons],
            "fixed_per_month": [asdict(line) for line in self.monthly],
            "storage_per_million_orders_month": [asdict(line) for line in self.storage],
            "storage_usd_per_million_orders_month": round(self.storage_per_month, 4),
            "per_cold_start": [asdict(line) for line in self.cold_starts],
            "total_per_million": round(self.total, 4),
            "without_ses_per_million": round(self.without_ses, 4),
            "without_email_per_million": round(self.without_email, 4),
            "fixed_usd_per_month": round(self.fixed_per_month, 4),
            "dominant": self.dominant().service + " " + self.dominant().what,
        }


def lambda_ms(
    run: FunctionRun, loop_ms: float, table: PriceTable, cpu_factor: float = 1.0
) -> float:
    """The run's invocations of one function as Lambda would bill them, in ms (module doc)."""
    share = min(1.0, run.memory_mb / table.assumptions["lambda_full_vcpu_mb"])
    speed = table.assumptions["lambda_reference_loop_ms"] / loop_ms if loop_ms > 0 else 1.0
    cpu = run.cpu_ms * speed / share * cpu_factor
    waited = max(0.0, run.duration_ms - run.cpu_ms)
    return cpu + waited + ROUNDING_MS * run.invocations


def itemize(counts: RunCounts, table: PriceTable, templates: Path = TEMPLATES) -> Bill:
    """Dollars per million orders, line by line, from a run's counts."""
    if counts.orders <= 0:
        raise ValueError("the run accepted no order: nothing to divide by")
    p = table.prices
    per_order = 1 / counts.orders
    lines: list[Line] = []

    def add(
        service: str, what: str, units: float, price: Price, email: bool = False, note: str = ""
    ) -> None:
        lines.append(
            Line(
                service,
                what,
                units * per_order,
                units * per_order * MILLION * price.each,
                email,
                note,
            )
        )

    api_requests = counts.functions.get(API_FUNCTION, FunctionRun(0)).invocations
    add("API Gateway", "REST API requests", api_requests, p["apigateway_rest_request"])
    comparisons = [
        Line(
            "API Gateway",
            "as an HTTP API instead (not used: API keys and usage plans need REST)",
            api_requests * per_order,
            api_requests * per_order * MILLION * p["apigateway_http_request"].each,
        )
    ]
    if counts.access_log_bytes:
        add(
            "CloudWatch Logs",
            "API Gateway access log bytes ingested (GB)",
            counts.access_log_bytes / GB,
            p["logs_ingested_gb"],
            note=f"{counts.access_log_bytes * per_order:.0f} bytes an order",
        )
    gb_second = gb_second_price(counts, table)
    for name, run in sorted(counts.functions.items()):
        email = name == EMAIL_FUNCTION
        add("Lambda", f"{name} invocations", run.invocations, p["lambda_request"], email)
        gb = run.memory_mb / 1024
        ms = lambda_ms(run, counts.loop_ms, table)
        low, high = (lambda_ms(run, counts.loop_ms, table, f) for f in (0.5, 2.0))
        note = (
            f"{ms / max(run.invocations, 1):.1f} ms an invocation at {run.memory_mb} MB (modelled; "
            f"${low / 1000 * gb * per_order * MILLION * gb_second.each:.2f} to "
            f"${high / 1000 * gb * per_order * MILLION * gb_second.each:.2f} with half or twice the CPU time)"
        )
        add("Lambda", f"{name} duration (GB-s)", ms / 1000 * gb, gb_second, email, note)
        add(
            "CloudWatch Logs",
            f"{name} log bytes ingested (GB)",
            run.log_bytes / GB,
            p["logs_ingested_gb"],
            email,
            f"{run.log_bytes * per_order:.0f} bytes an order",
        )
    writes: dict[tuple[str, bool], float] = {}
    reads: dict[tuple[str, bool], float] = {}
    stream_reads = 0.0
    sns = 0.0
    sqs: dict[tuple[str, bool], float] = {}
    for row in counts.aws:
        if row["caller"] not in PIPELINE_CALLERS and row["caller"] not in counts.functions:
            continue  # a client of the stack (orders load reading its records), not the pipeline
        service, _, action = row["call"].partition(".")
        if service == "dynamodb" and action in STREAM_ACTIONS:
            service = "dynamodbstreams"  # signed as dynamodb
        email = row["caller"] == EMAIL_FUNCTION or "Email" in row["resource"]
        key = (row["resource"] or "?", email)
        if service == "dynamodb":
            writes[key] = (
                writes.get(key, 0.0) + row.get("write_units", 0) + row.get("index_write_units", 0)
            )
            reads[key] = reads.get(key, 0.0) + row.get("read_units", 0)
        elif service == "dynamodbstreams":
            stream_reads += row.get("billed_requests", 0)
        elif service == "sns":
            sns += row.get("billed_requests", 0)
        elif service == "sqs":
            sqs[key] = sqs.get(key, 0.0) + row.get("billed_requests", 0)
    for by_resource, what, price in (
        (writes, "write request units", p["dynamodb_write_request_unit"]),
        (reads, "read request units", p["dynamodb_read_request_unit"]),
    ):
        for (resource, email), units in sorted(by_resource.items()):
            if units:
                add("DynamoDB", f"{what}, {resource}", units, price, email)
    if stream_reads:
        add(
            "DynamoDB Streams",
            "reads by the publisher's event source mapping",
            stream_reads,
            p["dynamodb_streams_read_request"],
        )
    add("SNS", "publish requests (64 KB chunks)", sns, p["sns_request"])
    for (resource, email), units in sorted(sqs.items()):
        add("SQS", f"requests, {resource}", units, p["sqs_request"], email)
    add("SES", "emails", counts.emails, p["ses_email"], email=True)
    api_rate = trace_sampling_rate(templates)
    lambda_rate = table.assumptions["lambda_xray_sampling_rate"]
    event_driven = sum(
        run.invocations for name, run in counts.functions.items() if name != API_FUNCTION
    )
    add(
        "X-Ray",
        f"traces: {api_rate:.0%} of API requests, {lambda_rate:.0%} of event-driven invocations",
        api_requests * api_rate + event_driven * lambda_rate,
        p["xray_trace"],
        note="the API's rate is the prod TraceSamplingRate (an X-Ray sampling rule of the "
        "stage; the Order API function follows it); Lambda's own rule for the others is fixed",
    )
    return Bill(
        lines,
        comparisons,
        fixed_monthly(table, templates, counts.functions, counts.metrics),
        storage_lines(counts, table, templates),
        cold_start_lines(counts, table, templates),
    )


def cold_start_lines(
    counts: RunCounts, table: PriceTable, templates: Path = TEMPLATES
) -> list[Line]:
    """One cold start of each function, as prod bills it: with SnapStart, the restore (per GB
    of memory) and the restore's duration (the run's containers measure it: each is forked
    from an initialised template, as Lambda restores a snapshot); without, the INIT phase is
    billed as duration, and a fork's start says nothing of it."""
    p = table.prices
    snapstart = prod_snapstart(templates)
    gb_second = gb_second_price(counts, table)
    lines = []
    for name, run in sorted(counts.functions.items()):
        gb = run.memory_mb / 1024
        if not snapstart:
            lines.append(
                Line(
                    "Lambda",
                    f"{name}: a cold start",
                    0.0,
                    0.0,
                    note="INIT is billed as duration; measure it with "
                    "python -m tests.benchmarks.cold_start (not priced here)",
                )
            )
            continue
        restore_ms = run.init_ms / run.cold_starts if run.cold_starts else 0.0
        gb_s = restore_ms / 1000 * gb
        lines.append(
            Line(
                "Lambda",
                f"{name}: a cold start (SnapStart restore of {gb:g} GB)",
                gb_s,
                gb * p["lambda_snapstart_restore_gb"].each + gb_s * gb_second.each,
                note=f"restore {restore_ms:.0f} ms here, from {run.cold_starts} cold starts"
                if run.cold_starts
                else "no cold start in this run: the restore's duration is not counted",
            )
        )
    return lines


@dataclass(frozen=True)
class TableTraits:
    expires: bool  # TTL on: its rows go, it holds only what its TTL keeps
    backed_up: bool  # point-in-time recovery on


def table_traits(templates: Path = TEMPLATES) -> dict[str, TableTraits]:
    """Each table of ``data.yaml`` by the name after its environment prefix (``Orders``)."""
    try:
        text = (templates / "data.yaml").read_text(encoding="utf-8")
    except OSError:
        return {}
    traits = {}
    for block in re.split(r"\n(?=  [A-Za-z0-9]+:\n)", text):
        if "Type: AWS::DynamoDB::Table" not in block:
            continue
        name = re.search(r"TableName: !Sub \$\{EnvironmentName\}-([A-Za-z0-9_.-]+)", block)
        if name is None:
            continue
        ttl = re.search(r"TimeToLiveSpecification:\n(?:        .*\n)*?        Enabled: true", block)
        traits[name.group(1)] = TableTraits(
            expires=ttl is not None, backed_up="PointInTimeRecoveryEnabled: true" in block
        )
    return traits


def storage_lines(counts: RunCounts, table: PriceTable, templates: Path = TEMPLATES) -> list[Line]:
    """What a million orders add to each table's storage (and its indexes', its backup's),
    from the bytes the run's writes stored, and what that costs a month while they are kept."""
    p = table.prices
    items: dict[str, float] = {}
    copies: dict[str, float] = {}
    for row in counts.aws:
        if row["call"].startswith("dynamodb.") and row.get("resource"):
            resource = row["resource"]
            items[resource] = items.get(resource, 0) + row.get("stored_bytes", 0)
            copies[resource] = copies.get(resource, 0) + row.get("index_stored_bytes", 0)
    traits = table_traits(templates)
    lines = []
    per_million = MILLION / counts.orders
    for resource in sorted(items):
        trait = traits.get(resource.partition("-")[2], TableTraits(False, False))
        note = "its rows expire (TTL): it holds what its TTL keeps, not every order"
        for what, stored, price in (
            ("items", items[resource], p["dynamodb_storage_gb_month"]),
            ("index copies", copies[resource], p["dynamodb_storage_gb_month"]),
            (
                "point-in-time recovery",
                items[resource] * trait.backed_up,
                p["dynamodb_pitr_gb_month"],
            ),
        ):
            gb = stored * per_million / GB
            if gb > 0:
                lines.append(
                    Line(
                        "DynamoDB storage",
                        f"{resource}: {what}",
                        gb,
                        gb * price.each,
                        note=note if trait.expires else "",
                        expires=trait.expires,
                    )
                )
    return lines


def gb_second_price(counts: RunCounts, table: PriceTable) -> Price:
    """Lambda's duration price for the run's architecture."""
    arm = counts.architecture == "arm64"
    return table.prices[f"lambda_gb_second_{'arm64' if arm else 'x86_64'}"]


def prod_snapstart(templates: Path = TEMPLATES) -> bool:
    """Whether the prod parameters turn SnapStart on."""
    return prod_parameter("SnapStart", "Disabled", templates) == "Enabled"


def prod_parameter(name: str, default: str, templates: Path = TEMPLATES) -> str:
    """A parameter of the prod environment (``cfn/params/prod.json``: ``Key=Value`` entries)."""
    try:
        params = json.loads((templates / "params" / "prod.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return default
    for param in params if isinstance(params, list) else []:
        key, _, value = str(param).partition("=")
        if key == name:
            return value
    return default


def trace_sampling_rate(templates: Path = TEMPLATES) -> float:
    """The prod share of API requests X-Ray traces (``TraceSamplingRate``; the template's
    default when the prod parameters leave it out)."""
    default = 0.05
    with contextlib.suppress(OSError):
        root = (templates / "root.yaml").read_text(encoding="utf-8")
        found = re.search(
            r"^  TraceSamplingRate:\n(?:    .*\n)*?    Default: ([0-9.]+)$", root, re.M
        )
        if found:
            default = float(found.group(1))
    try:
        return float(prod_parameter("TraceSamplingRate", str(default), templates))
    except ValueError:
        return default


def prod_architecture(templates: Path = TEMPLATES) -> str:
    """The Lambda architecture of the prod parameters."""
    return prod_parameter("Architecture", "x86_64", templates)


def _count(texts: list[str], resource_type: str) -> int:
    pattern = re.compile(rf"^\s+Type:\s+{re.escape(resource_type)}\s*$", re.MULTILINE)
    return sum(len(pattern.findall(text)) for text in texts)


def fixed_monthly(
    table: PriceTable,
    templates: Path = TEMPLATES,
    functions: dict[str, FunctionRun] | None = None,
    metrics: list[str] | None = None,
) -> list[Line]:
    """What the stack costs a month whatever its volume, from the templates' resources and the
    prod parameters (SnapStart's cache, for each function's published version)."""
    p = table.prices
    lines = []
    if functions and prod_snapstart(templates):
        cached_gb = sum(run.memory_mb / 1024 for run in functions.values())
        price = p["lambda_snapstart_cache_gb_second"]
        seconds = table.assumptions["month_seconds"]
        lines.append(
            Line(
                "fixed",
                f"SnapStart cache, {cached_gb:g} GB of published versions",
                cached_gb,
                cached_gb * seconds * price.each,
            )
        )
    texts = [path.read_text(encoding="utf-8") for path in templates.glob("*.yaml")]
    for resource_type, what, price in (
        ("AWS::CloudWatch::Alarm", "alarms", p["alarm_month"]),
        (
            "AWS::CloudWatch::Dashboard",
            "dashboards (the first three of an account are free)",
            p["dashboard_month"],
        ),
        ("AWS::KMS::Key", "KMS keys", p["kms_key_month"]),
        ("AWS::SecretsManager::Secret", "secrets", p["secret_month"]),
    ):
        count = _count(texts, resource_type)
        if count:
            lines.append(Line("fixed", f"{what}: {count}", count, count * price.usd / price.per))
    sqs_mappings = len(
        re.findall(
            r"Type: AWS::Lambda::EventSourceMapping\n(?:    .*\n)*?      EventSourceArn: "
            r"!Ref \w*QueueArn",
            "\n".join(texts),
        )
    )
    if sqs_mappings:
        a = table.assumptions
        requests = (
            sqs_mappings * a["sqs_idle_pollers"] * a["month_seconds"] / a["sqs_long_poll_seconds"]
        )
        lines.append(
            Line(
                "fixed",
                f"idle polling: {sqs_mappings} queues' event source mappings, "
                f"{a['sqs_idle_pollers']:g} long polls each, {requests / MILLION:.2f} M SQS requests",
                requests,
                requests * p["sqs_request"].each,
            )
        )
    if metrics:
        price = p["custom_metric_month"]
        lines.append(
            Line(
                "fixed",
                f"custom metrics (EMF) the run created: {len(metrics)}",
                len(metrics),
                len(metrics) * price.usd / price.per,
                note="one a metric name and set of dimension values; a metric that this run "
                "did not write (a failure's) adds its own when it first appears",
            )
        )
    return lines


def table_lines(bill: Bill, orders: int | None = None) -> list[str]:
    """The bill as the console shows it."""
    out = ["  cost per million orders on AWS (load/prices: us-east-1, on-demand, no free tier):"]
    for line in sorted(bill.lines, key=lambda line: -line.usd_per_million):
        mark = " (email)" if line.email else ""
        out.append(f"    ${line.usd_per_million:>9.2f}  {line.service}: {line.what}{mark}")
        if line.note:
            out.append(f"                {line.note}")
    for line in bill.comparisons:
        out.append(f"    (${line.usd_per_million:>8.2f}  {line.service}: {line.what})")
    dominant = bill.dominant(email=False)
    out.append(
        f"    ${bill.total:.2f} per million orders in all; ${bill.without_ses:.2f} without SES's line; "
        f"${bill.without_email:.2f} without email at all (largest line then: {dominant.service} "
        f"{dominant.what}, ${dominant.usd_per_million:.2f})"
    )
    kept = [line for line in bill.storage if not line.expires]
    if kept:
        gb = sum(line.units_per_order for line in kept if "recovery" not in line.what)
        parts = ", ".join(f"{line.what} ${line.usd_per_million:.3f}" for line in kept)
        out.append(
            f"    each million orders kept adds {gb:.2f} GB to DynamoDB: "
            f"${bill.storage_per_month:.2f} a month while kept ({parts})"
        )
    for line in bill.storage:
        if line.expires and "recovery" not in line.what:
            out.append(f"    ({line.what.split(':')[0]}: {line.note})")
    priced = [line for line in bill.cold_starts if line.usd_per_million]
    if priced:
        each = ", ".join(
            f"{line.what.split(':')[0]} ${line.usd_per_million:.6f}" for line in priced
        )
        out.append(f"    each cold start (SnapStart restore, prod): {each}")
    if bill.monthly:
        fixed = ", ".join(f"{line.what} ${line.usd_per_million:.2f}" for line in bill.monthly)
        out.append(f"    and ${bill.fixed_per_month:.2f} a month whatever the volume: {fixed}")
    if orders is not None:
        out.append(f"    (from {orders} orders)")
    return out


def _note_html(line: Line) -> str:
    return f" ({html.escape(line.note)})" if line.note else ""


def table_html(bill: Bill, orders: int | None = None) -> str:
    """The bill as a section of the HTML report."""
    rows = "".join(
        f"<tr><td>{line.usd_per_million:,.2f}</td><td>{html.escape(line.service)}</td>"
        f"<td>{html.escape(line.what)}{' (email)' if line.email else ''}"
        f"{'<br><small>' + html.escape(line.note) + '</small>' if line.note else ''}</td></tr>"
        for line in sorted(bill.lines, key=lambda line: -line.usd_per_million)
    )
    comparisons = "".join(
        f"<tr><td>({line.usd_per_million:,.2f})</td><td>{html.escape(line.service)}</td>"
        f"<td>{html.escape(line.what)}</td></tr>"
        for line in bill.comparisons
    )
    fixed = "".join(
        f"<li>{html.escape(line.what)}: ${line.usd_per_million:,.2f}</li>" for line in bill.monthly
    )
    storage = "".join(
        f"<li>{html.escape(line.what)}: {line.units_per_order:.3f} GB, "
        f"${line.usd_per_million:,.3f} a month{_note_html(line)}</li>"
        for line in bill.storage
    )
    cold = "".join(
        f"<li>{html.escape(line.what)}: ${line.usd_per_million:.6f}{_note_html(line)}</li>"
        for line in bill.cold_starts
    )
    dominant = bill.dominant(email=False)
    return (
        '<section id="aws-cost"><h2>Cost per million orders on AWS</h2>'
        "<p>us-east-1 on-demand prices (load/prices), no free tier"
        f"{f', from {orders} orders' if orders is not None else ''}.</p>"
        '<table class="stats"><thead><tr><th>$ per million orders</th><th>service</th>'
        f"<th>line</th></tr></thead><tbody>{rows}{comparisons}</tbody></table>"
        f"<p><strong>${bill.total:,.2f}</strong> per million orders in all; "
        f"${bill.without_ses:,.2f} without SES's line; ${bill.without_email:,.2f} without email "
        f"at all (largest line then: {html.escape(dominant.service)} "
        f"{html.escape(dominant.what)}).</p>"
        f"<p>And ${bill.fixed_per_month:,.2f} a month whatever the volume:</p><ul>{fixed}</ul>"
        f"<p>Each million orders kept adds ${bill.storage_per_month:,.2f} a month of DynamoDB "
        f"storage:</p><ul>{storage}</ul>"
        f"<p>Each cold start:</p><ul>{cold}</ul>"
        "</section>"
    )


def add_to_report(report: Path, bill: Bill, orders: int | None = None) -> None:
    """Put the bill into locust's HTML report, before its end (left alone if there is none)."""
    try:
        text = report.read_text(encoding="utf-8")
    except OSError:
        return
    section = table_html(bill, orders)
    marker = text.rfind("</body>")
    text = text + section if marker < 0 else text[:marker] + section + text[marker:]
    report.write_text(text, encoding="utf-8")
