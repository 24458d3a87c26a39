"""`python -m services.<svc> …`: the kit's command line, as an operator runs it."""

from __future__ import annotations

import asyncio
import os
import sys


async def _run(identity_app, *args: str) -> tuple[int, str, str]:
    s = identity_app.settings
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(sys.path),
        "IDENTITY_DATABASE_URL": s.dsn(),
        "LOYALTY_AMQP_URL": s.amqp_url.get_secret_value(),
        "LOYALTY_QUEUE_PREFIX": s.queue_prefix,
        "IDENTITY_DATA_KEY": s.data_key.get_secret_value(),
        "IDENTITY_LOOKUP_KEY": s.lookup_key.get_secret_value(),
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.identity",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    return process.returncode or 0, out.decode(), err.decode()


async def test_help_names_every_command_with_its_purpose(identity_app):
    code, out, _ = await _run(identity_app, "--help")
    assert code == 0
    for command in ("create-client", "rotate-signing-key", "dead-letters"):
        assert command in out
    assert "the consumers' dead letters" in out


async def test_dead_letters_of_a_service_without_consumers_is_an_empty_list(identity_app):
    code, out, err = await _run(identity_app, "dead-letters", "list")
    assert code == 0, err
    assert out == ""
