"""A fast loopback HTTP/1.1 responder for benchmarks: any GET → a health JSON document.

Hand-rolled on asyncio.Protocol (keep-alive, pipelining-safe) so the server is never
the bottleneck of a client benchmark. Run as ``python benchmarks/_health_server.py
PORT [PORT...]``; prints ``ready`` when listening on every port.
"""

from __future__ import annotations

import asyncio
import signal
import sys

BODY = (
    b'{"status":"HEALTHY","version":"1.0.0","checks":{"database":{"status":"healthy",'
    b'"latency_ms":1.2},"telegram":{"status":"healthy","latency_ms":40.0}}}'
)
RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
    + str(len(BODY)).encode()
    + b"\r\nConnection: keep-alive\r\n\r\n"
    + BODY
)


class Responder(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.buf = b""

    def data_received(self, data: bytes) -> None:
        self.buf += data
        # Requests from the benchmark clients have no body: one response per header block.
        n = self.buf.count(b"\r\n\r\n")
        if n:
            self.buf = self.buf[self.buf.rfind(b"\r\n\r\n") + 4 :]
            self.transport.write(RESPONSE * n)


async def main(ports: list[int]) -> None:
    loop = asyncio.get_running_loop()
    servers = [
        await loop.create_server(Responder, "127.0.0.1", p, backlog=4096, reuse_address=True)
        for p in ports
    ]
    print("ready", flush=True)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    await stop.wait()
    for s in servers:
        s.close()


if __name__ == "__main__":
    asyncio.run(main([int(p) for p in sys.argv[1:]]))
