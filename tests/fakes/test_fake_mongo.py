"""The MongoDB wire-protocol fake, spoken to by real pymongo (sync and async clients)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pymongo import AsyncMongoClient, MongoClient
from pymongo.errors import (
    AutoReconnect,
    ConnectionFailure,
    OperationFailure,
    ServerSelectionTimeoutError,
)

from botwatch.fakes import FakeMongo


@pytest.fixture
def mongo() -> Iterator[FakeMongo]:
    with FakeMongo.in_thread() as fake:
        yield fake


@pytest.fixture
def client(mongo: FakeMongo) -> Iterator[MongoClient[dict[str, Any]]]:
    client: MongoClient[dict[str, Any]] = MongoClient(mongo.url, serverSelectionTimeoutMS=5000)
    try:
        yield client
    finally:
        client.close()


def test_ping_and_server_info(mongo: FakeMongo, client: MongoClient[dict[str, Any]]) -> None:
    assert mongo.url.startswith("mongodb://127.0.0.1:")
    assert mongo.url.endswith("/?directConnection=true")
    assert client.admin.command("ping") == {"ok": 1.0}
    info = client.server_info()
    assert info["version"] == "7.0.0"
    assert info["ok"] == 1.0
    assert mongo.commands["ping"] == 1
    assert mongo.commands["buildinfo"] + mongo.commands["buildInfo"] == 1


def test_unknown_command(client: MongoClient[dict[str, Any]]) -> None:
    with pytest.raises(OperationFailure) as caught:
        client.admin.command("frobnicate")
    assert caught.value.code == 59
    assert caught.value.details == {
        "ok": 0.0,
        "errmsg": "no such command: 'frobnicate'",
        "code": 59,
        "codeName": "CommandNotFound",
    }


def test_writes_are_not_supported(client: MongoClient[dict[str, Any]]) -> None:
    # insert_one sends its documents as an OP_MSG document sequence (section kind 1).
    with pytest.raises(OperationFailure, match="no such command: 'insert'"):
        client.botwatch.probes.insert_one({"x": 1})


def test_fail_commands(mongo: FakeMongo, client: MongoClient[dict[str, Any]]) -> None:
    mongo.fail_commands(
        True, errmsg="command ping requires authentication", code=13, code_name="Unauthorized"
    )
    with pytest.raises(OperationFailure) as caught:
        client.admin.command("ping")
    assert caught.value.details is not None
    assert caught.value.details["errmsg"] == "command ping requires authentication"
    assert caught.value.code == 13
    mongo.fail_commands(False)
    assert client.admin.command("ping") == {"ok": 1.0}


def test_refuse_breaks_open_and_new_connections(
    mongo: FakeMongo, client: MongoClient[dict[str, Any]]
) -> None:
    assert client.admin.command("ping") == {"ok": 1.0}
    mongo.refuse()
    with pytest.raises(AutoReconnect):
        client.admin.command("ping")
    fresh: MongoClient[dict[str, Any]] = MongoClient(mongo.url, serverSelectionTimeoutMS=300)
    try:
        with pytest.raises(ServerSelectionTimeoutError):
            fresh.admin.command("ping")
    finally:
        fresh.close()
    mongo.refuse(False)
    assert client.admin.command("ping") == {"ok": 1.0}


def test_latency(mongo: FakeMongo, client: MongoClient[dict[str, Any]]) -> None:
    mongo.set_latency(0.01)
    assert client.admin.command("ping") == {"ok": 1.0}


def test_nothing_listening_after_stop() -> None:
    with FakeMongo.in_thread() as mongo:
        url = mongo.url
    client: MongoClient[dict[str, Any]] = MongoClient(url, serverSelectionTimeoutMS=300)
    try:
        with pytest.raises(ConnectionFailure):
            client.admin.command("ping")
    finally:
        client.close()


async def test_async_start_with_the_async_client() -> None:
    async with FakeMongo() as mongo:
        host, port = mongo.address
        assert host == "127.0.0.1" and port > 0
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
            mongo.url, serverSelectionTimeoutMS=5000
        )
        try:
            assert await client.admin.command("ping") == {"ok": 1.0}
            assert (await client.server_info())["version"] == "7.0.0"
        finally:
            await client.close()
