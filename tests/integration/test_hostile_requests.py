"""Every RPC of every service, fed hostile requests built from its descriptor (tests/support/
hostile.py), with a token holding every scope and with none: the answer is never INTERNAL or
UNKNOWN, and a refused request changes nothing in the service's database. A new service is
covered as soon as it exists: the services are found in the port table."""

from __future__ import annotations

import contextlib
import importlib
import inspect
import re
from collections import Counter
from pathlib import Path

import grpc
import pytest
from google.protobuf import message_factory
from hypothesis import HealthCheck, given, settings

from services.kit.ports import PORTS
from services.kit.service import ServiceApp
from tests.support import harness, hostile, servers

ROOT = Path(__file__).resolve().parents[2]
# Bookkeeping a refused request may change on purpose: counters of attempts.
_MAY_CHANGE = {"rate_limits", "login_attempts", "verification_attempts"}


def _app_classes() -> list[type[ServiceApp]]:
    found = []
    for name in PORTS:
        if not (ROOT / "services" / name / "app.py").exists():
            continue
        module = importlib.import_module(f"services.{name}.app")
        found += [
            c
            for c in vars(module).values()
            if inspect.isclass(c) and issubclass(c, ServiceApp) and c is not ServiceApp
        ]
    return found


def _scopes() -> list[str]:
    """Every scope a service asks for, read off the services' code."""
    found: set[str] = set()
    for path in (ROOT / "services").rglob("*.py"):
        pattern = r'"((?:' + "|".join(PORTS) + r'):[a-z_]+)"'
        found |= set(re.findall(pattern, path.read_text()))
    return sorted(found)


def _rpcs(app: ServiceApp) -> list[tuple[str, type, type]]:
    """(path, request class, response class) of each unary RPC the app serves."""
    found = []
    for servicer in app.servicers():
        for base in type(servicer).__mro__:
            if base.__module__.endswith("_pb2_grpc") and base.__name__.endswith("Servicer"):
                pb2 = importlib.import_module(base.__module__.removesuffix("_grpc"))
                service = pb2.DESCRIPTOR.services_by_name[base.__name__.removesuffix("Servicer")]
                for method in service.methods:
                    found.append(
                        (
                            f"/{service.full_name}/{method.name}",
                            message_factory.GetMessageClass(method.input_type),
                            message_factory.GetMessageClass(method.output_type),
                        )
                    )
    return found


@pytest.fixture(scope="module")
async def services(identity_app, amqp):
    """Every service running, each on a database of its own for this test."""
    async with contextlib.AsyncExitStack() as stack:
        running = []
        for app_class in _app_classes():
            if app_class.settings_class.service == "identity":
                running.append(identity_app)
                continue
            service = app_class.settings_class.service
            running.append(
                await stack.enter_async_context(
                    harness.running(
                        app_class,
                        amqp,
                        identity=identity_app,
                        schedule=False,
                        database_url=servers.database_url(f"{service}_hostile"),
                        # One caller at a time: small pools keep the run's connections within
                        # a server's default 100.
                        pool_min=1,
                        pool_max=3,
                    )
                )
            )
        yield running


async def _state(app: ServiceApp) -> dict:
    tables = await app.pool.fetch(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> ALL($1)",
        [*_MAY_CHANGE, "_yoyo_log", "_yoyo_migration", "_yoyo_version", "yoyo_lock"],
    )
    state = {}
    for t in tables:
        name = t["tablename"]
        state[name] = await app.pool.fetchval(
            f"SELECT md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) FROM \"{name}\" x"
        )
    return state


BAD = {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN}


async def test_no_hostile_request_is_internal_or_changes_anything(services, mint):
    operator = mint("hostile-ops", kind="operator", scopes=_scopes())
    problems: list[str] = []
    for app in services:
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{app.grpc_port}")
        try:
            for path, request_class, response_class in _rpcs(app):
                call = channel.unary_unary(
                    path,
                    request_serializer=lambda m: m.SerializeToString(),
                    response_deserializer=response_class.FromString,
                )
                await _probe(app, path, request_class, call, operator, problems)
        finally:
            await channel.close()
    kinds = Counter(problem.split(" <- ")[0] for problem in problems)
    assert problems == [], "\n".join([*(f"{n}x {k}" for k, n in kinds.items()), *problems[:20]])


async def _probe(app, path, request_class, call, operator, problems) -> None:
    examples: list[dict] = []

    @settings(
        max_examples=12,
        deadline=None,
        database=None,
        derandomize=True,  # the same examples on every run: CI is not a lottery
        suppress_health_check=list(HealthCheck),
    )
    @given(hostile.messages(request_class.DESCRIPTOR))
    def collect(values: dict) -> None:
        examples.append(values)

    collect()
    for values in examples:
        request = hostile.build(request_class, hostile.one_flood(values))
        for metadata in (operator, ()):
            before = await _state(app)
            try:
                await call(request, metadata=metadata, timeout=20)
                code = grpc.StatusCode.OK
            except grpc.aio.AioRpcError as exc:
                code = exc.code()
                if code in BAD:
                    problems.append(f"{path} {code.name}: {exc.details()} <- {_short(values)}")
            if code != grpc.StatusCode.OK and await _state(app) != before:
                problems.append(f"{path} {code.name} changed the database <- {_short(values)}")


def _short(values: dict) -> str:
    text = repr(values)
    return text if len(text) < 300 else text[:300] + "…"
