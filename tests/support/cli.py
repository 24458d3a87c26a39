"""`python -m services.<svc> ARGS` as an operator runs it, against a service under test: the
same database, broker, queues and keys as the app in the test."""

from __future__ import annotations

import asyncio
import os
import sys

from services.kit.service import ServiceApp

# The settings a command needs to reach what the app under test uses.
_SHARED = ("amqp_url", "queue_prefix", "events_exchange", "commerce_exchange")
_SECRETS = ("data_key", "lookup_key", "pin_key", "pin_key_id")


async def run(app: ServiceApp, *args: str) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of the service's command line."""
    s = app.settings
    prefix = s.service_name.upper()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(sys.path),
        f"{prefix}_DATABASE_URL": s.dsn(),
        f"{prefix}_LOG_LEVEL": "WARNING",
    }
    for name in (*_SHARED, *_SECRETS):
        value = getattr(s, name, None)
        if value is not None:
            secret = getattr(value, "get_secret_value", None)
            env[f"{prefix}_{name.upper()}"] = secret() if secret else str(value)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        f"services.{s.service_name}",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    return process.returncode or 0, out.decode(), err.decode()
