"""Two checkouts on one machine that use the same PostgreSQL server get the same development
keys: the second opens the identity database the first made (it used to fail to decrypt it)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "deploy/local/secrets.sh"


def _checkout(root: Path, name: str) -> Path:
    checkout = root / name
    (checkout / "deploy/local").mkdir(parents=True)
    shutil.copy(SCRIPT, checkout / "deploy/local/secrets.sh")
    return checkout


def _secrets(checkout: Path, shared: Path, server: str) -> str:
    env = {**os.environ, "LOYALTY_SECRETS_DIR": str(shared), "LOYALTY_PG_URL": server}
    env.pop("IDENTITY_DATABASE_URL", None)
    subprocess.run(["bash", "deploy/local/secrets.sh"], cwd=checkout, env=env, check=True)
    return (checkout / ".local/secrets.env").read_text()


def test_checkouts_on_one_server_share_keys_and_other_servers_do_not(tmp_path):
    shared = tmp_path / "machine"
    shared.mkdir()
    first = _secrets(_checkout(tmp_path, "a"), shared, "postgresql://postgres@127.0.0.1:5432/")
    second = _secrets(_checkout(tmp_path, "b"), shared, "postgresql://postgres@127.0.0.1:5432/")
    other = _secrets(_checkout(tmp_path, "c"), shared, "postgresql://postgres@127.0.0.1:5433/")
    assert first == second and "IDENTITY_DATA_KEY=" in first
    assert other != first


def test_an_older_checkouts_keys_become_the_servers(tmp_path):
    """A checkout that made the database before keys were shared keeps its keys."""
    shared = tmp_path / "machine"
    shared.mkdir()
    older = _checkout(tmp_path, "older")
    (older / ".local").mkdir()
    (older / ".local/secrets.env").write_text("IDENTITY_DATA_KEY=old\nIDENTITY_LOOKUP_KEY=old\n")
    server = "postgresql://postgres@127.0.0.1:5432/"
    assert "=old" in _secrets(older, shared, server)
    assert "=old" in _secrets(_checkout(tmp_path, "newer"), shared, server)


def test_a_key_a_newer_service_needs_is_added_and_the_older_keys_stay(tmp_path):
    """A machine's secrets made before giftcard existed gain its PIN key, nothing else changes."""
    shared = tmp_path / "machine"
    shared.mkdir()
    server = "postgresql://postgres@127.0.0.1:5432/"
    first = _secrets(_checkout(tmp_path, "a"), shared, server)
    (machine_file,) = shared.iterdir()
    older = "\n".join(line for line in first.splitlines() if "GIFTCARD" not in line) + "\n"
    machine_file.write_text(older)
    again = _secrets(_checkout(tmp_path, "b"), shared, server)
    assert again.startswith(older) and "GIFTCARD_PIN_KEY=" in again
