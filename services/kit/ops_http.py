"""Ops HTTP (aiohttp): /livez, /readyz (database and broker), /metrics, plus service routes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client.aiohttp import make_aiohttp_handler

Check = Callable[[], Awaitable[bool]]
READY = web.AppKey("ready", dict)


async def start(port: int, checks: dict[str, Check], routes: list[web.RouteDef]) -> web.AppRunner:
    app = web.Application()
    app[READY] = {"ready": True}  # mutated in place: a started app's state is frozen

    async def livez(_request):
        return web.json_response({"status": "ok"})

    async def readyz(request):
        results = {}
        for name, check in checks.items():
            try:
                results[name] = bool(await check())
            except Exception:
                results[name] = False
        ok = request.app[READY]["ready"] and all(results.values())
        return web.json_response(
            {"status": "ok" if ok else "unavailable", "checks": results}, status=200 if ok else 503
        )

    app.add_routes(
        [
            web.get("/livez", livez),
            web.get("/readyz", readyz),
            web.get("/metrics", make_aiohttp_handler()),
            *routes,
        ]
    )
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "0.0.0.0", port).start()
    return runner


def set_ready(runner: web.AppRunner, ready: bool) -> None:
    runner.app[READY]["ready"] = ready


def bound_port(runner: web.AppRunner) -> int:
    return runner.addresses[0][1]
