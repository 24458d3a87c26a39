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
from services.growth.app import GrowthApp
from services.identity.app import IdentityApp
from services.kit.ports import PORTS
from services.points.app import PointsApp
from services.subscription.app import SubscriptionApp
from tests.support import harness, servers
from tests.support.waiting import wait_until

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
    assert "loyalty.growth.v1.GrowthService" in script and "/GetMemberGrowth" in script
    assert "loyalty.growth.v1.GrowthAdminService" in script and "/CreateRehearsal" in script


# The examples are one caller's: small pools keep the run's connections within a server's 100.
# Yet a job holds a connection for its lock while it works on another, so a pool needs room for
# every job of its service at once beside the relay's listener and a call: with less, two jobs
# due together (subscription's renewals and clock, a minute after start) wait on each other for
# ever and every call behind them hangs. Pools open connections only as they need them.
SMALL_POOL = {"pool_min": 1, "pool_max": 8}


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
        harness.running(
            GrowthApp,
            amqp,
            identity=identity,
            database_url=servers.database_url("growth_readme"),
            **SMALL_POOL,
        ) as growth,
    ):
        script = examples()
        for app in (identity, points, giftcard, subscription, growth):
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
            # growth's, for its `settle` command
            "GROWTH_DATABASE_URL": growth.settings.dsn(),
            "GROWTH_LOG_LEVEL": "WARNING",
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
            # `npx buf curl` takes a second a call, and the examples make about a hundred
            out, err = await asyncio.wait_for(process.communicate(), 300)
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
        assert '"tier": "TIER_DIAMOND"' in answers  # the tier table
        assert '"tier": "TIER_REGISTERED"' in answers  # the member's growth
        assert '"facts": [' in answers  # the member's facts: the profile filled at sign-up
        assert "gold from 3,000" in answers  # the candidate rule set, validated
        assert '"state": "REHEARSAL_STATE_COMPLETED"' in answers
        versions = await growth.pool.fetch("SELECT version, state FROM rule_sets ORDER BY 1")
        assert [tuple(r) for r in versions] == [(1, "active"), (2, "draft")]
        # the settlement the command ran (or the job, when it held the lock then) completes
        await wait_until(
            lambda: growth.pool.fetchval(
                "SELECT count(*) = 1 FROM settlements WHERE state = 'completed'"
            ),
            30,
            "last month's settlement",
        )
