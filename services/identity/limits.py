"""Identity's rate limits (kit.ratelimit), from its settings."""

from __future__ import annotations

from dataclasses import dataclass

from services.kit.ratelimit import Limit

from .config import IdentitySettings

MINUTE, HOUR, DAY = 60, 3600, 86400


@dataclass(frozen=True)
class IdentityLimits:
    # One log of failed logins per account, checked against a smaller count for sources the
    # member has not signed in from: the difference is reserved for the known ones.
    login_account_from_new_source: Limit
    login_account_from_known_source: Limit
    login_account_and_source_minute: Limit
    login_account_and_source_hour: Limit
    login_source: Limit
    register_identifier: Limit
    register_source: Limit
    real_name_member: Limit
    real_name_source: Limit
    link_member: Limit
    link_source: Limit
    client_token_failures: Limit
    client_token_source: Limit
    reauth_member: Limit
    codes_address: tuple[Limit, ...]  # a minute, an hour, a day
    codes_source: Limit

    def login_account(self, *, known_source: bool) -> Limit:
        """The failed-login budget of an account, as seen from a source the member signed in
        from lately, or from any other."""
        if known_source:
            return self.login_account_from_known_source
        return self.login_account_from_new_source

    @classmethod
    def of(cls, s: IdentitySettings) -> IdentityLimits:
        per_account = s.login_failures_per_account_hour
        reserved = min(s.login_failures_reserved_for_known_sources, per_account - 1)
        return cls(
            login_account_from_new_source=Limit(
                "identity.login.account", per_account - max(reserved, 0), HOUR
            ),
            login_account_from_known_source=Limit("identity.login.account", per_account, HOUR),
            login_account_and_source_minute=Limit(
                "identity.login.account_source.minute",
                s.login_failures_per_account_and_source_minute,
                MINUTE,
            ),
            login_account_and_source_hour=Limit(
                "identity.login.account_source.hour",
                s.login_failures_per_account_and_source_hour,
                HOUR,
            ),
            login_source=Limit("identity.login.source", s.login_failures_per_source_hour, HOUR),
            register_identifier=Limit(
                "identity.register.identifier", s.registrations_per_identifier_hour, HOUR
            ),
            register_source=Limit(
                "identity.register.source", s.registrations_per_source_hour, HOUR
            ),
            real_name_member=Limit(
                "identity.real_name.member", s.real_name_attempts_per_member_day, DAY
            ),
            real_name_source=Limit(
                "identity.real_name.source", s.real_name_attempts_per_source_hour, HOUR
            ),
            link_member=Limit("identity.link.member", s.link_attempts_per_member_hour, HOUR),
            link_source=Limit("identity.link.source", s.link_attempts_per_source_hour, HOUR),
            client_token_failures=Limit(
                "identity.client_token.client", s.client_token_failures_per_client_hour, HOUR
            ),
            client_token_source=Limit(
                "identity.client_token.source", s.client_token_attempts_per_source_minute, MINUTE
            ),
            reauth_member=Limit("identity.reauth.member", s.reauth_failures_per_member_hour, HOUR),
            codes_address=(
                Limit("identity.codes.address.minute", s.codes_per_address_minute, MINUTE),
                Limit("identity.codes.address.hour", s.codes_per_address_hour, HOUR),
                Limit("identity.codes.address.day", s.codes_per_address_day, DAY),
            ),
            codes_source=Limit("identity.codes.source", s.codes_per_source_hour, HOUR),
        )
