"""The emulator answers as moto's own server does, now that it calls moto's handlers without
Flask (``local.aws.moto_dispatch``), remembers parsed conditions (``local.aws.expression_cache``),
converted names (``local.aws.name_cache``), builds only what a send reads of a queue's
attributes (``local.aws.queue_attributes``), walks JSON requests with each shape's members
looked up once (``local.aws.json_requests``), remembers where each member of an answer is found
(``local.aws.response_keys``), and draws its random ids at once (``local.aws.random_ids``); and
it counts the calls it serves.

The same raw HTTP requests go to moto's ``ThreadedMotoServer`` (Flask, unpatched) and to the
emulator process; status, headers and body must match, apart from what differs between any two
answers (request ids, checksums of bodies holding them, dates, the HTTP server's own headers).
"""

import io
import json
import re
import uuid
from typing import Any

import requests
from hypothesis import given
from hypothesis import strategies as st
from moto.core.request import PRESERVED_HEADER_NAMES_ENVIRON_KEY, Request

from local.aws.emulator import MotoProcess
from local.aws.moto_dispatch import header_dict
from tests.support.moto_server import MotoServer

SERVER_HEADERS = {"date", "server", "connection", "content-length", "keep-alive"}
VOLATILE_HEADERS = {"x-amzn-requestid", "x-amz-crc32", "x-amz-request-id", "x-amz-id-2"}
VOLATILE_TEXT = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"  # uuids
    r"|\b1\d{9}(\.\d+)?\b"  # epoch times
    r"|127\.0\.0\.1:\d+"  # the server's own address
    r"|\d{4}-\d\d-\d\dT[\d:.]+(Z|[+-]\d\d:?\d\d)?"  # ISO times
    r"|<RequestId>[^<]*</RequestId>"
    r'|"ReceiptHandle": ?"[a-z]{185}"'
)


def signed(service: str) -> dict[str, str]:
    """The headers moto reads from a SigV4 signature (it does not check the signature)."""
    return {
        "Authorization": (
            f"AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20261127/us-east-1/{service}/"
            "aws4_request, SignedHeaders=host;x-amz-date, Signature=0"
        ),
        "X-Amz-Date": "20261127T000000Z",
    }


def json_call(service: str, target: str, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "method": "POST",
        "path": "/",
        "headers": {
            **signed(service),
            "Content-Type": "application/x-amz-json-1.0",
            "X-Amz-Target": target,
        },
        "data": json.dumps(body),
    }


def query_call(service: str, **params: str) -> dict[str, Any]:
    return {
        "method": "POST",
        "path": "/",
        "headers": {**signed(service), "Content-Type": "application/x-www-form-urlencoded"},
        "data": params,
    }


def id_table(name: str, **extra: Any) -> dict[str, Any]:
    """CreateTable's body: a table keyed by the string ``Id``, on demand."""
    return {
        "TableName": name,
        "KeySchema": [{"AttributeName": "Id", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "Id", "AttributeType": "S"}],
        "BillingMode": "PAY_PER_REQUEST",
        **extra,
    }


def answer(url: str, call: dict[str, Any]) -> tuple[int, dict[str, str], str]:
    response = requests.request(
        call["method"], url + call["path"], headers=call["headers"], data=call["data"], timeout=30
    )
    headers = {
        name.lower(): value
        for name, value in response.headers.items()
        if name.lower() not in SERVER_HEADERS
    }
    for name in VOLATILE_HEADERS & headers.keys():
        headers[name] = "<volatile>"
    return response.status_code, headers, VOLATILE_TEXT.sub("<volatile>", response.text)


def test_every_kind_of_call_gets_moto_servers_answer(
    moto: MotoServer, emulator: MotoProcess
) -> None:
    name = f"dispatch-{uuid.uuid4().hex[:8]}"
    table = id_table(name)
    item = {"TableName": name, "Item": {"Id": {"S": "1"}, "Total": {"N": "0.30"}}}
    calls = [
        json_call("dynamodb", "DynamoDB_20120810.CreateTable", table),
        json_call("dynamodb", "DynamoDB_20120810.PutItem", item),
        json_call(
            "dynamodb",
            "DynamoDB_20120810.PutItem",
            item
            | {
                "ConditionExpression": "attribute_not_exists(Id)",
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            },
        ),  # fails its condition: a 400 with the old item
        json_call(
            "dynamodb",
            "DynamoDB_20120810.UpdateItem",
            {
                "TableName": name,
                "Key": {"Id": {"S": "1"}},
                "UpdateExpression": "SET #s = :s",
                "ExpressionAttributeNames": {"#s": "Status"},
                "ExpressionAttributeValues": {":s": {"S": "SENT"}},
                "ReturnValues": "ALL_NEW",
            },
        ),
        json_call("dynamodb", "DynamoDB_20120810.GetItem", {"TableName": name, "Key": {"Id": {"S": "1"}}}),
        json_call("dynamodb", "DynamoDB_20120810.DescribeTable", {"TableName": "no-such-table"}),
        json_call("sqs", "AmazonSQS.CreateQueue", {"QueueName": name}),
        json_call("sqs", "AmazonSQS.GetQueueUrl", {"QueueName": "no-such-queue"}),
        query_call("sns", Action="CreateTopic", Name=name, Version="2010-03-31"),
        query_call(
            "sns",
            Action="ListSubscriptionsByTopic",
            TopicArn=f"arn:aws:sns:us-east-1:123456789012:{name}",
            Version="2010-03-31",
        ),
        query_call("sns", Action="Publish", TopicArn="arn:aws:sns:us-east-1:123456789012:nope", Message="m", Version="2010-03-31"),
        # Where Flask does more than call moto's handler, it still answers.
        {
            **json_call("dynamodb", "DynamoDB_20120810.DescribeTable", {"TableName": name}),
            "method": "OPTIONS",
        },
        {
            **json_call("sqs", "AmazonSQS.ListQueues", {"QueueNamePrefix": name}),
            "headers": {**json_call("sqs", "AmazonSQS.ListQueues", {})["headers"], "Origin": "http://app.example"},
        },
        {"method": "GET", "path": "/no/such/path", "headers": signed("sqs"), "data": ""},
    ]  # fmt: skip
    for call in calls:
        assert answer(emulator.url, call) == answer(moto.url, call), call


def test_conditions_answer_as_moto_servers_also_when_remembered(
    moto: MotoServer, emulator: MotoProcess
) -> None:
    """Each condition is sent twice or more: the second answer comes from the remembered parse."""
    name = f"conditions-{uuid.uuid4().hex[:8]}"
    table = id_table(name)

    def claim(key: str, now: str, **extra: Any) -> dict[str, Any]:
        return json_call(
            "dynamodb",
            "DynamoDB_20120810.PutItem",
            {
                "TableName": name,
                "Item": {"Id": {"S": key}, "Status": {"S": "SENDING"}, "LockedUntil": {"N": now}},
                "ConditionExpression": "attribute_not_exists(Id) OR (#s = :sending AND LockedUntil < :now)",
                "ExpressionAttributeNames": {"#s": "Status"},
                "ExpressionAttributeValues": {":sending": {"S": "SENDING"}, ":now": {"N": now}},
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
            | extra,
        )

    def put(key: str, condition: str, **extra: Any) -> dict[str, Any]:
        body = {"TableName": name, "Item": {"Id": {"S": key}}, "ConditionExpression": condition}
        return json_call("dynamodb", "DynamoDB_20120810.PutItem", body | extra)

    unused_value = {"ExpressionAttributeValues": {":unused": {"S": "x"}}}
    unused_name = {"ExpressionAttributeNames": {"#unused": "x"}}
    calls = [
        json_call("dynamodb", "DynamoDB_20120810.CreateTable", table),
        claim("a", "100.000"),  # no item: claimed
        claim("a", "50.000"),  # a live claim: fails, with the old item
        claim("a", "50.000"),  # the same input again
        claim("a", "200.000"),  # the lease ran out: claimed again
        put("b", "attribute_not_exists(Id)"),
        put("b", "attribute_not_exists(Id)"),  # exists now: fails
        put("c", "attribute_not_exists(Id)", **unused_value),  # a value the condition never uses
        put("c", "attribute_not_exists(Id)", **unused_value),
        put("c", "attribute_not_exists(#unused)", **unused_name),
        put("c", "size(Id) > :n", ExpressionAttributeValues={":n": {"N": "0"}}),  # no item: fails
        put("c", "size(Id) > :n", ExpressionAttributeValues={":n": {"N": "0"}}),
        json_call(
            "dynamodb",
            "DynamoDB_20120810.Scan",
            {"TableName": name, "FilterExpression": "#s = :s", "ExpressionAttributeNames": {"#s": "Status"}, "ExpressionAttributeValues": {":s": {"S": "SENDING"}}},
        ),
        *[
            json_call(
                "dynamodb",
                "DynamoDB_20120810.UpdateItem",
                {"TableName": name, "Key": {"Id": {"S": "b"}}, "UpdateExpression": "SET Amount = :t", "ConditionExpression": "attribute_not_exists(Amount) OR Amount <> :c", "ExpressionAttributeValues": {":t": {"N": "1"}, ":c": {"N": "2"}}},
            ),
            json_call(
                "dynamodb",
                "DynamoDB_20120810.UpdateItem",
                {"TableName": name, "Key": {"Id": {"S": "b"}}, "UpdateExpression": "SET Total = :t", "ConditionExpression": "attribute_exists(Id)", "ExpressionAttributeValues": {":t": {"N": "1"}, ":unused": {"S": "x"}}},
            ),
        ] * 2,  # moto checks that each value is used by one of the two expressions
        json_call(
            "dynamodb",
            "DynamoDB_20120810.DeleteItem",
            {"TableName": name, "Key": {"Id": {"S": "a"}}, "ConditionExpression": "#s = :s", "ExpressionAttributeNames": {"#s": "Status"}, "ExpressionAttributeValues": {":s": {"S": "SENT"}}},
        ),  # fails: it is SENDING
        json_call(
            "dynamodb",
            "DynamoDB_20120810.Scan",
            {"TableName": name, "FilterExpression": "#s = :s", "ExpressionAttributeNames": {"#s": "Status"}, "ExpressionAttributeValues": {":s": {"S": "SENDING"}}},
        ),
    ]  # fmt: skip
    for call in calls:
        assert answer(emulator.url, call) == answer(moto.url, call), call
    # moto fails on these (a 500, which Flask words otherwise): so it stays, call after call.
    for fails in ("attribute_not_exists(Id", "#missing = :missing"):
        call = put("c", fails)
        assert answer(moto.url, call)[0] == 500
        assert answer(emulator.url, call)[0] == answer(emulator.url, call)[0] == 500


def test_update_expressions_answer_as_moto_servers_also_when_remembered(
    moto: MotoServer, emulator: MotoProcess
) -> None:
    """Each update is sent twice: the second validates a copy of the remembered parse
    (``local.aws.update_expressions``). Updates moto applies, and updates it refuses."""
    name = f"updates-{uuid.uuid4().hex[:8]}"

    def update(key: str, expression: str, **extra: Any) -> dict[str, Any]:
        body = {"TableName": name, "Key": {"Id": {"S": key}}, "UpdateExpression": expression}
        return json_call(
            "dynamodb", "DynamoDB_20120810.UpdateItem", body | {"ReturnValues": "ALL_NEW"} | extra
        )

    values = {
        ":one": {"N": "1"},
        ":zero": {"N": "0"},
        ":l": {"L": [{"S": "x"}, {"N": "2"}]},
        ":set": {"SS": ["a", "b"]},
        ":drop": {"SS": ["a"]},
        ":m": {"M": {"leaf": {"S": "v"}}},
        ":s": {"S": "text"},
    }

    def used(*names: str) -> dict[str, Any]:
        return {name: values[name] for name in names}

    calls = [
        json_call("dynamodb", "DynamoDB_20120810.CreateTable", id_table(name)),
        update("a", "SET #s = :s, SentWhen = :one REMOVE Lease", ExpressionAttributeNames={"#s": "Status"}, ExpressionAttributeValues=used(":s", ":one")),
        update("a", "SET Hits = if_not_exists(Hits, :zero) + :one", ExpressionAttributeValues=used(":zero", ":one")),
        update("a", "SET Things = list_append(if_not_exists(Things, :l), :l)", ExpressionAttributeValues=used(":l")),
        update("a", "ADD Labels :set, Amt :one", ExpressionAttributeValues=used(":set", ":one")),
        update("a", "DELETE Labels :drop", ExpressionAttributeValues=used(":drop")),
        update("a", "SET Deep = :m", ExpressionAttributeValues=used(":m")),
        update("a", "SET Deep.leaf = :s, Things[0] = :s", ExpressionAttributeValues=used(":s")),
        update("a", "REMOVE Things[1], Deep.leaf"),
        update("a", "SET Hits = Hits - :one", ExpressionAttributeValues=used(":one")),
        # refused, each in its own way
        update("a", "SET Id = :s", ExpressionAttributeValues=used(":s")),  # the key
        update("a", "SET Hits = :one, Hits = :zero", ExpressionAttributeValues=used(":one", ":zero")),
        update("a", "SET Deep = :s, Deep.leaf = :s", ExpressionAttributeValues=used(":s")),
        update("a", "SET Hits = :one SET Amt = :one", ExpressionAttributeValues=used(":one")),
        update("a", "SET Missing = Absent + :one", ExpressionAttributeValues=used(":one")),
        update("a", "SET Hits = :s + :one", ExpressionAttributeValues=used(":s", ":one")),
        update("a", "SET #undefined = :one", ExpressionAttributeValues=used(":one")),
        update("a", "SET Hits = :undefined"),
        update("a", "SET Hits = "),
        update("a", "SET Id = :empty", ExpressionAttributeValues={":empty": {"S": ""}}),
        # a new item, and the same expression with other names and values
        update("b", "SET #s = :s, SentWhen = :one REMOVE Lease", ExpressionAttributeNames={"#s": "Other"}, ExpressionAttributeValues={":s": {"N": "7"}, ":one": {"S": "one"}}),
        update("c", "SET Hits = if_not_exists(Hits, :zero) + :one", ExpressionAttributeValues=used(":zero", ":one")),
    ]  # fmt: skip
    statuses = []
    for call in calls[:1] + [call for call in calls[1:] for _ in range(2)]:
        ours, moto_server = answer(emulator.url, call), answer(moto.url, call)
        statuses.append(moto_server[0])
        if moto_server[0] == 500:  # moto fails (a KeyError), which Flask words otherwise
            assert ours[0] == 500, call
        else:
            assert ours == moto_server, call
    # 1 table, 9 updates applied on "a", 10 refused, then "b" and "c": each sent twice
    assert statuses == [200] + [200] * 18 + [400] * 12 + [500] * 2 + [400] * 6 + [200] * 4
    get = json_call("dynamodb", "DynamoDB_20120810.Scan", {"TableName": name})
    assert answer(emulator.url, get) == answer(moto.url, get)


def test_stream_records_answer_as_moto_servers(moto: MotoServer, emulator: MotoProcess) -> None:
    """Records carry whole items (maps in lists in maps): each member of each attribute value
    is found where moto's own serializer finds it (``local.aws.response_keys``)."""
    name = f"streams-{uuid.uuid4().hex[:8]}"
    table = id_table(
        name, StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
    )
    item = {
        "Id": {"S": "1"},
        "Total": {"N": "109.97"},
        "Paid": {"BOOL": True},
        "Note": {"NULL": True},
        "Tags": {"SS": ["a", "b"]},
        "Blob": {"B": "aGVsbG8="},
        "Items": {
            "L": [{"M": {"Sku": {"S": "x"}, "Qty": {"N": "2"}, "Sizes": {"NS": ["1", "2"]}}}]
        },
    }

    def records(url: str) -> tuple[int, str, str]:
        assert answer(url, json_call("dynamodb", "DynamoDB_20120810.CreateTable", table))[0] == 200
        for body in (item, {**item, "Total": {"N": "1"}}):
            put = json_call(
                "dynamodb", "DynamoDB_20120810.PutItem", {"TableName": name, "Item": body}
            )
            assert answer(url, put)[0] == 200
        described = requests.post(
            url,
            headers=json_call("dynamodb", "DynamoDB_20120810.DescribeTable", {})["headers"],
            data=json.dumps({"TableName": name}),
            timeout=10,
        ).json()
        stream_arn = described["Table"]["LatestStreamArn"]
        headers = {**signed("dynamodb"), "Content-Type": "application/x-amz-json-1.0"}
        stream = requests.post(
            url,
            headers={**headers, "X-Amz-Target": "DynamoDBStreams_20120810.DescribeStream"},
            data=json.dumps({"StreamArn": stream_arn}),
            timeout=10,
        ).json()
        shard = stream["StreamDescription"]["Shards"][0]["ShardId"]
        iterator = requests.post(
            url,
            headers={**headers, "X-Amz-Target": "DynamoDBStreams_20120810.GetShardIterator"},
            data=json.dumps(
                {"StreamArn": stream_arn, "ShardId": shard, "ShardIteratorType": "TRIM_HORIZON"}
            ),
            timeout=10,
        ).json()["ShardIterator"]
        got = requests.post(
            url,
            headers={**headers, "X-Amz-Target": "DynamoDBStreams_20120810.GetRecords"},
            data=json.dumps({"ShardIterator": iterator}),
            timeout=10,
        )
        body = got.json()
        body.pop("NextShardIterator", None)  # an id of the server's own
        for record in body["Records"]:
            record["eventID"] = record["dynamodb"]["SequenceNumber"] = "<volatile>"
            # moto's size is the length of the record's JSON, the two above included
            for volatile in ("ApproximateCreationDateTime", "SizeBytes"):
                record["dynamodb"][volatile] = "<volatile>"
        return (
            got.status_code,
            got.headers.get("Content-Type", ""),
            json.dumps(body, sort_keys=True),
        )

    ours, theirs = records(emulator.url), records(moto.url)
    assert ours == theirs
    assert json.loads(ours[2])["Records"][1]["dynamodb"]["NewImage"]["Items"] == item["Items"]


def test_queues_answer_as_moto_servers_with_ids_of_the_same_shape(
    moto: MotoServer, emulator: MotoProcess
) -> None:
    name = f"ids-{uuid.uuid4().hex[:8]}"

    def sqs(action: str, body: dict[str, Any]) -> dict[str, Any]:
        return json_call("sqs", f"AmazonSQS.{action}", body)

    def queue_url(url: str, queue: str) -> str:
        return f"{url}/123456789012/{queue}"

    for url in (moto.url, emulator.url):
        for queue, attributes in (
            (name, {}),
            (f"{name}.fifo", {"FifoQueue": "true", "ContentBasedDeduplication": "true"}),
        ):
            created = answer(
                url, sqs("CreateQueue", {"QueueName": queue, "Attributes": attributes})
            )
            assert created[0] == 200, created
    for queue in (name, f"{name}.fifo"):
        group = {"MessageGroupId": "g"} if queue.endswith(".fifo") else {}
        calls = [
            sqs("SendMessage", {"QueueUrl": queue, "MessageBody": "one"} | group),
            sqs("SendMessage", {"QueueUrl": queue, "MessageBody": "one"} | group),  # deduplicated in the FIFO queue
            sqs("GetQueueAttributes", {"QueueUrl": queue, "AttributeNames": ["All"]}),
            sqs("ReceiveMessage", {"QueueUrl": queue, "MaxNumberOfMessages": 10, "VisibilityTimeout": 0}),
        ]  # fmt: skip
        for call in calls:  # each server is sent its own queue URL
            ours = {
                **call,
                "data": call["data"].replace(f'"{queue}"', f'"{queue_url(emulator.url, queue)}"'),
            }
            theirs = {
                **call,
                "data": call["data"].replace(f'"{queue}"', f'"{queue_url(moto.url, queue)}"'),
            }
            assert answer(emulator.url, ours) == answer(moto.url, theirs), call

    received = requests.post(
        emulator.url,
        headers=json_call("sqs", "AmazonSQS.ReceiveMessage", {})["headers"],
        data=json.dumps({"QueueUrl": queue_url(emulator.url, name), "VisibilityTimeout": 0}),
        timeout=10,
    )
    assert re.fullmatch(r"[A-Za-z0-9]{52}", received.headers["x-amzn-requestid"])
    (message,) = received.json()["Messages"]
    assert re.fullmatch(r"[a-z]{185}", message["ReceiptHandle"])


def test_the_emulator_counts_the_calls_it_serves_by_service_and_action(
    emulator: MotoProcess,
) -> None:
    def counts() -> dict[str, int]:
        found: dict[str, int] = requests.get(f"{emulator.url}/_emulator/calls", timeout=10).json()
        return found

    before = counts()
    name = f"counted-{uuid.uuid4().hex[:8]}"
    for _ in range(3):
        answer(emulator.url, json_call("sqs", "AmazonSQS.CreateQueue", {"QueueName": name}))
    answer(emulator.url, query_call("sns", Action="ListTopics", Version="2010-03-31"))
    unsigned = {"method": "POST", "path": "/", "headers": {}, "data": "x"}
    answer(emulator.url, unsigned)
    after = counts()
    grown = {key: after[key] - before.get(key, 0) for key in after if after[key] != before.get(key)}
    assert grown == {"sqs.CreateQueue": 3, "sns.ListTopics": 1, "other": 1}


header_names = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ_0123456789", min_size=1, max_size=12)


@given(
    headers=st.dictionaries(
        st.one_of(
            header_names.map(lambda name: f"HTTP_{name}"),
            st.sampled_from(["CONTENT_TYPE", "CONTENT_LENGTH", "HTTP_CONTENT_TYPE", "REMOTE_ADDR"]),
        ),
        st.text(max_size=8),
        max_size=8,
    ),
    preserved=st.booleans(),
)
def test_the_header_dict_is_the_one_moto_builds(headers: dict[str, str], preserved: bool) -> None:
    environ: dict[str, Any] = {"REQUEST_METHOD": "POST", "wsgi.input": io.BytesIO(), **headers}
    if preserved:
        environ[PRESERVED_HEADER_NAMES_ENVIRON_KEY] = {
            "HTTP_X_AMZ_META_MY_KEY": "x-amz-meta-my_key"
        }
        environ["HTTP_X_AMZ_META_MY_KEY"] = "v"
    assert header_dict(environ) == dict(Request(environ).headers)
