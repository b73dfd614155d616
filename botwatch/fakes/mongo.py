"""A minimal MongoDB server speaking enough of the wire protocol for pymongo's health checks.

It answers the handshake (``hello``/``isMaster``, over legacy OP_QUERY → OP_REPLY as
pymongo opens a connection, and over OP_MSG afterwards) as a standalone MongoDB 7.0
(wire version 21), and the commands a health probe sends: ``ping``, ``buildInfo``,
``serverStatus`` (a small plausible subset) and ``endSessions``. Anything else is
answered like mongod answers an unknown command: ``{ok: 0, errmsg: "no such command:
'x'", code: 59, codeName: "CommandNotFound"}``. There is no storage and no auth.

The reply never carries ``topologyVersion``, which keeps pymongo's monitor on plain
polling instead of the streaming (exhaust) protocol the fake does not implement.

From async code::

    async with FakeMongo() as mongo:        # or: host, port = await mongo.start()
        url = mongo.url                     # mongodb://127.0.0.1:PORT/?directConnection=true

From synchronous code (pymongo is synchronous), the server runs on its own loop in a
background thread::

    with FakeMongo.in_thread() as mongo:
        client = MongoClient(mongo.url, serverSelectionTimeoutMS=2000)
        client.admin.command("ping")
        mongo.refuse()                      # fault switches work from any thread
        client.close()

Fault switches: :meth:`FakeMongo.refuse` (accept and close at once, dropping open
connections too), :meth:`FakeMongo.set_latency`, :meth:`FakeMongo.fail_commands`.
"""

from __future__ import annotations

__all__ = ["FakeMongo"]

import asyncio
import contextlib
import os
import struct
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self

import bson

from botwatch.clock import Clock, SystemClock

OP_REPLY = 1
OP_QUERY = 2004
OP_MSG = 2013

_HEADER = struct.Struct("<iiii")  # messageLength, requestID, responseTo, opCode
_MAX_BSON = 16 * 1024 * 1024
_MAX_MESSAGE = 48_000_000
_CHECKSUM_PRESENT = 1 << 0
_MORE_TO_COME = 1 << 1
_HANDSHAKE = frozenset({"hello", "ismaster"})
# Commands that still answer while fail_commands is on: failing them would turn a
# "command errors" fault into a "server unreachable" one.
_NEVER_FAILED = _HANDSHAKE | {"endsessions"}


class FakeMongo:
    """A MongoDB wire-protocol fake on loopback (see the module docstring).

    Args:
        clock: the wall clock reported as ``localTime`` (default: the system clock).
        version: the server version ``buildInfo`` reports.
        max_wire_version: the wire version the handshake advertises.
    """

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        version: str = "7.0.0",
        max_wire_version: int = 21,
    ) -> None:
        self.clock: Clock = clock or SystemClock()
        self.version = version
        self.max_wire_version = max_wire_version
        self.commands: Counter[str] = Counter()
        self.connections_accepted = 0
        self.refusing = False
        self.latency = 0.0
        self.failing = False
        self.fail_errmsg = "fake failure injected by botwatch"
        self.fail_code = 1
        self.fail_code_name = "InternalError"
        self._server: asyncio.Server | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._address: tuple[str, int] | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._handlers: set[asyncio.Task[None]] = set()
        self._next_connection_id = 0
        self._started_at = 0.0

    # -- lifecycle -------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> tuple[str, int]:
        """Listen on ``host:port`` (0 picks a free port); returns the bound address."""
        if self._server is not None:
            raise RuntimeError("FakeMongo is already started")
        self._loop = asyncio.get_running_loop()
        self._server = await asyncio.start_server(self._serve_connection, host, port)
        bound = self._server.sockets[0].getsockname()
        self._address = (str(bound[0]), int(bound[1]))
        self._started_at = self.clock.monotonic()
        return self._address

    async def stop(self) -> None:
        """Close the listener and every connection; safe to call twice."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        self._drop_connections()
        # Closed connections end their handlers; cancelling one instead would trip a
        # Python 3.11 asyncio bug (an error logged for every cancelled stream handler).
        handlers = set(self._handlers)
        if handlers:
            _, pending = await asyncio.wait(handlers, timeout=self.latency + 5.0)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending)
        await server.wait_closed()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @classmethod
    @contextlib.contextmanager
    def in_thread(
        cls, host: str = "127.0.0.1", port: int = 0, **kwargs: Any
    ) -> Iterator[FakeMongo]:
        """Run a started FakeMongo on its own event loop in a daemon thread.

        For synchronous callers such as pymongo; the server is stopped, the thread
        joined and the loop closed on exit.
        """
        fake = cls(**kwargs)
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="fake-mongo", daemon=True)
        thread.start()
        try:
            asyncio.run_coroutine_threadsafe(fake.start(host, port), loop).result(timeout=30)
            yield fake
        finally:
            try:
                asyncio.run_coroutine_threadsafe(fake.stop(), loop).result(timeout=30)
            finally:
                loop.call_soon_threadsafe(loop.stop)
                thread.join(timeout=30)
                loop.close()

    @property
    def address(self) -> tuple[str, int]:
        """The bound ``(host, port)``."""
        if self._address is None:
            raise RuntimeError("FakeMongo is not started")
        return self._address

    @property
    def url(self) -> str:
        """A ``mongodb://`` URL with ``directConnection=true`` for this server."""
        host, port = self.address
        shown = f"[{host}]" if ":" in host else host
        return f"mongodb://{shown}:{port}/?directConnection=true"

    # -- fault switches --------------------------------------------------------

    def refuse(self, on: bool = True) -> None:
        """While on, drop open connections and close new ones as soon as they connect."""
        self.refusing = on
        if on:
            self._run_on_loop(self._drop_connections)

    def set_latency(self, seconds: float) -> None:
        """Delay every reply by ``seconds`` of real time."""
        if seconds < 0:
            raise ValueError(f"latency must be >= 0, got {seconds}")
        self.latency = seconds

    def fail_commands(
        self,
        on: bool,
        *,
        errmsg: str = "fake failure injected by botwatch",
        code: int = 1,
        code_name: str = "InternalError",
    ) -> None:
        """While on, every command but the handshake answers ``{ok: 0, errmsg, code}``."""
        self.failing = on
        self.fail_errmsg = errmsg
        self.fail_code = code
        self.fail_code_name = code_name

    def _run_on_loop(self, fn: Callable[[], None]) -> None:
        # Connections belong to the server's loop; from another thread, hand the work
        # over and wait so the fault is in force when the call returns.
        loop = self._loop
        if loop is None or loop.is_closed():
            fn()
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            fn()
            return

        async def call() -> None:
            fn()

        asyncio.run_coroutine_threadsafe(call(), loop).result(timeout=30)

    def _drop_connections(self) -> None:
        for writer in list(self._writers):
            writer.close()
        self._writers.clear()

    # -- the wire protocol -----------------------------------------------------

    async def _serve_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        self.connections_accepted += 1
        self._next_connection_id += 1
        connection_id = self._next_connection_id
        try:
            if self.refusing or self._server is None:
                return
            self._writers.add(writer)
            while not self.refusing:
                try:
                    header = await reader.readexactly(_HEADER.size)
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                length, request_id, _, op_code = _HEADER.unpack(header)
                if not _HEADER.size < length <= _MAX_MESSAGE:
                    return
                try:
                    body = await reader.readexactly(length - _HEADER.size)
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                reply = self._answer(op_code, body, request_id, connection_id)
                if reply is None:
                    continue
                if self.latency > 0:
                    await asyncio.sleep(self.latency)
                if self.refusing:
                    return
                writer.write(reply)
                await writer.drain()
        except (ConnectionError, ValueError, bson.errors.BSONError):
            return  # a broken client or message: drop the connection like mongod
        except asyncio.CancelledError:
            # Only stop() cancels this task, which nothing awaits; ending it normally
            # avoids Python 3.11's asyncio logging every cancelled stream handler.
            return
        finally:
            self._writers.discard(writer)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
            self._handlers.discard(task)

    def _answer(
        self, op_code: int, body: bytes, request_id: int, connection_id: int
    ) -> bytes | None:
        if op_code == OP_MSG:
            flags, command = _parse_op_msg(body)
            reply = self._run_command(command, connection_id, legacy=False)
            if flags & _MORE_TO_COME:
                return None  # an unacknowledged write: the client expects no answer
            payload = struct.pack("<IB", 0, 0) + bson.encode(reply)
            return _HEADER.pack(_HEADER.size + len(payload), _next_id(), request_id, OP_MSG) + (
                payload
            )
        if op_code == OP_QUERY:
            command = _parse_op_query(body)
            reply = self._run_command(command, connection_id, legacy=True)
            # responseFlags=AwaitCapable, cursorID=0, startingFrom=0, numberReturned=1
            payload = struct.pack("<iqii", 8, 0, 0, 1) + bson.encode(reply)
            return _HEADER.pack(_HEADER.size + len(payload), _next_id(), request_id, OP_REPLY) + (
                payload
            )
        raise ValueError(f"unsupported opcode {op_code}")

    def _run_command(
        self, command: dict[str, Any], connection_id: int, *, legacy: bool
    ) -> dict[str, Any]:
        if not command:
            return _error("no command given", 59, "CommandNotFound")
        name = next(iter(command))
        key = name.lower()
        self.commands[name] += 1
        if self.failing and key not in _NEVER_FAILED:
            return _error(self.fail_errmsg, self.fail_code, self.fail_code_name)
        if key in _HANDSHAKE:
            return self._hello(command, connection_id, legacy=legacy or key == "ismaster")
        if key == "ping":
            return {"ok": 1.0}
        if key == "buildinfo":
            return self._build_info()
        if key == "serverstatus":
            return self._server_status()
        if key == "endsessions":
            return {"ok": 1.0}
        return _error(f"no such command: '{name}'", 59, "CommandNotFound")

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock.time(), UTC)

    def _hello(
        self, command: dict[str, Any], connection_id: int, *, legacy: bool
    ) -> dict[str, Any]:
        reply: dict[str, Any] = {}
        if command.get("helloOk"):
            reply["helloOk"] = True
        reply["ismaster" if legacy else "isWritablePrimary"] = True
        reply.update(
            {
                "maxBsonObjectSize": _MAX_BSON,
                "maxMessageSizeBytes": _MAX_MESSAGE,
                "maxWriteBatchSize": 100_000,
                "localTime": self._now(),
                "logicalSessionTimeoutMinutes": 30,
                "connectionId": connection_id,
                "minWireVersion": 0,
                "maxWireVersion": self.max_wire_version,
                "readOnly": False,
                "ok": 1.0,
            }
        )
        return reply

    def _build_info(self) -> dict[str, Any]:
        parts = [int(p) if p.isdigit() else 0 for p in self.version.split(".")[:3]]
        parts += [0] * (4 - len(parts))
        return {
            "version": self.version,
            "gitVersion": "0" * 40,
            "versionArray": parts,
            "bits": 64,
            "debug": False,
            "maxBsonObjectSize": _MAX_BSON,
            "javascriptEngine": "mozjs",
            "storageEngines": ["devnull", "wiredTiger"],
            "modules": [],
            "ok": 1.0,
        }

    def _server_status(self) -> dict[str, Any]:
        uptime = max(0.0, self.clock.monotonic() - self._started_at)
        return {
            "host": f"{self.address[0]}:{self.address[1]}",
            "version": self.version,
            "process": "mongod",
            "pid": os.getpid(),
            "uptime": float(int(uptime)),
            "uptimeMillis": int(uptime * 1000),
            "localTime": self._now(),
            "connections": {
                "current": len(self._writers),
                "available": 838_860 - len(self._writers),
                "totalCreated": self.connections_accepted,
                "active": 1,
            },
            "ok": 1.0,
        }


_id_lock = threading.Lock()
_last_id = 0


def _next_id() -> int:
    global _last_id
    with _id_lock:
        _last_id = (_last_id + 1) & 0x7FFFFFFF
        return _last_id


def _error(errmsg: str, code: int, code_name: str) -> dict[str, Any]:
    return {"ok": 0.0, "errmsg": errmsg, "code": code, "codeName": code_name}


def _cstring(data: bytes, at: int) -> tuple[str, int]:
    end = data.index(b"\x00", at)
    return data[at:end].decode("utf-8"), end + 1


def _parse_op_msg(body: bytes) -> tuple[int, dict[str, Any]]:
    """flagBits and the command: the kind-0 body with kind-1 sequences folded in."""
    (flags,) = struct.unpack_from("<I", body)
    end = len(body) - (4 if flags & _CHECKSUM_PRESENT else 0)
    at = 4
    command: dict[str, Any] = {}
    sequences: dict[str, list[dict[str, Any]]] = {}
    while at < end:
        kind = body[at]
        at += 1
        if kind == 0:
            (size,) = struct.unpack_from("<i", body, at)
            command = bson.decode(body[at : at + size])
            at += size
        elif kind == 1:
            (size,) = struct.unpack_from("<i", body, at)
            section_end = at + size
            identifier, at = _cstring(body, at + 4)
            docs = sequences.setdefault(identifier, [])
            while at < section_end:
                (doc_size,) = struct.unpack_from("<i", body, at)
                docs.append(bson.decode(body[at : at + doc_size]))
                at += doc_size
        else:
            raise ValueError(f"unknown OP_MSG section kind {kind}")
    command.update(sequences)
    return flags, command


def _parse_op_query(body: bytes) -> dict[str, Any]:
    """The query document of an OP_QUERY on ``db.$cmd``, unwrapped from ``$query``."""
    _, at = _cstring(body, 4)  # after flags: fullCollectionName
    at += 8  # numberToSkip, numberToReturn
    (size,) = struct.unpack_from("<i", body, at)
    query: dict[str, Any] = bson.decode(body[at : at + size])
    inner = query.get("$query")
    return dict(inner) if isinstance(inner, dict) else query
