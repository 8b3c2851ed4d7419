"""The emulator's TTL sweep (``local.aws.ttl_expiry``) on moto's tables, in process."""

import asyncio
import time

from local.aws import ttl_expiry
from local.aws.provision import Provisioned
from local.aws.turns import Turns
from tests.support.aws import Boto
from tests.support.moto_server import MotoServer
from tests.support.polling import eventually


def test_expired_items_of_a_ttl_table_are_deleted_and_nothing_else(
    stack: Provisioned, moto: MotoServer, boto: Boto
) -> None:
    """Past the TTL: deleted. In the future, not a number, older than five years, or in a
    table without TTL: kept, as DynamoDB keeps them."""
    dynamodb = boto.client("dynamodb")
    now = time.time()
    ledger, orders = stack.names.idempotency_table, stack.names.orders_table
    rows = {
        "expired": {"N": str(int(now) - 10)},
        "future": {"N": str(int(now) + 3600)},
        "text": {"S": str(int(now) - 10)},
        "ancient": {"N": str(int(now) - 6 * 365 * 86_400)},
    }
    for key, expires in rows.items():
        dynamodb.put_item(
            TableName=ledger, Item={"IdempotencyKey": {"S": key}, "ExpiresAt": expires}
        )
    dynamodb.put_item(  # the Orders table has no TTL: an ExpiresAt there means nothing
        TableName=orders,
        Item={"OrderId": {"S": "o-1"}, "ExpiresAt": {"N": str(int(now) - 10)}},
    )
    assert ttl_expiry.sweep(now) >= 1  # other tests' stacks on this server may expire too
    kept = {item["IdempotencyKey"]["S"] for item in dynamodb.scan(TableName=ledger)["Items"]}
    assert kept == {"future", "text", "ancient"}
    assert dynamodb.get_item(TableName=orders, Key={"OrderId": {"S": "o-1"}}).get("Item")
    ttl_expiry.sweep(now)  # again: nothing more of ours expires
    assert {i["IdempotencyKey"]["S"] for i in dynamodb.scan(TableName=ledger)["Items"]} == kept


def test_the_emulator_sweeps_in_a_turn_of_its_own_while_it_runs(
    stack: Provisioned, moto: MotoServer, boto: Boto
) -> None:
    dynamodb = boto.client("dynamodb")
    ledger = stack.names.idempotency_table
    item = {"IdempotencyKey": {"S": "soon"}, "ExpiresAt": {"N": str(int(time.time()) + 1)}}
    dynamodb.put_item(TableName=ledger, Item=item)

    async def sweeping() -> bool:
        task = asyncio.create_task(ttl_expiry.run(Turns(), every=0.1))
        try:
            return await asyncio.to_thread(
                eventually,
                lambda: (
                    not dynamodb.get_item(
                        TableName=ledger, Key={"IdempotencyKey": item["IdempotencyKey"]}
                    ).get("Item")
                ),
                within=30,
            )
        finally:
            task.cancel()

    assert asyncio.run(sweeping())
