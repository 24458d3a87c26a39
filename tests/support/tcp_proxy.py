"""A TCP proxy in front of the broker or the database whose connections a test can cut, as a
network (or a server going away) would."""

from __future__ import annotations

import asyncio
import contextlib
from urllib.parse import urlsplit, urlunsplit

from tests.support import servers


class TcpProxy:
    """Forwards 127.0.0.1:<free port> to `target`; `cut()` drops every live connection."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self.cuts = 0
        self._server: asyncio.Server | None = None
        self._links: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()
        self._tasks: set[asyncio.Task] = set()
        self._refuse_until = 0.0

    @classmethod
    def to_broker(cls) -> TcpProxy:
        parts = urlsplit(servers.AMQP_URL)
        return cls(parts.hostname or "127.0.0.1", parts.port or 5672)

    @classmethod
    def to_postgres(cls) -> TcpProxy:
        parts = urlsplit(servers.PG_URL)
        return cls(parts.hostname or "127.0.0.1", parts.port or 5432)

    def dsn(self, dsn: str) -> str:
        """`dsn` with host and port replaced by the proxy's."""
        parts = urlsplit(dsn)
        credentials = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
        return urlunsplit(parts._replace(netloc=f"{credentials}127.0.0.1:{self.port}"))

    async def start(self) -> TcpProxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def amqp_url(self, base: str = servers.AMQP_URL, **query: object) -> str:
        """`base` (a broker URL: the run's admin URL unless given, e.g. a service's own user's)
        with host and port replaced by the proxy's, plus query options."""
        parts = urlsplit(base)
        credentials = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
        extra = "&".join(f"{k}={v}" for k, v in query.items())
        return urlunsplit(parts._replace(netloc=f"{credentials}127.0.0.1:{self.port}", query=extra))

    @property
    def connections(self) -> int:
        return len(self._links)

    async def cut(self, refuse_seconds: float = 0.0) -> int:
        """Close every current connection (both sides); refuse new ones for `refuse_seconds`."""
        loop = asyncio.get_running_loop()
        self._refuse_until = loop.time() + refuse_seconds
        links = list(self._links)
        self._links.clear()
        for client, upstream in links:
            for writer in (client, upstream):
                # abort(): an RST, no orderly close handshake, like a dropped network path.
                writer.transport.abort()
        self.cuts += 1
        return len(links)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
        await self.cut()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def __aenter__(self) -> TcpProxy:
        return await self.start()

    async def __aexit__(self, *_exc) -> None:
        await self.stop()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if asyncio.get_running_loop().time() < self._refuse_until:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        link = (writer, up_writer)
        self._links.add(link)
        pumps = [
            asyncio.create_task(self._pump(reader, up_writer)),
            asyncio.create_task(self._pump(up_reader, writer)),
        ]
        self._tasks.update(pumps)
        try:
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._links.discard(link)
            for w in (writer, up_writer):
                w.transport.abort()
            for pump in pumps:
                pump.cancel()
            await asyncio.gather(*pumps, return_exceptions=True)
            self._tasks.difference_update(pumps)

    @staticmethod
    async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, OSError, asyncio.IncompleteReadError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
