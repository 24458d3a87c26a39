"""GetMemberBenefits, ListBenefitQuotas, ClaimBenefit, ListBenefitClaims."""

from __future__ import annotations

from .base import Part


class BenefitsApi(Part):
    pass
