"""The suite's broker users (services/kit/publishers.py) on a RabbitMQ you administer.

python -m tools.broker_users definitions PASSWORDS.json > definitions.json
    RabbitMQ definitions (users, permissions, topic permissions) for the passwords in
    PASSWORDS.json ({"identity": "...", ..., "commerce": "..."}; a source left out gets no
    user); load them with `rabbitmqctl import_definitions definitions.json`.

python -m tools.broker_users local
    What `make run` does when it manages the broker: keeps a password per publisher in
    .local/broker-users.json (made once), imports the users with $LOYALTY_RABBITMQCTL, and
    prints `export <SVC>_AMQP_URL=…` for each service and STOREFRONT_AMQP_URL, based on
    $LOYALTY_AMQP_URL's host. Without $LOYALTY_RABBITMQCTL it prints
    `export LOYALTY_EVENT_PUBLISHERS='*=<user>'`: every service runs as that one user.
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

from services.kit import publishers

ROOT = Path(__file__).resolve().parents[1]


def import_definitions(ctl: str, definitions: dict) -> None:
    """Load `definitions` into the broker with the rabbitmqctl command `ctl` (one call; a user
    that exists gets the new password and permissions)."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as file:
        json.dump(definitions, file)
    try:
        os.chmod(file.name, 0o644)  # rabbitmqctl may run as the broker's user
        subprocess.run(
            [*shlex.split(ctl), "-q", "import_definitions", file.name],
            check=True,
            capture_output=True,
            timeout=60,
        )
    finally:
        os.unlink(file.name)


def delete_users(ctl: str, users: list[str]) -> None:
    for user in users:
        subprocess.run(
            [*shlex.split(ctl), "-q", "delete_user", user], capture_output=True, timeout=60
        )


def url_for(amqp_url: str, user: str, password: str) -> str:
    """`amqp_url` (host, port, vhost, options) with another user's credentials."""
    parts = urlsplit(amqp_url)
    host = parts.hostname or "127.0.0.1"
    netloc = f"{quote(user, safe='')}:{quote(password, safe='')}@{host}"
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def users_of(passwords: Mapping[str, str], prefix: str = "") -> dict[str, tuple[str, str]]:
    """source → (broker user, password): the kit's default user names, with `prefix`."""
    return {
        source: (prefix + publishers.SOURCES[source], password)
        for source, password in passwords.items()
    }


def env_name(source: str) -> str:
    return "STOREFRONT_AMQP_URL" if source == publishers.COMMERCE else f"{source.upper()}_AMQP_URL"


def _local() -> None:
    amqp_url = os.environ.get("LOYALTY_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
    ctl = os.environ.get("LOYALTY_RABBITMQCTL")
    if not ctl:
        user = publishers.broker_user(amqp_url)
        print(
            f"broker: cannot create broker users here; every service runs as {user}",
            file=sys.stderr,
        )
        print(f"export LOYALTY_EVENT_PUBLISHERS={shlex.quote(f'*={user}')}")
        return
    file = ROOT / ".local" / "broker-users.json"
    file.parent.mkdir(exist_ok=True)
    stored = json.loads(file.read_text()) if file.exists() else {}
    passwords = {s: stored.get(s) or secrets.token_urlsafe(24) for s in publishers.SOURCES}
    if passwords != stored:
        file.touch(mode=0o600)
        file.write_text(json.dumps(passwords, indent=2) + "\n")
    users = users_of(passwords)
    import_definitions(ctl, publishers.definitions(users, publishers.Names()))
    print("broker: users " + ", ".join(u for u, _ in users.values()), file=sys.stderr)
    for source, (user, password) in users.items():
        print(f"export {env_name(source)}={shlex.quote(url_for(amqp_url, user, password))}")


def main(argv: list[str]) -> int:
    if argv[:1] == ["local"]:
        _local()
        return 0
    if len(argv) == 2 and argv[0] == "definitions":
        passwords = json.loads(Path(argv[1]).read_text())
        unknown = set(passwords) - set(publishers.SOURCES)
        if unknown:
            raise SystemExit(f"unknown sources: {', '.join(sorted(unknown))}")
        definitions = publishers.definitions(users_of(passwords), publishers.Names())
        print(json.dumps(definitions, indent=2))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
