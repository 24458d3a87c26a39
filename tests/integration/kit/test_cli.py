"""`python -m services.<svc> …`: the kit's command line, as an operator runs it."""

from __future__ import annotations

import asyncio
import os
import sys

from tests.support import cli


async def test_help_names_every_command_with_its_purpose(identity_app):
    code, out, _ = await cli.run(identity_app, "--help")
    assert code == 0
    for command in ("create-client", "rotate-signing-key", "dead-letters"):
        assert command in out
    assert "The consumers' dead letters" in out


async def test_dead_letters_of_a_service_without_consumers_is_an_empty_list(identity_app):
    code, out, err = await cli.run(identity_app, "dead-letters", "list")
    assert code == 0, err
    assert out == ""


async def test_a_commands_help_is_its_usage_and_needs_no_environment():
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.points",
        "dead-letters",
        "--help",
        env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": os.pathsep.join(sys.path)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    assert "dead-letters replay ID|--all" in out.decode()
