"""The events growth consumes, each checked and turned into the fact it records (domain.facts).

An event breaking a bound is refused whole with `errors.Malformed` naming every bad field (by
the event's own field names): the inbox dead-letters it at once and nothing is recorded. The
bounds: member ids are UUIDs; ids at most 128 characters, codes (categories, providers, profile
field names) at most 64, none with control characters; amounts 0 to `MAX_AMOUNT_MINOR`; the
currency three capital letters; at most `MAX_LINES` lines, each line id once; the domain's own
`fact_problems` (reputation 0 to 100, credit not negative, platform part at most the amount
paid). Fields growth does not use are left to the consumers that do, except where the risk and
credit contracts state bounds of their own.

**Dates.** A fact is dated by the event's business time (`paid_time`, `refund_time`, …), or the
envelope's time when the message carries none; an instant before `EARLIEST` or more than
`FUTURE_SLACK` ahead of now is a publisher's bug, and would otherwise sit in (or haunt) every
window.

**Source ids** (what makes a fact one fact, whatever event id it comes with): the order id,
the refund id, the review id; `answer:<answer id>` and `share:<share id>`, prefixed because
reviews, answers and shares share one key space (`activity:`) and a storefront may number
each from 1; the assessment and report ids, on which their contracts say to deduplicate; the
event id for identity's events, which name nothing else.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Callable, Mapping, Sequence, Sized
from dataclasses import dataclass
from typing import Any

from google.protobuf.message import Message

from loyalty.commerce.v1 import events_pb2 as commerce
from loyalty.credit.v1 import events_pb2 as credit
from loyalty.identity.v1 import events_pb2 as identity
from loyalty.risk.v1 import events_pb2 as risk
from services.kit import timestamps
from services.kit.errors import Malformed, Violations
from services.kit.events import Envelope

from .domain.facts import (
    AccountLinked,
    AccountUnlinked,
    Activity,
    ActivityKind,
    CreditReported,
    Fact,
    OrderLine,
    OrderPaid,
    OrderRefunded,
    ProfileSnapshot,
    RefundLine,
    ReputationAssessed,
    Verified,
    fact_problems,
    review,
)

EARLIEST = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
FUTURE_SLACK = dt.timedelta(days=1)  # publishers' clocks drift; a day covers it, a year is a bug
MAX_LINES = 500  # of an order or a refund
MAX_ID = 128
MAX_CODE = 64
MAX_FILLED_FIELDS = 64  # identity's profile has 4; room to grow, not to flood
MAX_REASON_CODES = 16  # the risk contract's
_CURRENCY = re.compile(r"[A-Z]{3}")


@dataclass(frozen=True)
class MemberSeen:
    """No fact: identity registered the member, so growth knows of them from `at`."""

    member_id: uuid.UUID
    at: dt.datetime


@dataclass(frozen=True)
class MemberClosed:
    """No fact: identity closed the member; no longer settled (the facts are kept)."""

    member_id: uuid.UUID
    at: dt.datetime


Ingested = Fact | MemberSeen | MemberClosed


class _Reader:
    """One event's checks: collects every violation, then `done` raises them all at once."""

    def __init__(self, envelope: Envelope, now: dt.datetime) -> None:
        self.v = Violations()
        self.envelope = envelope
        self.now = now
        self.time_field = "time"

    def member(self, value: str) -> uuid.UUID:
        return self.v.uuid("member_id", value, "a member id")

    def text(self, field: str, value: str, maximum: int = MAX_ID, required: bool = True) -> str:
        self.v.text(field, value, maximum=maximum, required=required)
        return value

    def event_id(self) -> str:
        return self.text("id", self.envelope.id)

    def currency(self, value: str) -> str:
        # Upper-cased as points does: the same event must not be good for one consumer only.
        code = value.upper()
        self.v.check(bool(_CURRENCY.fullmatch(code)), "currency_code", "three capital letters")
        return code

    def count(self, field: str, items: Sized, maximum: int) -> None:
        """From the length alone, before anything walks the items: raises at once."""
        if len(items) > maximum:
            self.v.add(field, f"at most {maximum} items")
            self.v.raise_malformed()

    def codes(self, field: str, values: Sequence[str], maximum: int) -> frozenset[str]:
        self.count(field, values, maximum)
        for i, value in enumerate(values):
            self.text(f"{field}[{i}]", value, MAX_CODE)
        return frozenset(values)

    def time(self, message: Message, name: str) -> dt.datetime:
        """The event's business time `name`, else the envelope's. A missing or unusable
        instant is a violation; `EARLIEST` stands in for it (never recorded: `done` raises)."""
        at = timestamps.field(self.v, message, name)
        if at is None and self.v.names(name):
            return EARLIEST
        if at is None:
            at = self.envelope.time
            if at is None:
                self.v.add(name, "required (the envelope has no time either)")
                return EARLIEST
        else:
            self.time_field = name
        if at.tzinfo is None or at.utcoffset() is None:
            self.v.add(self.time_field, "must be a timezone-aware instant")
            return EARLIEST
        at = at.astimezone(dt.UTC)
        if not EARLIEST <= at <= self.now + FUTURE_SLACK:
            self.v.add(self.time_field, f"between {EARLIEST:%Y-%m-%d} and a day from now")
        return at

    def done(self, fact: Fact, names: Mapping[str, str] | None = None) -> Fact:
        """`fact`, once the domain's checks pass too; their fields renamed to the event's."""
        renames = {"occurred_at": self.time_field, **(names or {})}
        for problem in fact_problems(fact):
            field = _renamed(problem.field, renames)
            if not self.v.names(field):  # already named by the reader's own check
                self.v.add(field, problem.description)
        self.v.raise_malformed()
        return fact


def _renamed(path: str, names: Mapping[str, str]) -> str:
    """`lines[2].paid_minor` → `lines[2].paid_amount_minor` given {"paid_minor": …}."""
    head, dot, last = path.rpartition(".")
    return f"{head}.{names.get(last, last)}" if dot else names.get(path, path)


# --- commerce --------------------------------------------------------------------------------
def order_paid(event: commerce.OrderPaid, envelope: Envelope, now: dt.datetime) -> list[Ingested]:
    r = _Reader(envelope, now)
    member = r.member(event.member_id)
    order_id = r.text("order_id", event.order_id)
    currency = r.currency(event.currency_code)
    at = r.time(event, "paid_time")
    r.count("lines", event.lines, MAX_LINES)
    lines = []
    for i, line in enumerate(event.lines):
        r.text(f"lines[{i}].line_id", line.line_id)
        # Any code the storefront uses: one the rule set does not list simply adds no breadth.
        r.text(f"lines[{i}].category", line.category, MAX_CODE, required=False)
        lines.append(OrderLine(line.line_id, line.category, line.paid_amount_minor))
    fact = OrderPaid(
        str(member), order_id, at, currency, tuple(lines), event.platform_payment_amount_minor
    )
    names = {
        "source_id": "order_id",
        "paid_minor": "paid_amount_minor",
        "platform_paid_minor": "platform_payment_amount_minor",
    }
    return [r.done(fact, names)]


def order_refunded(
    event: commerce.OrderRefunded, envelope: Envelope, now: dt.datetime
) -> list[Ingested]:
    r = _Reader(envelope, now)
    member = r.member(event.member_id)
    order_id = r.text("order_id", event.order_id)
    # As points does: without a refund id the event (one per refund) names the refund.
    refund_field, refund_id = (
        ("refund_id", event.refund_id) if event.refund_id else ("id", r.envelope.id)
    )
    r.text(refund_field, refund_id)
    # An empty currency ("the order's") cannot be netted before the order is known: refused.
    currency = r.currency(event.currency_code)
    at = r.time(event, "refund_time")
    r.count("lines", event.lines, MAX_LINES)
    lines = []
    for i, line in enumerate(event.lines):
        r.text(f"lines[{i}].line_id", line.line_id)
        lines.append(RefundLine(line.line_id, line.amount_minor))
    fact = OrderRefunded(str(member), refund_id, at, order_id, currency, tuple(lines))
    return [r.done(fact, {"source_id": refund_field})]


def review_posted(
    event: commerce.ReviewPosted, envelope: Envelope, now: dt.datetime
) -> list[Ingested]:
    r = _Reader(envelope, now)
    member = r.member(event.member_id)
    review_id = r.text("review_id", event.review_id)
    r.text("order_id", event.order_id, required=False)
    at = r.time(event, "posted_time")
    fact = review(str(member), review_id, at, event.has_photos)
    return [r.done(fact, {"source_id": "review_id"})]


def question_answered(
    event: commerce.QuestionAnswered, envelope: Envelope, now: dt.datetime
) -> list[Ingested]:
    r = _Reader(envelope, now)
    member = r.member(event.member_id)
    answer_id = r.text("answer_id", event.answer_id)
    r.text("question_id", event.question_id, required=False)
    r.text("sku", event.sku, required=False)
    at = r.time(event, "answered_time")
    fact = Activity(str(member), f"answer:{answer_id}", at, ActivityKind.ANSWER)
    return [r.done(fact, {"source_id": "answer_id"})]


def product_shared(
    event: commerce.ProductShared, envelope: Envelope, now: dt.datetime
) -> list[Ingested]:
    r = _Reader(envelope, now)
    member = r.member(event.member_id)
    share_id = r.text("share_id", event.share_id)
    r.text("sku", event.sku, required=False)
    r.text("channel", event.channel, MAX_CODE, required=False)
    at = r.time(event, "shared_time")
    fact = Activity(str(member), f"share:{share_id}", at, ActivityKind.SHARE)
    return [r.done(fact, {"source_id": "share_id"})]


# --- identity --------------------------------------------------------------------------------
def member_registered(
    event: identity.MemberRegistered, envelope: Envelope, now: dt.datetime
) -> list[Ingested]:
    """The member becomes known; with the fields filled at sign-up, their first profile."""
    r = _Reader(envelope, now)
    member = r.member(event.member_id)
    event_id = r.event_id()
    at = r.time(event, "registered_time")
    filled = r.codes("filled_fields", event.filled_fields, MAX_FILLED_FIELDS)
    seen = MemberSeen(member, at)
    if not filled:  # nothing filled is what no profile means already
        r.v.raise_malformed()
        return [seen]
    return [seen, r.done(ProfileSnapshot(str(member), event_id, at, filled), {"source_id": "id"})]


def member_closed(
    event: identity.MemberClosed, envelope: Envelope, now: dt.datetime
) -> list[Ingested]:
    r = _Reader(envelope, now)
    member = r.member(event.member_id)
    at = r.time(event, "closed_time")
    r.v.raise_malformed()
    return [MemberClosed(member, at)]


def member_profile_updated(
    event: identity.MemberProfileUpdated, envelope: Envelope, now: dt.datetime
) -> list[Ingested]:
    r = _Reader(envelope, now)
    member = r.member(event.member_id)
    event_id = r.event_id()
    at = r.time(event, "updated_time")
    # Empty is a real snapshot here: every field cleared.
    filled = r.codes("filled_fields", event.filled_fields, MAX_FILLED_FIELDS)
    return [r.done(ProfileSnapshot(str(member), event_id, at, filled), {"source_id": "id"})]


def member_verified(
    event: identity.MemberVerified, envelope: Envelope, now: dt.datetime
) -> list[Ingested]:
    r = _Reader(envelope, now)
    member = r.member(event.member_id)
    event_id = r.event_id()
    at = r.time(event, "verified_time")
    return [r.done(Verified(str(member), event_id, at), {"source_id": "id"})]


def member_account_linked(
    event: identity.MemberAccountLinked, envelope: Envelope, now: dt.datetime
) -> list[Ingested]:
    r = _Reader(envelope, now)
    member = r.member(event.member_id)
    event_id = r.event_id()
    provider = r.text("provider", event.provider, MAX_CODE)
    at = r.time(event, "linked_time")
    return [r.done(AccountLinked(str(member), event_id, at, provider), {"source_id": "id"})]


def member_account_unlinked(
    event: identity.MemberAccountUnlinked, envelope: Envelope, now: dt.datetime
) -> list[Ingested]:
    r = _Reader(envelope, now)
    member = r.member(event.member_id)
    event_id = r.event_id()
    provider = r.text("provider", event.provider, MAX_CODE)
    at = r.time(event, "unlinked_time")
    return [r.done(AccountUnlinked(str(member), event_id, at, provider), {"source_id": "id"})]


# --- outside systems -------------------------------------------------------------------------
def reputation_assessed(
    event: risk.ReputationAssessed, envelope: Envelope, now: dt.datetime
) -> list[Ingested]:
    r = _Reader(envelope, now)
    member = r.member(event.member_id)
    assessment_id = r.text("assessment_id", event.assessment_id)
    r.codes("reason_codes", event.reason_codes, MAX_REASON_CODES)
    r.text("model_version", event.model_version, MAX_CODE, required=False)
    at = r.time(event, "assessed_time")
    fact = ReputationAssessed(str(member), assessment_id, at, event.score)
    return [r.done(fact, {"source_id": "assessment_id"})]


def score_reported(
    event: credit.ScoreReported, envelope: Envelope, now: dt.datetime
) -> list[Ingested]:
    r = _Reader(envelope, now)
    member = r.member(event.member_id)
    report_id = r.text("report_id", event.report_id)
    r.text("bureau", event.bureau, MAX_CODE)
    at = r.time(event, "reported_time")
    fact = CreditReported(str(member), report_id, at, event.score)
    return [r.done(fact, {"source_id": "report_id"})]


# Every event growth consumes, by its message: what the handlers subscribe to.
INGESTERS: dict[type[Message], Callable[..., list[Ingested]]] = {
    commerce.OrderPaid: order_paid,
    commerce.OrderRefunded: order_refunded,
    commerce.ReviewPosted: review_posted,
    commerce.QuestionAnswered: question_answered,
    commerce.ProductShared: product_shared,
    identity.MemberRegistered: member_registered,
    identity.MemberProfileUpdated: member_profile_updated,
    identity.MemberClosed: member_closed,
    identity.MemberVerified: member_verified,
    identity.MemberAccountLinked: member_account_linked,
    identity.MemberAccountUnlinked: member_account_unlinked,
    risk.ReputationAssessed: reputation_assessed,
    credit.ScoreReported: score_reported,
}


def ingest(event: Any, envelope: Envelope, now: dt.datetime) -> list[Ingested]:
    """What `event` records, in the order to apply it; `Malformed` when it breaks a bound."""
    ingester = INGESTERS.get(type(event))
    if ingester is None:
        raise Malformed([("type", f"growth consumes no {type(event).__name__}")])
    return ingester(event, envelope, now)
