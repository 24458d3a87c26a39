"""A process that cannot start says, in one line, what to do."""

from __future__ import annotations

import base64

import pytest
from pydantic import SecretStr

from services.identity.app import IdentityApp
from services.kit import errors
from tests.support import cli, identity_fakes


async def test_another_data_key_stops_identity_with_the_fix(identity_app):
    """A second checkout with its own development key used to crash on an InvalidTag."""
    other = base64.b64encode(b"k" * 32).decode()
    app = IdentityApp(identity_app.settings.model_copy(update={"data_key": SecretStr(other)}))
    with pytest.raises(errors.Misconfigured) as refused:
        await app.open(1, 1)
    await app.close()
    message = str(refused.value)
    assert "IDENTITY_DATA_KEY does not open the signing keys" in message
    assert identity_app.settings.dsn().rsplit("/", 1)[1] in message
    assert "\n" not in message


def _without(identity_app, **update) -> IdentityApp:
    return IdentityApp(identity_app.settings.model_copy(update=update))


async def test_without_a_code_sender_identity_refuses_to_serve(identity_app):
    """Production settings name no sender: identity stops at once with the fix, in one line,
    rather than serve registrations no code can ever prove (or fall back to one that sends
    nothing)."""
    app = _without(identity_app, code_sender="")
    with pytest.raises(errors.Misconfigured) as refused:
        await app.start(relay=False, consume=False, schedule=False)
    await app.stop()
    message = str(refused.value)
    assert "IDENTITY_CODE_SENDER is not set" in message and "dev-file" in message
    assert "\n" not in message
    assert app.deps._pool is None  # refused before anything opened


async def test_the_serve_command_says_so_in_one_line(identity_app, monkeypatch):
    for name in ("IDENTITY_CODE_SENDER", "LOYALTY_CODE_SENDER"):
        monkeypatch.delenv(name, raising=False)
    code, out, err = await cli.run(identity_app, "serve")
    assert code == 1
    refusals = [line for line in (out + err).splitlines() if "IDENTITY_CODE_SENDER" in line]
    assert len(refusals) == 1 and "service_misconfigured" in refusals[0]


@pytest.mark.parametrize(
    "named",
    ["no-such-sender", "tests.support.no_such_module:sender", "tests.support.identity_fakes:nope"],
)
async def test_a_sender_that_cannot_be_loaded_is_named_in_one_line(identity_app, named):
    app = _without(identity_app, code_sender=named)
    with pytest.raises(errors.Misconfigured) as refused:
        await app.start(relay=False, consume=False, schedule=False)
    await app.stop()
    assert "IDENTITY_CODE_SENDER" in str(refused.value) and "\n" not in str(refused.value)


async def test_real_systems_are_plugged_by_naming_their_factories(identity_app):
    app = _without(
        identity_app,
        code_sender="tests.support.identity_fakes:code_sender",
        assertion_verifier="tests.support.identity_fakes:assertion_verifier",
    )
    await app.start(relay=False, consume=False, schedule=False)
    try:
        assert app.deps.codes is identity_fakes.codes
        assert app.deps.assertions is identity_fakes.assertions
    finally:
        await app.stop()
