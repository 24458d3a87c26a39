"""Registration channels: who may use each, and which need a password."""

from __future__ import annotations

import pytest

from services.identity.domain import registration
from services.identity.domain.registration import Channel


def test_channels_are_the_stored_strings():
    assert [c.value for c in Channel] == ["app", "web", "mini_program", "store_desk", "bulk_import"]
    assert Channel("store_desk") is Channel.STORE_DESK


@pytest.mark.parametrize(
    ("channel", "operator_only"),
    [
        (Channel.APP, False),
        (Channel.WEB, False),
        (Channel.MINI_PROGRAM, False),
        (Channel.STORE_DESK, True),
        (Channel.BULK_IMPORT, True),
    ],
)
def test_store_desk_and_bulk_import_are_for_operators_only(channel, operator_only):
    assert registration.operator_only(channel) is operator_only


@pytest.mark.parametrize(
    ("channel", "needed"),
    [
        (Channel.APP, True),
        (Channel.WEB, True),
        (Channel.MINI_PROGRAM, False),
        (Channel.STORE_DESK, False),
        (Channel.BULK_IMPORT, False),
    ],
)
def test_app_and_web_need_a_password(channel, needed):
    assert registration.needs_password(channel) is needed


def test_an_unknown_channel_is_held_to_the_password_rule():
    assert registration.needs_password(None)
