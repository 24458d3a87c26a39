"""Who may publish which events: the broker users of the suite and of its outside producers.

Every service and every storefront connects to RabbitMQ as a broker user of its own, allowed
to publish only its own event types (topic permissions on the exchanges), and every message
carries the AMQP `user_id` property, which the broker checks against the connection's user: a
publisher cannot claim to be another. A consumer accepts an event only from the user allowed to
publish its type (`Publishers`); anything else is dead-lettered as the message's own fault.

The events of a source are its types' prefix: `loyalty.<service>.…` for the suite's services,
`commerce.…` for storefronts. `EVENT_PUBLISHERS` names the user of each source
(`identity=identity,…,commerce=storefront`); `*=<user>` gives every source to one user, for a
development broker on which everything runs as one user.

`definitions` builds the users and permissions in RabbitMQ's definitions format
(`rabbitmqctl import_definitions`), from the same table: `make run` and the tests create their
users with it, and the README shows it for a broker you run.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from . import errors

# The event sources and the broker user that publishes each, by default. A service's source is
# its name; storefronts publish the `commerce` source; outside systems whose events the suite
# consumes publish their own `loyalty.<source>.…` types (risk: the platform's risk assessments;
# credit: a credit bureau's scores).
SOURCES: dict[str, str] = {
    "identity": "identity",
    "growth": "growth",
    "points": "points",
    "subscription": "subscription",
    "giftcard": "giftcard",
    "commerce": "storefront",
    "risk": "risk",
    "credit": "credit",
}
# Sources outside the suite: they publish their events and nothing else.
OUTSIDE = frozenset({"risk", "credit"})
DEFAULT_SPEC = ",".join(f"{source}={user}" for source, user in SOURCES.items())
COMMERCE = "commerce"


def source_of(event_type: str) -> str:
    """`loyalty.identity.member.frozen.v1` → `identity`; `commerce.order.paid.v1` → `commerce`."""
    parts = event_type.split(".")
    if parts[0] == COMMERCE:
        return COMMERCE
    return parts[1] if parts[0] == "loyalty" and len(parts) > 2 else ""


def broker_user(amqp_url: str) -> str:
    """The user a connection to `amqp_url` authenticates as (AMQP's default is guest)."""
    return unquote(urlsplit(amqp_url).username or "") or "guest"


@dataclass(frozen=True)
class Publishers:
    """The broker user allowed to publish each source's events."""

    users: Mapping[str, str]
    everyone: str | None = None  # `*=<user>`: one user publishes every source

    @classmethod
    def parse(cls, spec: str) -> Publishers:
        """`source=user,…` (or `*=user`); a malformed spec is `errors.Misconfigured`."""
        users: dict[str, str] = {}
        everyone = None
        for item in filter(None, (part.strip() for part in spec.split(","))):
            source, _, user = (piece.strip() for piece in item.partition("="))
            if not source or not user or not _NAME.fullmatch(user):
                raise errors.Misconfigured(
                    f"EVENT_PUBLISHERS: {item!r} is not source=user (e.g. commerce=storefront)"
                )
            if source == "*":
                everyone = user
            elif source in SOURCES:
                users[source] = user
            else:
                raise errors.Misconfigured(
                    f"EVENT_PUBLISHERS: unknown source {source!r} (one of {', '.join(SOURCES)})"
                )
        if everyone is None and not users:
            raise errors.Misconfigured("EVENT_PUBLISHERS names no publisher")
        return cls(users, everyone)

    def user_for(self, event_type: str) -> str | None:
        return self.everyone or self.users.get(source_of(event_type))

    def trusts(self, event_type: str, user_id: str | None) -> bool:
        """Whether a message of `event_type` published by `user_id` (its AMQP property, which
        the broker has checked) comes from the user allowed to publish that type."""
        expected = self.user_for(event_type)
        return expected is not None and user_id == expected


_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,127}")


# --- the users on the broker ------------------------------------------------------------------


@dataclass(frozen=True)
class Names:
    """The exchanges and the queue prefix of one deployment (a test run has its own)."""

    events: str = "loyalty.events"
    commerce: str = "commerce.events"
    dead_letters: str = "loyalty.dlx"
    unrouted: str = "loyalty.unrouted"
    queue_prefix: str = ""


def password_hash(password: str, salt: bytes | None = None) -> str:
    """RabbitMQ's `rabbit_password_hashing_sha256`: base64(salt ‖ sha256(salt ‖ password))."""
    salt = salt if salt is not None else os.urandom(4)
    return base64.b64encode(salt + hashlib.sha256(salt + password.encode()).digest()).decode()


def _any_of(*names: str) -> str:
    return "^(" + "|".join(names) + ")$"


def definitions(users: Mapping[str, tuple[str, str]], names: Names, vhost: str = "/") -> dict:
    """RabbitMQ definitions for the publishers of `users` (source → (user, password)).

    A service's user may declare, bind, read and write its own queues (`<prefix><service>.…`)
    and the suite's exchanges (a service declares those it uses; a queue's dead-letter and an
    exchange's alternate exchange need write on them), publish to the events exchange only
    under its own types, and write to the default exchange (the `dead-letters replay` command
    puts a message back into the service's queue through it; a consumer trusts such a message
    only from its own user). A storefront's user may publish commerce events only and read the
    suite's events into queues of its own (`<prefix>storefront.…`). An outside system's user
    (OUTSIDE) may publish its own `loyalty.<source>.…` types on the events exchange, nothing
    else."""
    prefix = re.escape(names.queue_prefix)
    unrouted = re.escape(names.unrouted)  # an exchange and a queue of that name
    result: dict = {"users": [], "permissions": [], "topic_permissions": []}
    for source, (user, password) in users.items():
        result["users"].append(
            {
                "name": user,
                "password_hash": password_hash(password),
                "hashing_algorithm": "rabbit_password_hashing_sha256",
                "tags": [],
            }
        )
        own = f"{prefix}{re.escape(user if source == COMMERCE else source)}\\..*"
        if source in OUTSIDE:
            # An outside system only publishes its own types: it reads and declares nothing.
            grants = {"configure": "^$", "write": f"^{re.escape(names.events)}$", "read": "^$"}
            topics = [(names.events, f"^loyalty\\.{re.escape(source)}\\.")]
        elif source == COMMERCE:
            commerce = re.escape(names.commerce)
            grants = {
                "configure": _any_of(own, commerce),
                "write": _any_of(own, commerce),
                "read": _any_of(own, re.escape(names.events)),
            }
            topics = [(names.commerce, r"^commerce\.")]
        else:
            events, commerce, dead_letters = (
                re.escape(n) for n in (names.events, names.commerce, names.dead_letters)
            )
            grants = {
                "configure": _any_of(own, events, commerce, dead_letters, unrouted),
                "write": _any_of(own, events, dead_letters, unrouted, r"amq\.default"),
                "read": _any_of(own, events, commerce, dead_letters, unrouted),
            }
            topics = [(names.events, f"^loyalty\\.{re.escape(source)}\\.")]
        result["permissions"].append({"user": user, "vhost": vhost, **grants})
        for exchange, write in topics:
            result["topic_permissions"].append(
                {"user": user, "vhost": vhost, "exchange": exchange, "write": write, "read": ".*"}
            )
    return result
