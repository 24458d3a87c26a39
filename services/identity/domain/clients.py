"""Operator and service clients: what a client id, a kind and a scope look like, and which
scopes a caller may hand out."""

from __future__ import annotations

import re
from collections.abc import Iterable

CLIENT_ID = re.compile(r"[a-z][a-z0-9-]{2,62}")
CLIENT_ID_RULE = "3-63 characters: lower-case letters, digits, '-', a letter first"
SCOPE = re.compile(r"[a-z]+:[a-z_]+")
SCOPE_RULE = "must look like 'points:grant'"
KINDS = ("operator", "service")
MAX_SCOPES = 32  # per client
MAX_ROLES = 32
ROLE_MAX = 64
DISPLAY_NAME_MAX = 128
REASON_MAX = 256


def client_id_problem(client_id: str) -> str | None:
    return None if CLIENT_ID.fullmatch(client_id) else CLIENT_ID_RULE


def scope_problem(scope: str) -> str | None:
    return None if SCOPE.fullmatch(scope) else SCOPE_RULE


def not_held(scopes: Iterable[str], held: Iterable[str]) -> list[str]:
    """The scopes of `scopes` the caller does not hold, sorted: a caller hands out, and
    manages clients with, only scopes it holds itself (else `identity:admin` alone could make
    a client with every scope of the suite)."""
    return sorted(set(scopes) - set(held))


def definition_problems(client_id: str, kind: str, scopes: Iterable[str]) -> list[str]:
    """Why a client defined on the command line cannot be created (empty when it can)."""
    problems = []
    problem = client_id_problem(client_id)
    if problem:
        problems.append(f"client id: {problem}")
    if kind not in KINDS:
        problems.append(f"kind: {' or '.join(KINDS)}, not {kind!r}")
    scopes = list(scopes)
    if not scopes:
        problems.append("at least one scope")
    if len(scopes) > MAX_SCOPES:
        problems.append(f"at most {MAX_SCOPES} scopes")
    problems.extend(f"scope {s!r}: {SCOPE_RULE}" for s in scopes[:MAX_SCOPES] if scope_problem(s))
    return problems
