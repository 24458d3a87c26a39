"""The stock side as the back office runs it: a batch request and its approval, generation,
the one-time export of the secrets page by page and its recovery, and loads (开户/充值) with
their review (复核).

A batch moves pending_approval → approved | rejected; approved → generated (cards ISSUED) →
exporting (some secrets delivered) → exported (every secret delivered once). A recovery of an
interrupted export voids the cards of the pages not kept and generates as many new ones, whose
secrets are still to deliver: the batch is exporting again. (These are the contract's states,
GiftcardService's BatchState; `states.BatchState` models an export confirmed at once.)

A load is pending_review until a reviewer who is not the loader approves it (its cards READY)
or rejects it (their value reversed, ISSUED again).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from enum import StrEnum

from . import approvals as rules
from .approvals import Approval, ApprovalPolicy, Role
from .products import load_refusal
from .refusals import Refusal
from .states import CardState

# A denomination or a custom batch amount: 1 fen to 1,000,000.00 CNY a card.
MAX_FACE_VALUE_MINOR = 10**8
MAX_CARDS_PER_BATCH = 100_000
MAX_EXPORT_PAGE = 10_000
MAX_LOAD_ENTRIES = 1_000
# Approval policies as the contract bounds them.
MAX_BANDS = 10
MAX_BAND_ROLES = 5
APPROVING_ROLES = (Role.APPROVER, Role.MANAGER)


class BatchState(StrEnum):
    """The values are the batches.state column's."""

    PENDING_APPROVAL = "pending_approval"
    REJECTED = "rejected"
    APPROVED = "approved"
    GENERATED = "generated"
    EXPORTING = "exporting"
    EXPORTED = "exported"


class LoadState(StrEnum):
    """The values are the loads.state column's."""

    PENDING_REVIEW = "pending_review"
    APPROVED = "approved"
    REJECTED = "rejected"


_B = BatchState


def _batch_refused(reason: str, state: BatchState, doing: str) -> Refusal:
    return Refusal(
        reason, f"cannot {doing} a batch that is {state.value}", metadata={"state": state.value}
    )


def decision_refusal(state: BatchState) -> Refusal | None:
    """Approving or rejecting: only while approvals are pending."""
    if state is _B.PENDING_APPROVAL:
        return None
    return _batch_refused("BATCH_NOT_PENDING_APPROVAL", state, "decide on")


def generation_refusal(state: BatchState) -> Refusal | None:
    if state is _B.APPROVED:
        return None
    if state in (_B.PENDING_APPROVAL, _B.REJECTED):
        return _batch_refused("BATCH_NOT_APPROVED", state, "generate the cards of")
    return _batch_refused("BATCH_ALREADY_GENERATED", state, "generate the cards of")


def export_refusal(state: BatchState) -> Refusal | None:
    if state in (_B.GENERATED, _B.EXPORTING):
        return None
    if state is _B.EXPORTED:
        return _batch_refused("SECRETS_ALREADY_EXPORTED", state, "export the secrets of")
    return _batch_refused("BATCH_NOT_GENERATED", state, "export the secrets of")


def recovery_refusal(state: BatchState, pages_delivered: int) -> Refusal | None:
    """An export is recovered only once something of it was delivered."""
    if pages_delivered > 0 and state in (_B.EXPORTING, _B.EXPORTED):
        return None
    return _batch_refused("NOTHING_EXPORTED", state, "recover the export of")


def loading_refusal(state: BatchState) -> Refusal | None:
    """Cards are loaded once their secrets are out (printed)."""
    if state in (_B.EXPORTING, _B.EXPORTED):
        return None
    return _batch_refused("BATCH_NOT_EXPORTED", state, "load the cards of")


def after_export(remaining: int) -> BatchState:
    return _B.EXPORTED if remaining == 0 else _B.EXPORTING


def loaded_recovery_refusal(loaded: int) -> Refusal | None:
    """Voiding cards that carry value (or did) would make that value vanish."""
    if loaded == 0:
        return None
    return Refusal(
        "CARDS_ALREADY_LOADED",
        f"{loaded} of the cards to void were loaded; reject or cancel them instead",
        metadata={"count": str(loaded)},
    )


def reject_refusal(
    policy: ApprovalPolicy,
    amount_minor: int,
    requester: str,
    approvals: Sequence[Approval],
    rejecter: str,
    held: Collection[Role],
) -> Refusal | None:
    """Who may reject a request: whoever could approve it now (not the requester, not
    someone who approved it already, holding a role still missing)."""
    so_far = rules.status(policy, amount_minor, requester, approvals)
    if isinstance(so_far, Refusal):
        return so_far
    pending = sorted(so_far.missing) or sorted(so_far.required)
    role = next((r for r in pending if r in held), pending[0])
    result = rules.approve(
        policy, amount_minor, requester, approvals, Approval(rejecter, role), held
    )
    return result if isinstance(result, Refusal) else None


# --- loads --------------------------------------------------------------------------------
def entry_refusal(
    card_batch_id: object,
    card_state: CardState,
    secret_delivered: bool,
    batch_id: object,
    amount_minor: int,
    face_minor: int,
) -> Refusal | None:
    """One card of a load: of the batch (domain.products.load_refusal), never loaded, its
    secret delivered (a card nobody can print yet is not loaded), the batch's face value."""
    refusal = load_refusal(card_batch_id, batch_id, card_state, amount_minor, face_minor)
    if refusal is not None and refusal.reason != "LOAD_AMOUNT_MISMATCH":
        return refusal
    if not secret_delivered:
        return Refusal(
            "CARD_NOT_LOADABLE",
            "the card's secret was not delivered yet",
            metadata={"state": card_state.value},
        )
    return refusal


def listed_twice() -> Refusal:
    return Refusal("CARD_ALREADY_LOADED", "the card is listed twice")


def not_in_batch() -> Refusal:
    return Refusal("CARD_NOT_IN_BATCH", "the card is not one of this batch's")


def review_state_refusal(state: LoadState) -> Refusal | None:
    if state is LoadState.PENDING_REVIEW:
        return None
    return Refusal(
        "LOAD_NOT_PENDING_REVIEW",
        f"the load is {state.value}",
        metadata={"state": state.value},
    )


def count_refusal(
    card_count: int, total_minor: int, stated_count: int, stated_total_minor: int
) -> Refusal | None:
    """The reviewer counts the cards and adds up the amounts itself; both must agree."""
    if stated_count != card_count:
        return Refusal(
            "LOAD_TOTAL_MISMATCH",
            "the card count stated is not the load's",
            metadata={"field": "card_count"},
        )
    if stated_total_minor != total_minor:
        return Refusal(
            "LOAD_TOTAL_MISMATCH",
            "the total stated is not the load's",
            metadata={"field": "total_minor"},
        )
    return None
