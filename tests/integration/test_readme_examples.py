"""The README's API examples run as written, in order, against the services as `make run` starts
them (here in-process, each on a database of its own): a README that is tested cannot drift.
Only the ports are the test's own."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path

import pytest

from services.giftcard.app import GiftcardApp
from services.identity.app import IdentityApp
from services.kit.ports import PORTS
from services.points.app import PointsApp
from services.subscription.app import SubscriptionApp
from tests.support import harness, servers

ROOT = Path(__file__).resolve().parents[2]
BUF = ROOT / "node_modules/.bin/buf"


def examples() -> str:
    """The shell blocks of the README's "Calling the API" section, in order."""
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## Calling the API\n", 1)[1].split("\n## ", 1)[0]
    return "\n".join(re.findall(r"```sh\n(.*?)```", section, re.S))


def test_the_section_has_examples_of_every_service_it_names():
    script = examples()
    assert "IdentityService/RegisterMember" in script and "PointsService/CaptureHold" in script
    assert "GiftcardService" in script and "WalletService" in script
    assert "SubscriptionService" in script and "SubscriptionAdminService" in script
    assert "/ClaimBenefit" in script and "/RedeemCode" in script


# The examples are one caller's: small pools keep the run's connections within a server's 100.
SMALL_POOL = {"pool_min": 1, "pool_max": 3}


@pytest.mark.skipif(not BUF.exists(), reason="buf is installed by `npm ci` (make lint, CI)")
async def test_the_readme_examples_run_in_order(amqp):
    async with (
        harness.running(
            IdentityApp, amqp, database_url=servers.database_url("identity_readme"), **SMALL_POOL
        ) as identity,
        harness.running(
            PointsApp,
            amqp,
            identity=identity,
            database_url=servers.database_url("points_readme"),
            **SMALL_POOL,
        ) as points,
        harness.running(
            GiftcardApp,
            amqp,
            identity=identity,
            database_url=servers.database_url("giftcard_readme"),
            **SMALL_POOL,
        ) as giftcard,
        harness.running(
            SubscriptionApp,
            amqp,
            identity=identity,
            database_url=servers.database_url("subscription_readme"),
            **SMALL_POOL,
        ) as subscription,
    ):
        script = examples()
        for app in (identity, points, giftcard, subscription):
            name = app.settings.service_name
            script = script.replace(f"127.0.0.1:{PORTS[name].grpc}", f"127.0.0.1:{app.grpc_port}")
        s = identity.settings
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(sys.path),
            "IDENTITY_DATABASE_URL": s.dsn(),
            "IDENTITY_DATA_KEY": s.data_key.get_secret_value(),
            "IDENTITY_LOOKUP_KEY": s.lookup_key.get_secret_value(),
            "IDENTITY_LOG_LEVEL": "WARNING",
            # subscription's settings, as `make run` gives them, for its commands
            "SUBSCRIPTION_DATABASE_URL": subscription.settings.dsn(),
            "SUBSCRIPTION_CODE_KEY": subscription.settings.code_key.get_secret_value(),
        }
        process = await asyncio.create_subprocess_exec(
            "bash",
            "-euo",
            "pipefail",
            "-c",
            script,
            cwd=ROOT,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            out, err = await asyncio.wait_for(process.communicate(), 120)
        except TimeoutError:
            process.kill()  # what it printed so far says where it stopped
            out, err = await process.communicate()
        assert process.returncode == 0, f"{err.decode()[-3000:]}\n{out.decode()[-3000:]}"
        answers = out.decode()
        assert '"nickname": "lei"' in answers  # GetMember as the member
        assert '"state": "HOLD_STATE_CAPTURED"' in answers  # the checkout's capture
        assert '"orderId": "order-1"' in answers  # GetOrder
        assert '"balanceMinor": "10000"' in answers  # the gift card's balance by number and PIN
        captured = await giftcard.pool.fetchval(
            "SELECT balance_minor FROM cards WHERE state = 'active'"
        )
        assert captured == 70_00  # 30 CNY of the card's 100 spent at checkout
        assert '"memberDiscountBps": 500' in answers  # GetMemberBenefits at checkout
        assert "TV-7Q2M-000" in answers  # the partner code a claim handed out
        sources = await subscription.pool.fetch(
            "SELECT t.channel FROM subscriptions s JOIN terms t USING (subscription_id)"
            " WHERE s.state = 'active' ORDER BY t.channel"
        )
        assert [r["channel"] for r in sources] == ["code", "purchase"]  # bought, and redeemed
        assert await subscription.pool.fetchval("SELECT count(*) FROM benefit_claims") == 2
        assert '"amountMinor": "300"' in answers  # the refund quote: 19.00 less 16.00 claimed
