"""Approval policies by amount and the four-eyes rules: none of them can be got round."""

from __future__ import annotations

import pytest

from services.giftcard.domain import approvals
from services.giftcard.domain.approvals import (
    REQUISITION_POLICY,
    Approval,
    ApprovalPolicy,
    ApprovalStatus,
    Band,
    Role,
)
from services.giftcard.domain.refusals import Refusal

A, M = Role.APPROVER, Role.MANAGER
LIMIT = 5_000_000  # 50,000.00 CNY in fen
SMALL, LARGE = LIMIT, LIMIT + 1
BOTH = {A, M}


def _approve(amount, so_far, who, role, held=BOTH, requester="req"):
    return approvals.approve(
        REQUISITION_POLICY, amount, requester, so_far, Approval(who, role), held
    )


def test_the_default_needs_one_approver_up_to_the_threshold_and_a_manager_too_above():
    assert approvals.band_for(REQUISITION_POLICY, 0).roles == {A}
    assert approvals.band_for(REQUISITION_POLICY, SMALL).roles == {A}
    assert approvals.band_for(REQUISITION_POLICY, LARGE).roles == {A, M}
    assert approvals.policy_problems(REQUISITION_POLICY) == []
    assert approvals.policy_problems(approvals.AFTER_SALE_POLICY) == []


def test_one_approver_completes_a_small_request():
    result = _approve(SMALL, [], "ann", A)
    assert result == ApprovalStatus(frozenset({A}), frozenset())
    assert result.complete


def test_a_large_request_waits_for_the_second_approver():
    first = _approve(LARGE, [], "ann", A)
    assert isinstance(first, ApprovalStatus) and not first.complete
    assert first.missing == {M}
    second = _approve(LARGE, [Approval("ann", A)], "max", M)
    assert second.complete


def test_the_order_of_the_two_approvals_does_not_matter():
    first = _approve(LARGE, [], "max", M)
    assert first.missing == {A}
    assert _approve(LARGE, [Approval("max", M)], "ann", A).complete


def _refused(result, reason):
    assert isinstance(result, Refusal), result
    assert result.reason == reason
    return result


def test_nobody_approves_their_own_request_whatever_their_roles():
    _refused(_approve(SMALL, [], "req", A), "SELF_APPROVAL")
    _refused(_approve(LARGE, [Approval("ann", A)], "req", M), "SELF_APPROVAL")


def test_nobody_approves_twice_even_under_another_role():
    _refused(_approve(LARGE, [Approval("ann", A)], "ann", A), "ALREADY_APPROVED")
    refusal = _refused(_approve(LARGE, [Approval("ann", A)], "ann", M), "ALREADY_APPROVED")
    assert refusal.metadata == {"approver": "ann"}


def test_approving_under_a_role_not_held_is_refused():
    refusal = _refused(_approve(LARGE, [Approval("ann", A)], "bob", M, held={A}), "ROLE_NOT_HELD")
    assert refusal.metadata == {"role": "manager"}
    _refused(_approve(SMALL, [], "bob", A, held={Role.SALES}), "ROLE_NOT_HELD")


def test_a_role_the_band_does_not_name_counts_for_nothing():
    # A manager alone cannot wave through a small request that needs an approver …
    _refused(_approve(SMALL, [], "max", M), "ROLE_NOT_REQUIRED")
    # … nor a finance clerk a large one.
    _refused(_approve(LARGE, [], "fin", Role.FINANCE, held={Role.FINANCE}), "ROLE_NOT_REQUIRED")


def test_two_people_cannot_fill_one_role_to_skip_the_other():
    _refused(_approve(LARGE, [Approval("ann", A)], "amy", A), "ROLE_ALREADY_APPROVED")


def test_a_missing_second_approver_leaves_it_incomplete():
    result = approvals.status(REQUISITION_POLICY, LARGE, "req", [Approval("ann", A)])
    assert isinstance(result, ApprovalStatus)
    assert not result.complete and result.missing == {M}


@pytest.mark.parametrize(
    ("recorded", "reason"),
    [
        ([Approval("req", A)], "SELF_APPROVAL"),
        ([Approval("ann", A), Approval("ann", M)], "ALREADY_APPROVED"),
        ([Approval("ann", A), Approval("amy", A)], "ROLE_ALREADY_APPROVED"),
        ([Approval("ann", Role.SALES)], "ROLE_NOT_REQUIRED"),
    ],
)
def test_recorded_approvals_that_break_a_rule_are_never_counted(recorded, reason):
    _refused(approvals.status(REQUISITION_POLICY, LARGE, "req", recorded), reason)
    # And nothing can be added on top of them.
    _refused(_approve(LARGE, recorded, "zed", M), reason)


def test_a_smaller_amount_after_a_policy_change_still_needs_a_role_it_names():
    # Approvals are checked against the band of the amount being approved.
    recorded = [Approval("ann", A), Approval("max", M)]
    _refused(approvals.status(REQUISITION_POLICY, SMALL, "req", recorded), "ROLE_NOT_REQUIRED")


def test_a_negative_amount_has_no_band():
    with pytest.raises(ValueError):
        approvals.band_for(REQUISITION_POLICY, -1)


@pytest.mark.parametrize(
    ("bands", "problem"),
    [
        ((), "at least one band"),
        ((Band(None, frozenset()),), "at least one role"),
        ((Band(None, frozenset({Role.REQUESTER})),), "a requester approves nothing"),
        ((Band(-1, frozenset({A})), Band(None, frozenset({A}))), "must not be negative"),
        ((Band(None, frozenset({A})), Band(None, frozenset({M}))), "only the last band"),
        ((Band(100, frozenset({A})),), "the last band must be unbounded"),
        (
            (Band(200, frozenset({A})), Band(100, frozenset({M})), Band(None, frozenset({M}))),
            "increasing order",
        ),
        (
            (Band(100, frozenset({A})), Band(100, frozenset({M})), Band(None, frozenset({M}))),
            "without overlap",
        ),
    ],
)
def test_bad_policies_are_refused(bands, problem):
    problems = approvals.policy_problems(ApprovalPolicy(bands))
    assert any(problem in p for p in problems), problems


def test_a_three_band_policy_picks_by_amount_inclusive_upper_bounds():
    policy = ApprovalPolicy(
        (
            Band(0, frozenset({A})),
            Band(1_000, frozenset({M})),
            Band(None, frozenset({A, M, Role.FINANCE})),
        )
    )
    assert approvals.policy_problems(policy) == []
    assert approvals.band_for(policy, 0).roles == {A}
    assert approvals.band_for(policy, 1).roles == {M}
    assert approvals.band_for(policy, 1_000).roles == {M}
    assert approvals.band_for(policy, 1_001).roles == {A, M, Role.FINANCE}


def test_maker_checker_the_reviewer_differs_from_the_loader():
    refusal = approvals.review_refusal("lee", "lee", {Role.REVIEWER, Role.LOADER})
    assert refusal.reason == "MAKER_IS_CHECKER"
    assert approvals.review_refusal("lee", "rey", {Role.REVIEWER}) is None


def test_maker_checker_the_reviewer_holds_the_reviewer_role():
    refusal = approvals.review_refusal("lee", "rey", {Role.LOADER, Role.MANAGER})
    assert refusal.reason == "ROLE_NOT_HELD" and refusal.metadata == {"role": "reviewer"}


def test_finance_rechecks_a_sale_made_by_someone_else():
    assert approvals.sale_check_refusal("sal", "sal", {Role.FINANCE}).reason == "MAKER_IS_CHECKER"
    assert approvals.sale_check_refusal("sal", "fin", {Role.SALES}).reason == "ROLE_NOT_HELD"
    assert approvals.sale_check_refusal("sal", "fin", {Role.FINANCE}) is None


def test_an_operation_needing_a_role():
    assert approvals.role_refusal({Role.LOADER}, Role.LOADER) is None
    assert approvals.role_refusal({Role.REVIEWER}, Role.LOADER).reason == "ROLE_NOT_HELD"
