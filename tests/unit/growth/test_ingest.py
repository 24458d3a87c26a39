"""Ingestion: each event growth consumes becomes its fact, or is refused whole (Malformed)
naming the event's bad field; and the handlers record what ingestion gives, in order."""

from __future__ import annotations

import datetime as dt
import uuid
from types import SimpleNamespace

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from loyalty.commerce.v1 import events_pb2 as commerce
from loyalty.credit.v1 import events_pb2 as credit
from loyalty.identity.v1 import events_pb2 as identity
from loyalty.risk.v1 import events_pb2 as risk
from services.growth import ingest
from services.growth.domain.facts import (
    MAX_AMOUNT_MINOR,
    AccountLinked,
    AccountUnlinked,
    Activity,
    ActivityKind,
    CreditReported,
    OrderLine,
    OrderPaid,
    OrderRefunded,
    ProfileSnapshot,
    RefundLine,
    ReputationAssessed,
    Verified,
)
from services.growth.handlers import CONSUMERS, Handlers
from services.growth.ingest import MemberSeen
from services.kit import events
from services.kit.errors import Malformed
from services.kit.events import Envelope

NOW = dt.datetime(2026, 11, 30, 12, tzinfo=dt.UTC)
WHEN = dt.datetime(2026, 10, 5, 8, 30, tzinfo=dt.UTC)
SENT = dt.datetime(2026, 10, 5, 9, tzinfo=dt.UTC)  # the envelope's time
MEMBER = uuid.UUID("0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b")


def stamp(when: dt.datetime) -> Timestamp:
    s = Timestamp()
    s.FromDatetime(when)
    return s


def envelope(event_id: str = "evt-1", time: dt.datetime | None = SENT) -> Envelope:
    return Envelope(event_id, "t", "/test", None, time, {})


def run(event, env: Envelope | None = None) -> list:
    return ingest.ingest(event, env or envelope(), NOW)


def one(event, env: Envelope | None = None):
    (fact,) = run(event, env)
    return fact


def refused(event, env: Envelope | None = None) -> dict[str, str]:
    """The refused fields and why."""
    with pytest.raises(Malformed) as caught:
        run(event, env)
    return dict(caught.value.violations)


def paid(**changes) -> commerce.OrderPaid:
    event = commerce.OrderPaid(
        order_id="o-1",
        member_id=str(MEMBER),
        currency_code="CNY",
        lines=[
            commerce.OrderLine(line_id="l1", category="books", paid_amount_minor=3_000),
            commerce.OrderLine(line_id="l2", category="appliances", paid_amount_minor=7_000),
        ],
        paid_amount_minor=10_000,
        platform_payment_amount_minor=4_000,
        paid_time=stamp(WHEN),
    )
    for name, value in changes.items():
        if name == "lines":
            del event.lines[:]
            event.lines.extend(value)
        elif isinstance(value, Timestamp):
            getattr(event, name).CopyFrom(value)
        else:
            setattr(event, name, value)
    return event


def refunded(**changes) -> commerce.OrderRefunded:
    event = commerce.OrderRefunded(
        order_id="o-1",
        member_id=str(MEMBER),
        refund_id="r-1",
        currency_code="CNY",
        lines=[commerce.RefundLine(line_id="l1", amount_minor=1_000)],
        refunded_amount_minor=1_000,
        refund_time=stamp(WHEN),
    )
    for name, value in changes.items():
        if name == "lines":
            del event.lines[:]
            event.lines.extend(value)
        elif isinstance(value, Timestamp):
            getattr(event, name).CopyFrom(value)
        else:
            setattr(event, name, value)
    return event


def lines(n: int) -> list[commerce.OrderLine]:
    return [commerce.OrderLine(line_id=f"l{i}", category="books") for i in range(n)]


# --- each event, its fact ----------------------------------------------------------------------
def test_an_order_paid_is_its_lines_by_category_and_the_platform_part():
    assert one(paid()) == OrderPaid(
        str(MEMBER),
        "o-1",
        WHEN,
        "CNY",
        (OrderLine("l1", "books", 3_000), OrderLine("l2", "appliances", 7_000)),
        platform_paid_minor=4_000,
    )


def test_a_member_id_is_recorded_in_its_canonical_form():
    assert one(paid(member_id=str(MEMBER).upper())).member_id == str(MEMBER)


def test_a_lower_case_currency_is_taken_as_points_takes_it():
    assert one(paid(currency_code="cny")).currency == "CNY"


def test_a_line_without_a_category_still_counts_as_spend():
    line = commerce.OrderLine(line_id="l1", paid_amount_minor=500)
    fact = one(paid(lines=[line], platform_payment_amount_minor=0))
    assert fact.lines == (OrderLine("l1", "", 500),)


def test_an_order_refunded_is_its_lines_under_the_refund_id():
    assert one(refunded()) == OrderRefunded(
        str(MEMBER), "r-1", WHEN, "o-1", "CNY", (RefundLine("l1", 1_000),)
    )


def test_a_refund_without_its_own_id_is_named_by_its_event():
    assert one(refunded(refund_id=""), envelope("evt-9")).source_id == "evt-9"


@pytest.mark.parametrize(
    "photos, kind", [(False, ActivityKind.REVIEW), (True, ActivityKind.PHOTO_REVIEW)]
)
def test_a_review_is_an_activity_photo_or_not(photos, kind):
    event = commerce.ReviewPosted(
        review_id="rv-1",
        order_id="o-1",
        member_id=str(MEMBER),
        has_photos=photos,
        posted_time=stamp(WHEN),
    )
    assert one(event) == Activity(str(MEMBER), "rv-1", WHEN, kind)


def test_an_answer_and_a_share_are_activities_apart_from_a_review_of_the_same_number():
    answer = commerce.QuestionAnswered(
        answer_id="7", question_id="q", member_id=str(MEMBER), answered_time=stamp(WHEN)
    )
    share = commerce.ProductShared(
        share_id="7", member_id=str(MEMBER), channel="wechat", shared_time=stamp(WHEN)
    )
    review = commerce.ReviewPosted(review_id="7", member_id=str(MEMBER), posted_time=stamp(WHEN))
    facts = [one(answer), one(share), one(review)]
    assert facts[0] == Activity(str(MEMBER), "answer:7", WHEN, ActivityKind.ANSWER)
    assert facts[1] == Activity(str(MEMBER), "share:7", WHEN, ActivityKind.SHARE)
    assert len({f.key for f in facts}) == 3


def test_a_registration_makes_the_member_known_with_the_profile_filled_at_sign_up():
    event = identity.MemberRegistered(
        member_id=str(MEMBER), registered_time=stamp(WHEN), filled_fields=["nickname", "region"]
    )
    assert run(event, envelope("evt-r")) == [
        MemberSeen(MEMBER, WHEN),
        ProfileSnapshot(str(MEMBER), "evt-r", WHEN, frozenset({"nickname", "region"})),
    ]


def test_a_registration_with_nothing_filled_only_makes_the_member_known():
    event = identity.MemberRegistered(member_id=str(MEMBER), registered_time=stamp(WHEN))
    assert run(event) == [MemberSeen(MEMBER, WHEN)]


def test_a_profile_update_is_a_snapshot_of_the_fields_filled_even_none():
    event = identity.MemberProfileUpdated(
        member_id=str(MEMBER),
        changed_fields=["nickname"],
        filled_fields=["gender", "birthday"],
        updated_time=stamp(WHEN),
    )
    assert one(event, envelope("evt-p")) == ProfileSnapshot(
        str(MEMBER), "evt-p", WHEN, frozenset({"gender", "birthday"})
    )
    cleared = identity.MemberProfileUpdated(member_id=str(MEMBER), updated_time=stamp(WHEN))
    assert one(cleared).filled == frozenset()


def test_verification_and_links_are_named_by_their_event():
    verified = identity.MemberVerified(member_id=str(MEMBER), verified_time=stamp(WHEN))
    linked = identity.MemberAccountLinked(
        member_id=str(MEMBER), provider="wechat", linked_time=stamp(WHEN)
    )
    unlinked = identity.MemberAccountUnlinked(
        member_id=str(MEMBER), provider="qq", unlinked_time=stamp(WHEN)
    )
    assert one(verified, envelope("e1")) == Verified(str(MEMBER), "e1", WHEN)
    assert one(linked, envelope("e2")) == AccountLinked(str(MEMBER), "e2", WHEN, "wechat")
    assert one(unlinked, envelope("e3")) == AccountUnlinked(str(MEMBER), "e3", WHEN, "qq")


def test_an_assessment_and_a_report_are_named_by_their_own_ids():
    assessed = risk.ReputationAssessed(
        assessment_id="a-1",
        member_id=str(MEMBER),
        score=87,
        reason_codes=["return_abuse"],
        model_version="v3",
        assessed_time=stamp(WHEN),
    )
    reported = credit.ScoreReported(
        report_id="c-1",
        member_id=str(MEMBER),
        bureau="xiaobai",
        score=650,
        reported_time=stamp(WHEN),
    )
    assert one(assessed) == ReputationAssessed(str(MEMBER), "a-1", WHEN, 87)
    assert one(reported) == CreditReported(str(MEMBER), "c-1", WHEN, 650)


def test_without_a_business_time_the_envelope_dates_the_fact():
    event = identity.MemberVerified(member_id=str(MEMBER))
    assert one(event).occurred_at == SENT


def test_a_time_in_another_zone_is_kept_as_the_same_instant_in_utc():
    shanghai = dt.timezone(dt.timedelta(hours=8))
    event = identity.MemberVerified(member_id=str(MEMBER))
    fact = one(event, envelope(time=SENT.astimezone(shanghai)))
    assert fact.occurred_at == SENT and fact.occurred_at.tzinfo == dt.UTC


def test_every_event_growth_ingests_is_subscribed_to_once():
    subscribed = [m for messages in CONSUMERS.values() for m in messages]
    assert sorted(m.DESCRIPTOR.full_name for m in subscribed) == sorted(
        m.DESCRIPTOR.full_name for m in ingest.INGESTERS
    )


# --- bounds --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "event",
    [
        paid(member_id="m1"),
        refunded(member_id="not-a-uuid"),
        commerce.ReviewPosted(review_id="r", member_id="", posted_time=stamp(WHEN)),
        identity.MemberVerified(member_id="42", verified_time=stamp(WHEN)),
        risk.ReputationAssessed(assessment_id="a", member_id="x", score=1),
        credit.ScoreReported(report_id="c", member_id="x", bureau="b", score=1),
    ],
)
def test_a_member_id_that_is_no_uuid_is_refused(event):
    assert "member_id" in refused(event)


@pytest.mark.parametrize("amount", [-1, MAX_AMOUNT_MINOR + 1])
def test_a_line_amount_out_of_bounds_is_refused_by_the_events_field_name(amount):
    bad = [commerce.OrderLine(line_id="l1", category="books", paid_amount_minor=amount)]
    assert "lines[0].paid_amount_minor" in refused(paid(lines=bad))
    back = [commerce.RefundLine(line_id="l1", amount_minor=amount)]
    assert "lines[0].amount_minor" in refused(refunded(lines=back))


def test_the_largest_line_amount_is_taken():
    top = [commerce.OrderLine(line_id="l1", paid_amount_minor=MAX_AMOUNT_MINOR)]
    assert one(paid(lines=top, platform_payment_amount_minor=0)).paid_minor == MAX_AMOUNT_MINOR


@pytest.mark.parametrize("platform", [-1, 10_001])
def test_a_platform_part_beyond_what_was_paid_is_refused(platform):
    assert "platform_payment_amount_minor" in refused(paid(platform_payment_amount_minor=platform))


@pytest.mark.parametrize("code", ["", "CN", "CNYY", "C1Y", "人民币"])
def test_a_currency_that_is_not_three_letters_is_refused(code):
    assert "currency_code" in refused(paid(currency_code=code))
    assert "currency_code" in refused(refunded(currency_code=code))


def test_an_order_of_more_than_500_lines_is_refused_and_500_is_taken():
    assert len(one(paid(lines=lines(500), platform_payment_amount_minor=0)).lines) == 500
    assert refused(paid(lines=lines(501))) == {"lines": "at most 500 items"}
    back = [commerce.RefundLine(line_id=f"l{i}") for i in range(501)]
    assert refused(refunded(lines=back)) == {"lines": "at most 500 items"}


def test_a_line_id_twice_is_refused():
    twice = [commerce.OrderLine(line_id="l1"), commerce.OrderLine(line_id="l1")]
    assert "lines" in refused(paid(lines=twice, platform_payment_amount_minor=0))
    back = [commerce.RefundLine(line_id="l1"), commerce.RefundLine(line_id="l1")]
    assert "lines" in refused(refunded(lines=back))


def test_a_line_without_an_id_is_refused_once():
    problems = refused(paid(lines=[commerce.OrderLine(category="books")]))
    assert problems["lines[0].line_id"] == "required"


def test_a_category_code_over_64_characters_is_refused():
    line = commerce.OrderLine(line_id="l1", category="c" * 65)
    assert "lines[0].category" in refused(paid(lines=[line], platform_payment_amount_minor=0))
    line.category = "c" * 64
    assert one(paid(lines=[line], platform_payment_amount_minor=0)).lines[0].category == "c" * 64


@pytest.mark.parametrize(
    "event, field",
    [
        (paid(order_id="o\x00"), "order_id"),
        (paid(lines=[commerce.OrderLine(line_id="l\n1")]), "lines[0].line_id"),
        (paid(lines=[commerce.OrderLine(line_id="l1", category="bo\x7fks")]), "lines[0].category"),
        (refunded(refund_id="r\t1"), "refund_id"),
        (refunded(order_id="o\x1b"), "order_id"),
        (commerce.ReviewPosted(review_id="r\x00", member_id=str(MEMBER)), "review_id"),
        (commerce.QuestionAnswered(answer_id="a\r", member_id=str(MEMBER)), "answer_id"),
        (commerce.ProductShared(share_id="s", member_id=str(MEMBER), channel="we\x00"), "channel"),
        (identity.MemberAccountLinked(member_id=str(MEMBER), provider="wechat\x00"), "provider"),
        (identity.MemberAccountUnlinked(member_id=str(MEMBER), provider="\x85qq"), "provider"),
        (
            identity.MemberProfileUpdated(member_id=str(MEMBER), filled_fields=["nick\x00"]),
            "filled_fields[0]",
        ),
        (
            risk.ReputationAssessed(
                assessment_id="a", member_id=str(MEMBER), reason_codes=["ok", "b\x00d"]
            ),
            "reason_codes[1]",
        ),
        (credit.ScoreReported(report_id="c", member_id=str(MEMBER), bureau="x\x01"), "bureau"),
    ],
)
def test_control_characters_are_refused(event, field):
    assert refused(event)[field] == "must not contain control characters"


@pytest.mark.parametrize(
    "event, field",
    [
        (paid(order_id="o" * 129), "order_id"),
        (refunded(refund_id="r" * 129), "refund_id"),
        (identity.MemberAccountLinked(member_id=str(MEMBER), provider="p" * 65), "provider"),
        (
            identity.MemberRegistered(member_id=str(MEMBER), filled_fields=["f" * 65]),
            "filled_fields[0]",
        ),
        (
            risk.ReputationAssessed(
                assessment_id="a", member_id=str(MEMBER), model_version="v" * 65
            ),
            "model_version",
        ),
    ],
)
def test_text_over_its_length_is_refused(event, field):
    assert refused(event)[field].startswith("at most")


@pytest.mark.parametrize(
    "event, field",
    [
        (paid(order_id=""), "order_id"),
        (commerce.ReviewPosted(member_id=str(MEMBER)), "review_id"),
        (commerce.QuestionAnswered(member_id=str(MEMBER)), "answer_id"),
        (commerce.ProductShared(member_id=str(MEMBER)), "share_id"),
        (identity.MemberAccountLinked(member_id=str(MEMBER)), "provider"),
        (risk.ReputationAssessed(member_id=str(MEMBER)), "assessment_id"),
        (credit.ScoreReported(member_id=str(MEMBER), bureau="b"), "report_id"),
        (credit.ScoreReported(report_id="c", member_id=str(MEMBER)), "bureau"),
    ],
)
def test_a_missing_id_is_refused(event, field):
    assert refused(event)[field] == "required"


def test_too_many_filled_fields_or_reason_codes_are_refused():
    flood = identity.MemberProfileUpdated(
        member_id=str(MEMBER), filled_fields=[f"f{i}" for i in range(65)]
    )
    assert refused(flood) == {"filled_fields": "at most 64 items"}
    reasons = risk.ReputationAssessed(
        assessment_id="a", member_id=str(MEMBER), reason_codes=[f"r{i}" for i in range(17)]
    )
    assert refused(reasons) == {"reason_codes": "at most 16 items"}


@pytest.mark.parametrize(
    "when",
    [
        NOW + dt.timedelta(days=1, seconds=1),
        NOW + dt.timedelta(days=3650),
        dt.datetime(1999, 12, 31, 23, 59, 59, tzinfo=dt.UTC),
    ],
)
def test_a_business_time_outside_2000_to_a_day_from_now_is_refused(when):
    assert "paid_time" in refused(paid(paid_time=stamp(when)))
    assert "refund_time" in refused(refunded(refund_time=stamp(when)))
    verified = identity.MemberVerified(member_id=str(MEMBER), verified_time=stamp(when))
    assert "verified_time" in refused(verified)


@pytest.mark.parametrize(
    "when", [NOW + dt.timedelta(days=1), dt.datetime(2000, 1, 1, tzinfo=dt.UTC)]
)
def test_the_time_bounds_themselves_are_taken(when):
    assert one(paid(paid_time=stamp(when))).occurred_at == when


def test_an_envelope_time_out_of_bounds_is_refused_by_its_name():
    event = identity.MemberVerified(member_id=str(MEMBER))
    assert "time" in refused(event, envelope(time=NOW + dt.timedelta(days=30)))


def test_an_event_with_no_time_anywhere_is_refused():
    event = identity.MemberVerified(member_id=str(MEMBER))
    assert "verified_time" in refused(event, envelope(time=None))


def test_a_time_no_datetime_holds_is_refused():
    event = identity.MemberVerified(member_id=str(MEMBER), verified_time=Timestamp(seconds=10**13))
    assert "verified_time" in refused(event)


def test_a_reputation_over_100_or_below_0_is_refused():
    for score in (101, -1):
        event = risk.ReputationAssessed(
            assessment_id="a", member_id=str(MEMBER), score=score, assessed_time=stamp(WHEN)
        )
        assert refused(event) == {"score": "0 to 100"}


def test_a_negative_credit_score_is_refused():
    event = credit.ScoreReported(
        report_id="c", member_id=str(MEMBER), bureau="b", score=-1, reported_time=stamp(WHEN)
    )
    assert refused(event) == {"score": "not negative"}


def test_every_bad_field_is_named_at_once():
    event = paid(
        member_id="nope",
        currency_code="??",
        paid_time=stamp(NOW + dt.timedelta(days=9)),
        lines=[commerce.OrderLine(line_id="l1", paid_amount_minor=-5)],
    )
    assert set(refused(event)) == {
        "member_id",
        "currency_code",
        "paid_time",
        "lines[0].paid_amount_minor",
        "platform_payment_amount_minor",
    }


def test_a_message_growth_does_not_consume_is_refused():
    assert "type" in refused(commerce.OrderCancelled(order_id="o"))


# --- handlers ----------------------------------------------------------------------------------
class Facts:
    def __init__(self) -> None:
        self.calls: list[tuple] = []

    async def record(self, conn, fact) -> bool:
        self.calls.append(("record", conn, fact))
        return True

    async def member_seen(self, conn, member_id: uuid.UUID, at: dt.datetime) -> None:
        self.calls.append(("seen", conn, member_id, at))


def handlers() -> tuple[Handlers, Facts]:
    facts = Facts()
    usecases = SimpleNamespace(facts=facts, deps=SimpleNamespace(now=lambda: NOW))
    return Handlers(usecases), facts  # type: ignore[arg-type]


def test_each_source_has_its_queue_bound_to_its_events():
    by_queue = {s.queue: sorted(s.by_type()) for s in handlers()[0].subscriptions()}
    assert by_queue == {
        "growth.commerce": [
            "commerce.order.paid.v1",
            "commerce.order.refunded.v1",
            "commerce.product.shared.v1",
            "commerce.question.answered.v1",
            "commerce.review.posted.v1",
        ],
        "growth.identity": [
            "loyalty.identity.member.account_linked.v1",
            "loyalty.identity.member.account_unlinked.v1",
            "loyalty.identity.member.closed.v1",
            "loyalty.identity.member.profile_updated.v1",
            "loyalty.identity.member.registered.v1",
            "loyalty.identity.member.verified.v1",
        ],
        "growth.risk": ["loyalty.risk.reputation.assessed.v1"],
        "growth.credit": ["loyalty.credit.score.reported.v1"],
    }


async def test_a_registration_makes_the_member_known_before_recording_the_profile():
    h, facts = handlers()
    event = identity.MemberRegistered(
        member_id=str(MEMBER), registered_time=stamp(WHEN), filled_fields=["nickname"]
    )
    env = Envelope(
        "evt-r", events.type_of(event), "/loyalty/identity", None, SENT, events.payload_json(event)
    )
    (subscription,) = [s for s in h.subscriptions() if s.queue == "growth.identity"]
    await subscription.by_type()[env.type](
        "conn", env
    )  # parsed from the payload, as the inbox does
    assert facts.calls == [
        ("seen", "conn", MEMBER, WHEN),
        ("record", "conn", ProfileSnapshot(str(MEMBER), "evt-r", WHEN, frozenset({"nickname"}))),
    ]


async def test_an_order_is_recorded_in_the_inbox_transaction():
    h, facts = handlers()
    await h.apply("conn", paid(), envelope())
    assert facts.calls == [("record", "conn", one(paid()))]


async def test_a_malformed_event_records_nothing():
    h, facts = handlers()
    with pytest.raises(Malformed):
        await h.apply("conn", paid(currency_code="X"), envelope())
    assert facts.calls == []
