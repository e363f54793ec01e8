"""A tiny forwarding HTTP proxy on 127.0.0.1 for the proxy tests (absolute-URI requests, no CONNECT).

It counts the requests it forwards and the ``Proxy-Authorization`` values it saw; with
``credentials`` set it answers 407 to anything else. One request per connection (it forwards
with ``Connection: close`` and relays the answer until the upstream closes).
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import attrs
from yarl import URL


@attrs.define
class ForwardProxy:
    credentials: tuple[str, str] | None = None
    forwarded: list[str] = attrs.field(factory=list)
    proxy_auth: list[str | None] = attrs.field(factory=list)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, target, version = lines[0].split(" ", 2)
            headers = [tuple(line.split(":", 1)) for line in lines[1:] if line]
            fields = {name.strip().lower(): value.strip() for name, value in headers}
            body = await reader.readexactly(int(fields.get("content-length", "0")))
            self.proxy_auth.append(fields.get("proxy-authorization"))
            if self.credentials is not None:
                expected = "Basic " + base64.b64encode(":".join(self.credentials).encode()).decode()
                if fields.get("proxy-authorization") != expected:
                    writer.write(
                        b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    )
                    await writer.drain()
                    return
            url = URL(target, encoded=True)
            self.forwarded.append(target)
            up_reader, up_writer = await asyncio.open_connection(url.host, url.port)
            keep = [
                f"{name}:{value}"
                for name, value in headers
                if name.strip().lower() not in ("proxy-authorization", "proxy-connection", "connection")
            ]
            up_writer.write(
                (
                    f"{method} {url.raw_path_qs} {version}\r\n" + "\r\n".join([*keep, "Connection: close"]) + "\r\n\r\n"
                ).encode("latin-1")
                + body
            )
            await up_writer.drain()
            while chunk := await up_reader.read(65536):
                writer.write(chunk)
                await writer.drain()
            up_writer.close()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@asynccontextmanager
async def forward_proxy(credentials: tuple[str, str] | None = None) -> AsyncIterator[ForwardProxy]:
    proxy = ForwardProxy(credentials=credentials)
    server = await asyncio.start_server(proxy.handle, "127.0.0.1", 0)
    proxy.port = server.sockets[0].getsockname()[1]
    try:
        yield proxy
    finally:
        server.close()
        await server.wait_closed()
