"""identity's tests run with fakes of the outside systems: codes are handed to the test, and
provider assertions are what the test signs (tests/support/identity_fakes.py)."""

from __future__ import annotations

import pytest

from tests.support import identity_fakes


@pytest.fixture(autouse=True)
def fakes(identity_app, monkeypatch):
    identity_fakes.codes.reset()
    identity_fakes.assertions.reset()
    monkeypatch.setattr(identity_app.deps, "codes", identity_fakes.codes)
    monkeypatch.setattr(identity_app.deps, "assertions", identity_fakes.assertions)
    return identity_fakes
