"""A process that cannot start says, in one line, what to do."""

from __future__ import annotations

import base64

import pytest
from pydantic import SecretStr

from services.identity.app import IdentityApp
from services.kit import errors


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
