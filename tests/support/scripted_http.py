"""A real HTTP server on a loopback port that answers each request from a script: a status with
headers and body, a delay longer than the client waits, or a connection closed without an
answer. Every request is recorded (method, path, headers, body), so tests can assert what a
client sent on each attempt."""

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering
    drop: bool = False  # close the connection instead of answering


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class ScriptedServer:
    def __init__(self, script: list[Reply], after: Reply | None = None):
        self.script = list(script)
        self.after = after or Reply(500, {"error": "the script ran out"})
        self.requests: list[Recorded] = []
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def __aenter__(self) -> "ScriptedServer":
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                headers = {
                    k.strip().lower(): v.strip()
                    for k, v in (line.split(":", 1) for line in lines[1:] if ":" in line)
                }
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                self.requests.append(Recorded(method, path, headers, body))
                reply = self.script.pop(0) if self.script else self.after
                if reply.delay:
                    await asyncio.sleep(reply.delay)
                if reply.drop:
                    writer.transport.abort()
                    return
                payload = b"" if reply.body is None else json.dumps(reply.body).encode()
                out = [f"HTTP/1.1 {reply.status} X", f"Content-Length: {len(payload)}"]
                out += ["Content-Type: application/json"]
                out += [f"{k}: {v}" for k, v in reply.headers.items()]
                writer.write(("\r\n".join(out) + "\r\n\r\n").encode() + payload)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()
