"""gRPC IdentityService: each RPC is a function of the module for its concern, which authorises,
checks sizes, validates, calls one use case and converts its answer to proto. RPCs with limits
per caller get the caller's source (`checks.source`)."""

from __future__ import annotations

import grpc

from loyalty.identity.v1 import identity_service_pb2 as pb
from loyalty.identity.v1 import identity_service_pb2_grpc as pb_grpc

from ..deps import IdentityDeps
from . import accounts, checks, clients, codes, profile, registration, sessions, status, tags


class IdentityApi(pb_grpc.IdentityServiceServicer):
    def __init__(self, deps: IdentityDeps) -> None:
        self.deps = deps

    async def RegisterMember(
        self, request: pb.RegisterMemberRequest, context: grpc.aio.ServicerContext
    ) -> pb.RegisterMemberResponse:
        return await registration.register_member(self.deps, request, checks.source(context))

    async def SendVerificationCode(
        self, request: pb.SendVerificationCodeRequest, context: grpc.aio.ServicerContext
    ) -> pb.SendVerificationCodeResponse:
        return await codes.send_verification_code(self.deps, request, checks.source(context))

    async def Login(
        self, request: pb.LoginRequest, context: grpc.aio.ServicerContext
    ) -> pb.LoginResponse:
        return await sessions.login(self.deps, request, checks.source(context))

    async def RefreshToken(
        self, request: pb.RefreshTokenRequest, context: grpc.aio.ServicerContext
    ) -> pb.RefreshTokenResponse:
        return await sessions.refresh_token(self.deps, request)

    async def RevokeRefreshToken(
        self, request: pb.RevokeRefreshTokenRequest, context: grpc.aio.ServicerContext
    ) -> pb.RevokeRefreshTokenResponse:
        return await sessions.revoke_refresh_token(self.deps, request)

    async def IssueClientToken(
        self, request: pb.IssueClientTokenRequest, context: grpc.aio.ServicerContext
    ) -> pb.IssueClientTokenResponse:
        return await clients.issue_client_token(self.deps, request, checks.source(context))

    async def CreateClient(
        self, request: pb.CreateClientRequest, context: grpc.aio.ServicerContext
    ) -> pb.CreateClientResponse:
        return await clients.create_client(self.deps, request)

    async def ListClients(
        self, request: pb.ListClientsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListClientsResponse:
        return await clients.list_clients(self.deps, request)

    async def DisableClient(
        self, request: pb.DisableClientRequest, context: grpc.aio.ServicerContext
    ) -> pb.DisableClientResponse:
        return await clients.disable_client(self.deps, request)

    async def RotateClientSecret(
        self, request: pb.RotateClientSecretRequest, context: grpc.aio.ServicerContext
    ) -> pb.RotateClientSecretResponse:
        return await clients.rotate_client_secret(self.deps, request)

    async def GetMember(
        self, request: pb.GetMemberRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetMemberResponse:
        return await profile.get_member(self.deps, request)

    async def UpdateProfile(
        self, request: pb.UpdateProfileRequest, context: grpc.aio.ServicerContext
    ) -> pb.UpdateProfileResponse:
        return await profile.update_profile(self.deps, request)

    async def VerifyRealName(
        self, request: pb.VerifyRealNameRequest, context: grpc.aio.ServicerContext
    ) -> pb.VerifyRealNameResponse:
        return await profile.verify_real_name(self.deps, request, checks.source(context))

    async def LinkAccount(
        self, request: pb.LinkAccountRequest, context: grpc.aio.ServicerContext
    ) -> pb.LinkAccountResponse:
        return await accounts.link_account(self.deps, request, checks.source(context))

    async def UnlinkAccount(
        self, request: pb.UnlinkAccountRequest, context: grpc.aio.ServicerContext
    ) -> pb.UnlinkAccountResponse:
        return await accounts.unlink_account(self.deps, request)

    async def FreezeMember(
        self, request: pb.FreezeMemberRequest, context: grpc.aio.ServicerContext
    ) -> pb.FreezeMemberResponse:
        return await status.freeze_member(self.deps, request)

    async def UnfreezeMember(
        self, request: pb.UnfreezeMemberRequest, context: grpc.aio.ServicerContext
    ) -> pb.UnfreezeMemberResponse:
        return await status.unfreeze_member(self.deps, request)

    async def CloseMember(
        self, request: pb.CloseMemberRequest, context: grpc.aio.ServicerContext
    ) -> pb.CloseMemberResponse:
        return await status.close_member(self.deps, request)

    async def AddMemberTags(
        self, request: pb.AddMemberTagsRequest, context: grpc.aio.ServicerContext
    ) -> pb.AddMemberTagsResponse:
        return await tags.add_member_tags(self.deps, request)

    async def RemoveMemberTags(
        self, request: pb.RemoveMemberTagsRequest, context: grpc.aio.ServicerContext
    ) -> pb.RemoveMemberTagsResponse:
        return await tags.remove_member_tags(self.deps, request)

    async def ListMembers(
        self, request: pb.ListMembersRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListMembersResponse:
        return await tags.list_members(self.deps, request)
