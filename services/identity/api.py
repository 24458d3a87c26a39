"""gRPC IdentityService: proto ⇄ domain, validation, authorization, one transaction per call."""

from __future__ import annotations

import datetime as dt
import hmac
import re
import uuid

import grpc

from loyalty.identity.v1 import events_pb2 as ev
from loyalty.identity.v1 import identity_service_pb2 as pb
from loyalty.identity.v1 import identity_service_pb2_grpc as pb_grpc
from loyalty.identity.v1 import resources_pb2 as res
from services.kit import audit, auth, errors, idempotency, ids, paging, timestamps
from services.kit.errors import Violations

from . import crypto, store
from .domain import contact, id_number
from .domain import member as rules

SCOPE_READ, SCOPE_WRITE, SCOPE_ADMIN = "identity:read", "identity:write", "identity:admin"
_CHANNELS = {
    res.REGISTRATION_CHANNEL_APP: "app",
    res.REGISTRATION_CHANNEL_WEB: "web",
    res.REGISTRATION_CHANNEL_MINI_PROGRAM: "mini_program",
    res.REGISTRATION_CHANNEL_STORE_DESK: "store_desk",
    res.REGISTRATION_CHANNEL_BULK_IMPORT: "bulk_import",
}
_CHANNEL_ENUM = {v: k for k, v in _CHANNELS.items()}
_GENDERS = {
    res.GENDER_UNSPECIFIED: "",
    res.GENDER_FEMALE: "female",
    res.GENDER_MALE: "male",
    res.GENDER_OTHER: "other",
}
_GENDER_ENUM = {v: k for k, v in _GENDERS.items()}
_STATUSES = {
    res.MEMBER_STATUS_ACTIVE: rules.ACTIVE,
    res.MEMBER_STATUS_FROZEN: rules.FROZEN,
    res.MEMBER_STATUS_CLOSED: rules.CLOSED,
}
_STATUS_ENUM = {v: k for k, v in _STATUSES.items()}
_CLIENT_KINDS = {res.CLIENT_KIND_OPERATOR: "operator", res.CLIENT_KIND_SERVICE: "service"}
_CLIENT_ID = re.compile(r"^[a-z][a-z0-9-]{2,62}$")
_SCOPE = re.compile(r"^[a-z]+:[a-z_]+$")
_PROFILE_FIELDS = ("nickname", "gender", "birthday", "region")
_OPERATOR_CHANNELS = {"store_desk", "bulk_import"}


def _member_id(value: str, field: str = "member_id") -> uuid.UUID:
    v = Violations()
    parsed = v.uuid(field, value, "a member id")
    v.raise_if_any()
    return parsed


class IdentityApi(pb_grpc.IdentityServiceServicer):
    def __init__(self, app) -> None:
        self.app = app
        self.pool = app.pool
        self.outbox = app.outbox
        self.settings = app.settings
        self.vault: crypto.Vault = app.vault
        self.passwords: crypto.Passwords = app.passwords
        self.verifier = app.real_name_verifier
        self.lockout = rules.LockoutPolicy(
            self.settings.lockout_max_failures, self.settings.lockout_minutes
        )

    # --- helpers ------------------------------------------------------------------------------
    def _to_proto(self, row) -> res.Member:
        legal = ""
        if row["legal_name_enc"]:
            name = self.vault.decrypt(row["legal_name_enc"], row["member_id"].bytes)
            legal = name[:1] + "*" * (len(name) - 1)
        return res.Member(
            member_id=str(row["member_id"]),
            phone=contact.mask_phone(row["phone"]) if row["phone"] else "",
            email=contact.mask_email(row["email"]) if row["email"] else "",
            status=_STATUS_ENUM[row["status"]],
            profile=res.Profile(
                nickname=row["nickname"],
                gender=_GENDER_ENUM.get(row["gender"], 0),
                birthday=row["birthday"].isoformat() if row["birthday"] else "",
                region=row["region"],
            ),
            tags=row["tags"],
            referral_code=row["referral_code"],
            referred_by=str(row["referred_by"]) if row["referred_by"] else "",
            verified=row["verified_at"] is not None,
            masked_id_number=row["id_number_masked"] or "",
            legal_name_masked=legal,
            linked_accounts=[
                res.LinkedAccount(provider=p, subject=s)
                for p, _, s in (item.partition(":") for item in row["linked"])
            ],
            create_time=timestamps.to_proto(row["created_at"]),
            update_time=timestamps.to_proto(row["updated_at"]),
        )

    async def _member(self, conn, member_id: uuid.UUID) -> res.Member:
        row = await store.get_member(conn, member_id)
        if row is None:
            raise errors.not_found("member", str(member_id))
        return self._to_proto(row)

    async def _open_member(self, conn, member_id: uuid.UUID):
        """The member row, locked; refuses unknown and closed members."""
        row = await store.get_member(conn, member_id, lock=True)
        if row is None:
            raise errors.not_found("member", str(member_id))
        if row["status"] == rules.CLOSED:
            raise errors.failed_precondition("MEMBER_CLOSED", "the member has closed the account")
        return row

    async def _audit(self, conn, action: str, member_id: uuid.UUID, **detail) -> None:
        await audit.record(
            conn, actor=auth.actor("anonymous"), action=action, subject=member_id, detail=detail
        )

    async def _issue_tokens(
        self, conn, member_id: uuid.UUID, family_id: uuid.UUID | None = None
    ) -> res.TokenPair:
        now = timestamps.now()
        s = self.settings
        refresh, refresh_hash = crypto.opaque_token()
        refresh_expiry = now + dt.timedelta(seconds=s.refresh_ttl_seconds)
        await store.insert_refresh_token(
            conn,
            token_id=ids.new_id(),
            family_id=family_id or ids.new_id(),
            member_id=member_id,
            token_hash=refresh_hash,
            expires_at=refresh_expiry,
        )
        access = self.app.signer.access_token(
            subject=str(member_id), kind="member", ttl=s.access_ttl_seconds, now=now
        )
        return res.TokenPair(
            access_token=access,
            refresh_token=refresh,
            token_type="Bearer",
            access_expire_time=timestamps.to_proto(
                now + dt.timedelta(seconds=s.access_ttl_seconds)
            ),
            refresh_expire_time=timestamps.to_proto(refresh_expiry),
        )

    # --- registration and login ---------------------------------------------------------------
    async def RegisterMember(self, request, context):
        v = Violations()
        channel = _CHANNELS.get(request.channel)
        v.check(
            channel is not None,
            "channel",
            "required: app, web, mini_program, store_desk or bulk_import",
        )
        phone = email = None
        if not request.phone and not request.email:
            v.add("phone", "a phone number or an e-mail address is required")
        if request.phone:
            phone = contact.normalize_phone(request.phone)
            v.check(phone is not None, "phone", "not a valid phone number")
        if request.email:
            email = contact.normalize_email(request.email)
            v.check(email is not None, "email", "not a valid e-mail address")
        if request.password or channel not in _OPERATOR_CHANNELS | {"mini_program"}:
            problem = rules.password_problem(request.password)
            if problem:
                v.add("password", problem)
        self._check_profile(v, request.profile, set(_PROFILE_FIELDS))
        v.text("referral_code", request.referral_code, maximum=16, required=False)
        v.raise_if_any("PASSWORD_TOO_WEAK" if v.names("password") else "INVALID_ARGUMENT")
        if channel in _OPERATOR_CHANNELS:
            auth.require_scope(SCOPE_WRITE)
        password_hash = await self.passwords.hash(request.password) if request.password else None

        async def work(conn):
            referred_by = None
            if request.referral_code:
                referred_by = await store.member_id_by_referral_code(
                    conn, request.referral_code.strip().upper()
                )
                if referred_by is None:
                    raise errors.invalid(
                        [("referral_code", "unknown referral code")], "REFERRAL_CODE_INVALID"
                    )
            member_id = ids.new_id()
            profile = request.profile
            try:
                await store.insert_member(
                    conn,
                    member_id=member_id,
                    phone=phone,
                    email=email,
                    password_hash=password_hash,
                    channel=channel,
                    nickname=profile.nickname.strip(),
                    gender=_GENDERS[profile.gender],
                    birthday=dt.date.fromisoformat(profile.birthday) if profile.birthday else None,
                    region=profile.region.strip(),
                    referral_code=rules.new_referral_code(),
                    referred_by=referred_by,
                )
            except store.Conflict as exc:
                raise _registration_conflict(exc.constraint) from exc
            await self._audit(conn, "member.register", member_id, channel=channel)
            await self.outbox.add(
                conn,
                str(member_id),
                ev.MemberRegistered(
                    member_id=str(member_id),
                    channel=request.channel,
                    referred_by=str(referred_by) if referred_by else "",
                    registered_time=timestamps.to_proto(timestamps.now()),
                ),
            )
            return pb.RegisterMemberResponse(member=await self._member(conn, member_id))

        return await idempotency.once(self.pool, request, work)

    async def Login(self, request, context):
        v = Violations()
        identifier = request.identifier.strip()
        phone = email = None
        if "@" in identifier:
            email = contact.normalize_email(identifier)
            v.check(email is not None, "identifier", "not a valid e-mail address")
        else:
            phone = contact.normalize_phone(identifier)
            v.check(phone is not None, "identifier", "not a valid phone number or e-mail")
        v.check(
            0 < len(request.password) <= rules.PASSWORD_MAX,
            "password",
            "required, at most 128 characters",
        )
        v.raise_if_any()
        async with self.pool.acquire() as conn, conn.transaction():
            row = await store.credential(conn, phone=phone, email=email)
            now = timestamps.now()
            if row is not None and self.lockout.is_locked(row["locked_until"], now):
                raise errors.resource_exhausted(
                    "CREDENTIAL_LOCKED",
                    "too many failed logins; try again later",
                    retry_after=int((row["locked_until"] - now).total_seconds()) + 1,
                )
            ok = await self.passwords.verify(row and row["password_hash"], request.password)
            if not ok or row["status"] == rules.CLOSED:
                if row is not None:
                    failures, until = self.lockout.after_failure(row["failed_logins"], now)
                    await store.record_login(conn, row["member_id"], failures, until)
                failure = errors.unauthenticated(
                    "INVALID_CREDENTIALS", "identifier or password is wrong"
                )
            else:
                failure = None
                await store.record_login(conn, row["member_id"], 0, None)
                tokens = await self._issue_tokens(conn, row["member_id"])
        if failure:  # raised after commit: the failure count must stick
            raise failure
        return pb.LoginResponse(tokens=tokens, member_id=str(row["member_id"]))

    async def RefreshToken(self, request, context):
        if not request.refresh_token or len(request.refresh_token) > 256:
            raise errors.invalid([("refresh_token", "required")])
        failure = None
        async with self.pool.acquire() as conn, conn.transaction():
            row = await store.refresh_token(conn, crypto.token_hash(request.refresh_token))
            if (
                row is None
                or row["revoked_at"]
                or row["expires_at"] <= timestamps.now()
                or row["status"] == rules.CLOSED
            ):
                failure = errors.unauthenticated(
                    "REFRESH_TOKEN_INVALID", "refresh token is invalid or expired"
                )
            elif row["used_at"] is not None:
                # A rotated token came back: it was stolen or replayed. End the whole family.
                await store.revoke_family(conn, row["family_id"])
                failure = errors.unauthenticated(
                    "REFRESH_TOKEN_INVALID", "refresh token was already used; sign in again"
                )
            else:
                await store.mark_refresh_used(conn, row["token_id"])
                tokens = await self._issue_tokens(conn, row["member_id"], row["family_id"])
        if failure:
            raise failure
        return pb.RefreshTokenResponse(tokens=tokens)

    async def RevokeRefreshToken(self, request, context):
        if not request.refresh_token or len(request.refresh_token) > 256:
            raise errors.invalid([("refresh_token", "required")])
        async with self.pool.acquire() as conn, conn.transaction():
            row = await store.refresh_token(conn, crypto.token_hash(request.refresh_token))
            if row is not None:
                await store.revoke_family(conn, row["family_id"])
        return pb.RevokeRefreshTokenResponse()

    async def IssueClientToken(self, request, context):
        v = Violations()
        v.text("client_id", request.client_id, maximum=63)
        v.text("client_secret", request.client_secret, maximum=256)
        v.raise_if_any()
        row = await store.get_client(self.pool, request.client_id)
        expected = row["secret_hash"] if row else crypto.token_hash("")
        if not hmac.compare_digest(expected, crypto.token_hash(request.client_secret)) or not row:
            raise errors.unauthenticated(
                "INVALID_CLIENT_CREDENTIALS", "client id or secret is wrong"
            )
        now = timestamps.now()
        ttl = self.settings.client_token_ttl_seconds
        token = self.app.signer.access_token(
            subject=row["client_id"],
            kind=row["kind"],
            ttl=ttl,
            now=now,
            scopes=row["scopes"],
            roles=row["roles"],
        )
        return pb.IssueClientTokenResponse(
            access_token=token,
            token_type="Bearer",
            expire_time=timestamps.to_proto(now + dt.timedelta(seconds=ttl)),
        )

    async def CreateClient(self, request, context):
        auth.require_scope(SCOPE_ADMIN)
        v = Violations()
        v.check(
            bool(_CLIENT_ID.fullmatch(request.client_id)),
            "client_id",
            "3-63 characters: lower-case letters, digits, '-'",
        )
        kind = _CLIENT_KINDS.get(request.kind)
        v.check(kind is not None, "kind", "required: operator or service")
        for i, scope in enumerate(request.scopes):
            v.check(bool(_SCOPE.fullmatch(scope)), f"scopes[{i}]", "must look like 'points:grant'")
        for i, role in enumerate(request.roles):
            v.text(f"roles[{i}]", role, maximum=64)
        v.text("display_name", request.display_name, maximum=128, required=False)
        v.raise_if_any()
        secret, secret_hash = crypto.opaque_token()

        async def work(conn):
            try:
                await store.insert_client(
                    conn,
                    client_id=request.client_id,
                    kind=kind,
                    secret_hash=secret_hash,
                    scopes=sorted(set(request.scopes)),
                    roles=sorted(set(request.roles)),
                    display_name=request.display_name,
                )
            except store.Conflict as exc:
                raise errors.already_exists("CLIENT_ALREADY_EXISTS", "client id is taken") from exc
            await audit.record(
                conn,
                actor=auth.actor("anonymous"),
                action="client.create",
                subject=request.client_id,
                detail={"client_id": request.client_id, "scopes": list(request.scopes)},
            )
            client = res.Client(
                client_id=request.client_id,
                kind=request.kind,
                scopes=sorted(set(request.scopes)),
                roles=sorted(set(request.roles)),
                display_name=request.display_name,
            )
            return pb.CreateClientResponse(client=client, client_secret=secret)

        def without_secret(response):
            return pb.CreateClientResponse(client=response.client)

        return await idempotency.once(self.pool, request, work, stored=without_secret)

    # --- member resource ----------------------------------------------------------------------
    async def GetMember(self, request, context):
        member_id = _member_id(request.member_id)
        auth.require_member_or_scope(str(member_id), SCOPE_READ)
        async with self.pool.acquire() as conn:
            return pb.GetMemberResponse(member=await self._member(conn, member_id))

    def _check_profile(self, v: Violations, profile: res.Profile, paths: set[str]) -> None:
        if "nickname" in paths:
            v.text("profile.nickname", profile.nickname, maximum=rules.NICKNAME_MAX, required=False)
        if "region" in paths:
            v.text("profile.region", profile.region, maximum=rules.REGION_MAX, required=False)
        if "birthday" in paths:
            problem = rules.birthday_problem(profile.birthday, timestamps.now().date())
            if problem:
                v.add("profile.birthday", problem)
        if "gender" in paths and profile.gender not in _GENDERS:
            v.add("profile.gender", "unknown gender")

    async def UpdateProfile(self, request, context):
        member_id = _member_id(request.member_id)
        auth.require_member_or_scope(str(member_id), SCOPE_WRITE)
        v = Violations()
        p = request.profile
        mask = [path.removeprefix("profile.") for path in request.update_mask.paths]
        if not mask:  # no mask: the fields the request sets (AIP-134)
            paths = [field for field in _PROFILE_FIELDS if getattr(p, field)]
        elif mask == ["*"]:  # full replacement: fields left empty are cleared
            paths = list(_PROFILE_FIELDS)
        else:
            paths = mask
        for path in paths:
            v.check(path in _PROFILE_FIELDS, "update_mask", f"unknown field '{path}'")
        self._check_profile(v, p, set(paths))
        v.raise_if_any()
        values = {
            "nickname": p.nickname.strip(),
            "gender": _GENDERS.get(p.gender, ""),
            "birthday": dt.date.fromisoformat(p.birthday) if p.birthday else None,
            "region": p.region.strip(),
        }
        wanted = {path: values[path] for path in dict.fromkeys(paths)}

        async def work(conn):
            row = await self._open_member(conn, member_id)
            changes = {field: value for field, value in wanted.items() if row[field] != value}
            if not changes:  # nothing changed: nothing is written or published
                return pb.UpdateProfileResponse(member=self._to_proto(row))
            await store.update_profile(conn, member_id, changes)
            await self._audit(conn, "member.update_profile", member_id, fields=list(changes))
            await self.outbox.add(
                conn,
                str(member_id),
                ev.MemberProfileUpdated(
                    member_id=str(member_id),
                    changed_fields=list(changes),
                    updated_time=timestamps.to_proto(timestamps.now()),
                ),
            )
            return pb.UpdateProfileResponse(member=await self._member(conn, member_id))

        return await idempotency.once(self.pool, request, work)

    async def VerifyRealName(self, request, context):
        member_id = _member_id(request.member_id)
        auth.require_member_or_scope(str(member_id), SCOPE_WRITE)
        v = Violations()
        legal_name = request.legal_name.strip()
        v.text("legal_name", legal_name, maximum=64)
        number = id_number.normalize(request.id_number)
        problem = id_number.problem(number)
        if problem:
            v.add("id_number", problem)
        v.raise_if_any("ID_NUMBER_INVALID" if problem else "INVALID_ARGUMENT")
        if await self.verifier.problem(legal_name, number):
            raise errors.failed_precondition(
                "REAL_NAME_REJECTED", "the name and ID number did not verify"
            )

        async def work(conn):
            row = await self._open_member(conn, member_id)
            if row["verified_at"] is not None:
                raise errors.failed_precondition("ALREADY_VERIFIED", "the member is verified")
            context_bytes = member_id.bytes
            try:
                await store.set_verification(
                    conn,
                    member_id,
                    legal_name_enc=self.vault.encrypt(legal_name, context_bytes),
                    id_number_enc=self.vault.encrypt(number, context_bytes),
                    id_number_hash=self.vault.lookup_hash(number),
                    id_number_masked=id_number.mask(number),
                )
            except store.Conflict as exc:
                raise errors.already_exists(
                    "ID_NUMBER_ALREADY_USED", "this ID number already verifies another account"
                ) from exc
            await self._audit(conn, "member.verify", member_id)
            await self.outbox.add(
                conn,
                str(member_id),
                ev.MemberVerified(
                    member_id=str(member_id), verified_time=timestamps.to_proto(timestamps.now())
                ),
            )
            return pb.VerifyRealNameResponse(member=await self._member(conn, member_id))

        return await idempotency.once(self.pool, request, work)

    async def LinkAccount(self, request, context):
        member_id = _member_id(request.member_id)
        auth.require_member_or_scope(str(member_id), SCOPE_WRITE)
        v = Violations()
        v.check(
            request.provider in rules.PROVIDERS,
            "provider",
            f"one of {', '.join(sorted(rules.PROVIDERS))}",
        )
        v.text("subject", request.subject, maximum=128)
        v.raise_if_any()

        async def work(conn):
            await self._open_member(conn, member_id)
            try:
                await store.link_account(conn, member_id, request.provider, request.subject)
            except store.Conflict as exc:
                if exc.constraint == "linked_accounts_pkey":
                    raise errors.already_exists(
                        "ACCOUNT_ALREADY_LINKED", "this external account is linked already"
                    ) from exc
                raise errors.failed_precondition(
                    "PROVIDER_ALREADY_LINKED", "the member already linked this provider"
                ) from exc
            await self._audit(conn, "member.link", member_id, provider=request.provider)
            await self.outbox.add(
                conn,
                str(member_id),
                ev.MemberAccountLinked(
                    member_id=str(member_id),
                    provider=request.provider,
                    linked_time=timestamps.to_proto(timestamps.now()),
                ),
            )
            return pb.LinkAccountResponse(member=await self._member(conn, member_id))

        return await idempotency.once(self.pool, request, work)

    async def UnlinkAccount(self, request, context):
        member_id = _member_id(request.member_id)
        auth.require_member_or_scope(str(member_id), SCOPE_WRITE)
        if request.provider not in rules.PROVIDERS:
            raise errors.invalid([("provider", f"one of {', '.join(sorted(rules.PROVIDERS))}")])

        async def work(conn):
            row = await self._open_member(conn, member_id)
            if not await store.unlink_account(conn, member_id, request.provider):
                raise errors.not_found("linked_account", request.provider)
            if not row["has_password"] and len(row["linked"]) <= 1:
                raise errors.failed_precondition(
                    "LAST_SIGN_IN_METHOD", "no way to sign in would remain"
                )
            await self._audit(conn, "member.unlink", member_id, provider=request.provider)
            await self.outbox.add(
                conn,
                str(member_id),
                ev.MemberAccountUnlinked(
                    member_id=str(member_id),
                    provider=request.provider,
                    unlinked_time=timestamps.to_proto(timestamps.now()),
                ),
            )
            return pb.UnlinkAccountResponse(member=await self._member(conn, member_id))

        return await idempotency.once(self.pool, request, work)

    # --- status -------------------------------------------------------------------------------
    async def _change_status(
        self,
        request,
        method,
        target,
        event_name,
        event,
        response_class,
        *,
        member_may: bool = False,
    ):
        member_id = _member_id(request.member_id)
        if member_may:
            auth.require_member_or_scope(str(member_id), SCOPE_ADMIN)
        else:
            auth.require_scope(SCOPE_ADMIN)
        v = Violations()
        # Freeze and unfreeze need a reason for the audit trail; closing is the member's own call.
        v.text("reason", request.reason, maximum=256, required=target != rules.CLOSED)
        v.raise_if_any()

        async def work(conn):
            row = await store.get_member(conn, member_id, lock=True)
            if row is None:
                raise errors.not_found("member", str(member_id))
            if row["status"] == target:  # already there: nothing changes, nothing is published
                return response_class(member=self._to_proto(row))
            if not rules.can_transition(row["status"], target):
                raise errors.failed_precondition(
                    "MEMBER_CLOSED", "the member has closed the account"
                )
            if target == rules.CLOSED:
                await store.erase_member(conn, member_id)
            else:
                await store.set_status(conn, member_id, target)
            await self._audit(conn, f"member.{event_name}", member_id, reason=request.reason)
            await self.outbox.add(conn, member_id, event(str(member_id), request.reason))
            return response_class(member=await self._member(conn, member_id))

        return await idempotency.once(self.pool, request, work)

    async def FreezeMember(self, request, context):
        return await self._change_status(
            request,
            "FreezeMember",
            rules.FROZEN,
            "frozen",
            lambda m, r: ev.MemberFrozen(
                member_id=m, reason=r, frozen_time=timestamps.to_proto(timestamps.now())
            ),
            pb.FreezeMemberResponse,
        )

    async def UnfreezeMember(self, request, context):
        return await self._change_status(
            request,
            "UnfreezeMember",
            rules.ACTIVE,
            "unfrozen",
            lambda m, r: ev.MemberUnfrozen(
                member_id=m, reason=r, unfrozen_time=timestamps.to_proto(timestamps.now())
            ),
            pb.UnfreezeMemberResponse,
        )

    async def CloseMember(self, request, context):
        return await self._change_status(
            request,
            "CloseMember",
            rules.CLOSED,
            "closed",
            lambda m, _r: ev.MemberClosed(
                member_id=m, closed_time=timestamps.to_proto(timestamps.now())
            ),
            pb.CloseMemberResponse,
            member_may=True,
        )

    # --- tags and listing ---------------------------------------------------------------------
    def _check_tags(self, tags) -> list[str]:
        v = Violations()
        v.check(0 < len(tags) <= rules.MAX_TAGS, "tags", f"1 to {rules.MAX_TAGS} tags")
        for i, tag in enumerate(tags):
            problem = rules.tag_problem(tag)
            if problem:
                v.add(f"tags[{i}]", problem)
        v.raise_if_any()
        return sorted(set(tags))

    async def AddMemberTags(self, request, context):
        auth.require_scope(SCOPE_WRITE)
        member_id = _member_id(request.member_id)
        tags = self._check_tags(request.tags)

        async def work(conn):
            await self._open_member(conn, member_id)
            await store.add_tags(conn, member_id, tags)
            if await store.count_tags(conn, member_id) > rules.MAX_TAGS:
                raise errors.failed_precondition(
                    "TOO_MANY_TAGS", f"a member holds at most {rules.MAX_TAGS} tags"
                )
            await self._audit(conn, "member.tag", member_id, tags=tags)
            return pb.AddMemberTagsResponse(member=await self._member(conn, member_id))

        return await idempotency.once(self.pool, request, work)

    async def RemoveMemberTags(self, request, context):
        auth.require_scope(SCOPE_WRITE)
        member_id = _member_id(request.member_id)
        tags = self._check_tags(request.tags)

        async def work(conn):
            await self._open_member(conn, member_id)
            await store.remove_tags(conn, member_id, tags)
            await self._audit(conn, "member.untag", member_id, tags=tags)
            return pb.RemoveMemberTagsResponse(member=await self._member(conn, member_id))

        return await idempotency.once(self.pool, request, work)

    async def ListMembers(self, request, context):
        auth.require_scope(SCOPE_READ)
        v = Violations()
        v.check(0 <= request.page_size, "page_size", "must not be negative")
        if request.tag:
            problem = rules.tag_problem(request.tag)
            if problem:
                v.add("tag", problem)
        status = _STATUSES.get(request.status) if request.status else None
        v.check(request.status == 0 or status is not None, "status", "unknown status")
        v.raise_if_any()
        query = {"tag": request.tag or None, "status": status}
        after = paging.cursor(request.page_token, query, uuid.UUID)
        size = paging.size(request.page_size)
        async with self.pool.acquire() as conn:
            rows = await store.list_members(conn, after=after, limit=size + 1, **query)
        rows, token = paging.page(rows, size, query, key=lambda row: row["member_id"])
        return pb.ListMembersResponse(
            members=[self._to_proto(r) for r in rows], next_page_token=token
        )


def _registration_conflict(constraint: str) -> errors.AppError:
    if "phone" in constraint:
        return errors.already_exists(
            "PHONE_ALREADY_REGISTERED", "the phone number is registered already"
        )
    if "email" in constraint:
        return errors.already_exists(
            "EMAIL_ALREADY_REGISTERED", "the e-mail address is registered already"
        )
    return errors.AppError(grpc.StatusCode.ABORTED, "CONFLICT", "try again")
