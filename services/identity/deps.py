"""What identity's servicer and use cases may use: the kit's deps, keys, hasher and verifier."""

from __future__ import annotations

from dataclasses import dataclass, field

from services.kit.deps import Deps

from . import crypto
from .config import IdentitySettings
from .domain.member import LockoutPolicy
from .verification import FormatVerifier, RealNameVerifier


@dataclass
class IdentityDeps(Deps[IdentitySettings]):
    """The vault and the hasher are built by `IdentityApp.setup`, not with the app, so that a
    command needing no keys (migrate) runs without them; the signer needs the pool open."""

    vault: crypto.Vault = field(init=False, repr=False)
    passwords: crypto.Passwords = field(init=False, repr=False)
    signer: crypto.Signer = field(init=False, repr=False)
    real_name: RealNameVerifier = field(default_factory=FormatVerifier, repr=False)

    @property
    def lockout(self) -> LockoutPolicy:
        s = self.settings
        return LockoutPolicy(s.lockout_max_failures, s.lockout_minutes)
