"""What identity's servicer and use cases may use: the kit's deps, keys, hasher, rate limiter
and the outside systems (real-name verifier, code sender, assertion verifier)."""

from __future__ import annotations

from dataclasses import dataclass, field

from services.kit.deps import Deps
from services.kit.ratelimit import RateLimiter

from . import crypto
from .config import IdentitySettings
from .limits import IdentityLimits
from .verification import (
    AssertionVerifier,
    CodeSender,
    FormatVerifier,
    NoAssertionVerifier,
    RealNameVerifier,
)


@dataclass
class IdentityDeps(Deps[IdentitySettings]):
    """The vault and the hasher are built by `IdentityApp.setup`, not with the app, so that a
    command needing no keys (migrate) runs without them; the signer and the limiter need the
    pool open; the code sender and the assertion verifier come from the settings when the app
    starts serving (commands send no codes)."""

    vault: crypto.Vault = field(init=False, repr=False)
    passwords: crypto.Passwords = field(init=False, repr=False)
    signer: crypto.Signer = field(init=False, repr=False)
    limiter: RateLimiter = field(init=False, repr=False)
    real_name: RealNameVerifier = field(default_factory=FormatVerifier, repr=False)
    codes: CodeSender = field(init=False, repr=False)
    assertions: AssertionVerifier = field(default_factory=NoAssertionVerifier, repr=False)

    @property
    def limits(self) -> IdentityLimits:
        """Read from the settings at each call (cheap)."""
        return IdentityLimits.of(self.settings)

    def pseudonym(self, kind: str, value: str) -> str:
        """A stable stand-in for personal data (a phone number, an address) in rate-limit keys
        and sign-in sources: a keyed hash, useless without the lookup key."""
        return f"{kind}:{self.vault.lookup_hash(f'{kind}:{value}').hex()[:32]}"
