"""Batches through the back office: the request and its approval (maker-checker, the second
approver above the threshold), generation (random Luhn numbers, sealed PINs, 100,000 cards in
one call), the one-time export of the secrets and its audited recovery; every bad input one
precise error that changes nothing. `Stock` (below) is what test_loads.py builds on too."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import grpc
import pytest

from loyalty.giftcard.v1 import giftcard_service_pb2 as pb
from loyalty.giftcard.v1 import resources_pb2 as res
from services.giftcard.domain import cards as numbers
from services.giftcard.domain import pins
from tests.support import bus, snapshots
from tests.support.grpc_errors import fails
from tests.support.ids import uid

INVALID = grpc.StatusCode.INVALID_ARGUMENT
NOT_FOUND = grpc.StatusCode.NOT_FOUND
DENIED = grpc.StatusCode.PERMISSION_DENIED
PRECONDITION = grpc.StatusCode.FAILED_PRECONDITION
APPROVED_EVENT = "loyalty.giftcard.batch.approved.v1"
TABLES = (
    "products",
    "approval_policies",
    "approvals",
    "batches",
    "export_pages",
    "export_recoveries",
    "cards",
    "loads",
    "load_entries",
    "journal_transactions",
    "journal_postings",
    "idempotency",
    "audit_log",
)


async def snapshot(pool) -> dict:
    # The relay marks outbox rows published at any moment: compare which rows exist.
    return await snapshots.snapshot(pool, *TABLES, outbox="SELECT id FROM outbox")


@dataclass
class Stock:
    """The back office's people and the steps of a batch, each through the RPCs."""

    giftcard: object
    staff: object

    def __post_init__(self) -> None:
        self.manager = self.staff("mgr.wang", "manager")
        self.requester = self.staff("req.li", "requester")
        self.approver = self.staff("ap.chen", "approver")
        self.operator = self.staff("op.sun", "operator")
        self.loader = self.staff("ld.zhao", "loader")
        self.reviewer = self.staff("rv.qian", "reviewer")

    async def product(self, face_value_minor: int = 100_00, **overrides) -> str:
        values = {
            "display_name": f"Card {face_value_minor // 100} CNY",
            "kind": res.PRODUCT_KIND_DENOMINATION,
            "currency_code": "CNY",
            "face_value_minor": face_value_minor,
            "enabled": True,
        }
        values.update(overrides)
        response = await self.giftcard.CreateProduct(
            pb.CreateProductRequest(request_id=uid(), product=res.Product(**values)),
            metadata=self.manager,
        )
        return response.product.product_id

    async def request(self, card_count: int = 10, product_id: str = "", **fields) -> res.Batch:
        product_id = product_id or await self.product()
        response = await self.giftcard.CreateBatch(
            pb.CreateBatchRequest(
                request_id=uid(), product_id=product_id, card_count=card_count, **fields
            ),
            metadata=self.requester,
        )
        return response.batch

    async def approve(self, batch_id: str, who, role: str = "") -> res.Batch:
        response = await self.giftcard.ApproveBatch(
            pb.ApproveBatchRequest(request_id=uid(), batch_id=batch_id, role=role), metadata=who
        )
        return response.batch

    async def approved(self, card_count: int = 10, **fields) -> res.Batch:
        batch = await self.request(card_count, **fields)
        batch = await self.approve(batch.batch_id, self.approver)
        if batch.state != res.BATCH_STATE_APPROVED:  # above the threshold: a manager too
            batch = await self.approve(batch.batch_id, self.manager)
        assert batch.state == res.BATCH_STATE_APPROVED
        return batch

    async def generate(self, batch_id: str) -> res.Batch:
        response = await self.giftcard.GenerateBatchCards(
            pb.GenerateBatchCardsRequest(request_id=uid(), batch_id=batch_id),
            metadata=self.operator,
        )
        return response.batch

    async def generated(self, card_count: int = 10, **fields) -> res.Batch:
        return await self.generate((await self.approved(card_count, **fields)).batch_id)

    async def export(self, batch_id: str, page_size: int = 0, request_id: str = ""):
        return await self.giftcard.ExportBatchSecrets(
            pb.ExportBatchSecretsRequest(
                request_id=request_id or uid(), batch_id=batch_id, page_size=page_size
            ),
            metadata=self.operator,
        )

    async def exported(self, card_count: int = 10, **fields) -> tuple[res.Batch, list]:
        """A batch whose every secret was delivered, and the rows (with PINs)."""
        batch = await self.generated(card_count, **fields)
        rows: list = []
        while True:
            page = await self.export(batch.batch_id)
            rows += page.rows
            if page.remaining_count == 0:
                return page.batch, rows


@pytest.fixture
def stock(giftcard, staff) -> Stock:
    return Stock(giftcard, staff)


def state_counts(batch: res.Batch) -> dict[str, int]:
    return {res.CardState.Name(c.state): c.count for c in batch.card_counts}


# --- approval ----------------------------------------------------------------------------
async def test_maker_checker_cannot_be_bypassed(giftcard, giftcard_app, stock, staff, tap):
    """600 cards of 100 CNY = 60,000 CNY: above the default threshold (50,000 CNY) the batch
    needs an approver and a manager, two people, neither of them the requester."""
    pool = giftcard_app.pool
    keen = staff("req.li", "requester", "approver", "manager")  # the requester, every role
    batch = await stock.request(600)
    assert batch.state == res.BATCH_STATE_PENDING_APPROVAL
    assert batch.total_minor == 600 * 100_00
    assert list(batch.pending_roles) == ["giftcard:approver", "giftcard:manager"]
    assert batch.requested_by == "operator:req.li"

    def approve(who, role: str = ""):
        return giftcard.ApproveBatch(
            pb.ApproveBatchRequest(request_id=uid(), batch_id=batch.batch_id, role=role),
            metadata=who,
        )

    before = await snapshot(pool)
    # Approving one's own request, whatever roles one holds.
    await fails(approve(keen), PRECONDITION, "SELF_APPROVAL")
    await fails(approve(keen, "giftcard:manager"), PRECONDITION, "SELF_APPROVAL")
    # A role the caller does not hold at all, or not the one it asks to approve as.
    await fails(approve(stock.loader), DENIED, "MISSING_SCOPE")
    await fails(approve(stock.requester), DENIED, "MISSING_SCOPE")
    await fails(approve(stock.approver, "giftcard:manager"), PRECONDITION, "ROLE_NOT_HELD")
    await fails(
        approve(staff("ap.wu", "approver", "loader"), "giftcard:loader"),
        PRECONDITION,
        "ROLE_NOT_REQUIRED",
    )
    # Rejecting one's own request is refused the same way.
    await fails(
        giftcard.RejectBatch(
            pb.RejectBatchRequest(request_id=uid(), batch_id=batch.batch_id, reason="no"),
            metadata=keen,
        ),
        PRECONDITION,
        "SELF_APPROVAL",
    )
    assert await snapshot(pool) == before

    first = await stock.approve(batch.batch_id, stock.approver)
    assert first.state == res.BATCH_STATE_PENDING_APPROVAL
    assert list(first.pending_roles) == ["giftcard:manager"]
    assert [(a.approver, a.role) for a in first.approvals] == [
        ("operator:ap.chen", "giftcard:approver")
    ]

    before = await snapshot(pool)
    # The same person again, even with a manager's token now: one person counts once.
    await fails(approve(stock.approver), PRECONDITION, "ALREADY_APPROVED")
    await fails(
        approve(staff("ap.chen", "approver", "manager"), "giftcard:manager"),
        PRECONDITION,
        "ALREADY_APPROVED",
    )
    # A second approver is not enough: the band needs a manager.
    await fails(approve(staff("ap.zhou", "approver")), PRECONDITION, "ROLE_NOT_HELD")
    await fails(
        approve(staff("ap.zhou", "approver"), "giftcard:approver"),
        PRECONDITION,
        "ROLE_ALREADY_APPROVED",
    )
    # Nothing is generated while the second approver is missing.
    await fails(stock.generate(batch.batch_id), PRECONDITION, "BATCH_NOT_APPROVED")
    assert await snapshot(pool) == before
    assert tap.envelopes(APPROVED_EVENT, batch.batch_id) == []

    done = await stock.approve(batch.batch_id, stock.manager)
    assert done.state == res.BATCH_STATE_APPROVED
    assert list(done.pending_roles) == []
    assert done.HasField("approve_time")
    (event,) = await tap.wait_for(APPROVED_EVENT, batch.batch_id)
    data = bus.data(event)
    assert data["batchId"] == batch.batch_id
    assert (data["cardCount"], data["totalMinor"]) == (600, str(600 * 100_00))

    await fails(approve(staff("mgr.he", "manager")), PRECONDITION, "BATCH_NOT_PENDING_APPROVAL")
    audit = await pool.fetch(
        "SELECT actor, action, detail->>'role' AS role FROM audit_log"
        " WHERE subject = $1 ORDER BY id",
        batch.batch_id,
    )
    assert [(a["actor"], a["action"], a["role"]) for a in audit] == [
        ("operator:req.li", "giftcard.batch.request", "giftcard:requester"),
        ("operator:ap.chen", "giftcard.batch.approve", "giftcard:approver"),
        ("operator:mgr.wang", "giftcard.batch.approve", "giftcard:manager"),
    ]


async def test_below_the_threshold_one_approver_is_enough(stock, tap):
    batch = await stock.request(10)
    assert list(batch.pending_roles) == ["giftcard:approver"]
    approved = await stock.approve(batch.batch_id, stock.approver)
    assert approved.state == res.BATCH_STATE_APPROVED
    await tap.wait_for(APPROVED_EVENT, batch.batch_id)


async def test_a_policy_change_applies_to_later_requests_only(giftcard, stock):
    early = await stock.request(10)
    await giftcard.SetApprovalPolicy(
        pb.SetApprovalPolicyRequest(
            request_id=uid(),
            policy=res.ApprovalPolicy(
                subject=res.APPROVAL_SUBJECT_BATCH,
                currency_code="CNY",
                bands=[
                    res.ApprovalBand(max_amount_minor=500_00, required_roles=["giftcard:approver"]),
                    res.ApprovalBand(required_roles=["giftcard:approver", "giftcard:manager"]),
                ],
            ),
        ),
        metadata=stock.manager,
    )
    late = await stock.request(10)
    assert (early.policy_version, late.policy_version) == (0, 1)
    assert list(late.pending_roles) == ["giftcard:approver", "giftcard:manager"]
    assert (await stock.approve(early.batch_id, stock.approver)).state == (res.BATCH_STATE_APPROVED)
    assert (await stock.approve(late.batch_id, stock.approver)).state == (
        res.BATCH_STATE_PENDING_APPROVAL
    )


async def test_a_rejected_batch_is_final(giftcard, giftcard_app, stock):
    batch = await stock.request(10)

    def reject(reason: str, who=None):
        return giftcard.RejectBatch(
            pb.RejectBatchRequest(request_id=uid(), batch_id=batch.batch_id, reason=reason),
            metadata=who or stock.approver,
        )

    await fails(reject(""), INVALID, "INVALID_ARGUMENT", ["reason"])
    await fails(reject("no", stock.operator), DENIED, "MISSING_SCOPE")
    rejected = (await reject("Not in this year's plan")).batch
    assert rejected.state == res.BATCH_STATE_REJECTED
    assert (rejected.rejected_by, rejected.reject_reason) == (
        "operator:ap.chen",
        "Not in this year's plan",
    )
    before = await snapshot(giftcard_app.pool)
    await fails(
        stock.approve(batch.batch_id, stock.manager), PRECONDITION, "BATCH_NOT_PENDING_APPROVAL"
    )
    await fails(reject("again", stock.manager), PRECONDITION, "BATCH_NOT_PENDING_APPROVAL")
    await fails(stock.generate(batch.batch_id), PRECONDITION, "BATCH_NOT_APPROVED")
    await fails(stock.export(batch.batch_id), PRECONDITION, "BATCH_NOT_GENERATED")
    assert await snapshot(giftcard_app.pool) == before
    (entry,) = await giftcard_app.pool.fetch(
        "SELECT detail FROM audit_log WHERE action = 'giftcard.batch.reject'"
    )
    assert entry["detail"]["reason"] == "Not in this year's plan"


# --- generation --------------------------------------------------------------------------
async def test_generated_cards_are_random_issued_and_sealed(giftcard, giftcard_app, stock):
    batch = await stock.approved(1000)
    request = pb.GenerateBatchCardsRequest(request_id=uid(), batch_id=batch.batch_id)
    generated = (await giftcard.GenerateBatchCards(request, metadata=stock.operator)).batch
    assert generated.state == res.BATCH_STATE_GENERATED
    assert state_counts(generated) == {"CARD_STATE_ISSUED": 1000}
    assert generated.exported_count == 0
    # A replay answers as the first call did; a new request is refused.
    replay = await giftcard.GenerateBatchCards(request, metadata=stock.operator)
    assert replay.batch == generated
    await fails(stock.generate(batch.batch_id), PRECONDITION, "BATCH_ALREADY_GENERATED")

    rows = await giftcard_app.pool.fetch(
        "SELECT card_number, sequence, state, balance_minor, face_value_minor, pin_key_id,"
        " pin_hash, secret_delivered, product_id::text FROM cards WHERE batch_id = $1"
        " ORDER BY sequence",
        uuid.UUID(batch.batch_id),
    )
    settings = giftcard_app.settings
    numbers_ = [r["card_number"] for r in rows]
    assert [r["sequence"] for r in rows] == list(range(1, 1001))
    assert len(set(numbers_)) == 1000
    for number in numbers_:
        assert len(number) == settings.card_number_length
        assert number.startswith(settings.card_number_prefix)
        assert numbers.luhn_valid(number)
    # Not sequential, not guessable from a neighbour: no two numbers are near each other.
    values = sorted(int(n[:-1]) for n in numbers_)
    assert min(b - a for a, b in zip(values, values[1:], strict=False)) > 1000
    steps = {int(b[:-1]) - int(a[:-1]) for a, b in zip(numbers_, numbers_[1:], strict=False)}
    assert len(steps) > 990
    assert {(r["state"], r["balance_minor"], r["secret_delivered"]) for r in rows} == {
        ("issued", 0, False)
    }
    assert {r["face_value_minor"] for r in rows} == {100_00}
    assert {r["product_id"] for r in rows} == {batch.product_id}
    assert {r["pin_key_id"] for r in rows} == {giftcard_app.deps.keyring.current.key_id}
    assert len({bytes(r["pin_hash"]) for r in rows}) == 1000


async def test_a_batch_of_100000_cards_is_generated_in_one_call(giftcard, giftcard_app, stock):
    batch = await stock.approved(100_000)  # 10,000,000 CNY: an approver and a manager
    generated = await giftcard.GenerateBatchCards(
        pb.GenerateBatchCardsRequest(request_id=uid(), batch_id=batch.batch_id),
        metadata=stock.operator,
        timeout=120,
    )
    assert state_counts(generated.batch) == {"CARD_STATE_ISSUED": 100_000}
    found = await giftcard_app.pool.fetchrow(
        "SELECT count(*) AS n, count(DISTINCT card_number) AS distinct_numbers,"
        " max(sequence) AS last FROM cards WHERE batch_id = $1",
        uuid.UUID(batch.batch_id),
    )
    assert dict(found) == {"n": 100_000, "distinct_numbers": 100_000, "last": 100_000}


# --- the export ----------------------------------------------------------------------------
async def test_the_secrets_are_exported_once(giftcard, giftcard_app, stock):
    pool, keyring = giftcard_app.pool, giftcard_app.deps.keyring
    batch = await stock.generated(25)
    first_id = uid()
    first = await stock.export(batch.batch_id, page_size=10, request_id=first_id)
    assert (first.page, len(first.rows), first.remaining_count) == (1, 10, 15)
    assert first.batch.state == res.BATCH_STATE_EXPORTING
    assert (first.batch.exported_count, first.batch.export_page_count) == (10, 1)
    lines = first.csv.split("\r\n")
    assert lines[0] == "sequence,card_number,pin,currency_code,face_value_minor"
    assert lines[1] == f"1,{first.rows[0].card_number},{first.rows[0].pin},CNY,10000"
    assert (len(lines), lines[-1]) == (12, "")

    # Each PIN is the card's: its keyed hash is what the card keeps (and nothing else is).
    stored = {
        r["card_number"]: pins.PinHash(r["pin_key_id"], bytes(r["pin_hash"]))
        for r in await pool.fetch(
            "SELECT card_number, pin_key_id, pin_hash FROM cards WHERE batch_id = $1",
            uuid.UUID(batch.batch_id),
        )
    }
    for row in first.rows:
        assert len(row.pin) == pins.LENGTH
        assert pins.verify(keyring, row.card_number, row.pin, stored[row.card_number])
        assert not pins.verify(keyring, row.card_number, "0" * 20, stored[row.card_number])

    # A replay of the same request returns the page without its secrets.
    replay = await stock.export(batch.batch_id, page_size=10, request_id=first_id)
    assert (replay.page, replay.csv) == (1, "")
    assert [(r.sequence, r.card_number, r.pin) for r in replay.rows] == [
        (r.sequence, r.card_number, "") for r in first.rows
    ]
    kept = b"".join(r["response"] for r in await pool.fetch("SELECT response FROM idempotency"))
    assert all(r.pin.encode() not in kept for r in first.rows)

    second = await stock.export(batch.batch_id, page_size=10)
    third = await stock.export(batch.batch_id, page_size=10)
    assert (second.page, third.page, third.remaining_count) == (2, 3, 0)
    assert third.batch.state == res.BATCH_STATE_EXPORTED
    assert third.batch.HasField("export_finish_time")
    delivered = [r.card_number for page in (first, second, third) for r in page.rows]
    assert len(delivered) == len(set(delivered)) == 25  # every card once, none twice
    assert [r.sequence for page in (first, second, third) for r in page.rows] == list(range(1, 26))

    before = await snapshot(pool)
    await fails(stock.export(batch.batch_id), PRECONDITION, "SECRETS_ALREADY_EXPORTED")
    assert await snapshot(pool) == before
    audit = await pool.fetch(
        "SELECT detail FROM audit_log WHERE action = 'giftcard.batch.export_secrets' ORDER BY id"
    )
    assert [(a["detail"]["page"], a["detail"]["row_count"]) for a in audit] == [
        (1, 10),
        (2, 10),
        (3, 5),
    ]
    everything = str([dict(r) for r in await pool.fetch("SELECT * FROM audit_log")])
    assert not any(r.pin in everything for page in (first, second, third) for r in page.rows)


async def test_an_interrupted_export_is_recovered_with_new_cards(giftcard, giftcard_app, stock):
    pool = giftcard_app.pool
    batch = await stock.generated(30)

    def recover(from_page: int, reason: str = "page 2 never reached the printer", who=None):
        return giftcard.RecoverBatchExport(
            pb.RecoverBatchExportRequest(
                request_id=uid(), batch_id=batch.batch_id, from_page=from_page, reason=reason
            ),
            metadata=who or stock.manager,
        )

    await fails(recover(1), PRECONDITION, "NOTHING_EXPORTED")
    page1 = await stock.export(batch.batch_id, page_size=10)
    page2 = await stock.export(batch.batch_id, page_size=10)  # lost on its way
    before = await snapshot(pool)
    await fails(recover(3), INVALID, "INVALID_ARGUMENT", ["from_page"])
    await fails(recover(0), INVALID, "INVALID_ARGUMENT", ["from_page"])
    await fails(recover(2, reason=""), INVALID, "INVALID_ARGUMENT", ["reason"])
    await fails(recover(2, who=stock.operator), DENIED, "MISSING_SCOPE")
    assert await snapshot(pool) == before

    recovered = await recover(2)
    assert (recovered.voided_count, recovered.generated_count) == (10, 10)
    after = recovered.batch
    assert after.state == res.BATCH_STATE_EXPORTING
    assert after.voided_count == 10
    assert state_counts(after) == {"CARD_STATE_ISSUED": 30, "CARD_STATE_VOIDED": 10}
    (recovery,) = after.recoveries
    assert (recovery.from_page, recovery.voided_count, recovery.recovered_by) == (
        2,
        10,
        "operator:mgr.wang",
    )
    voided = await pool.fetch(
        "SELECT card_number, state, state_reason FROM cards WHERE batch_id = $1"
        " AND state = 'voided'",
        uuid.UUID(batch.batch_id),
    )
    assert {r["card_number"] for r in voided} == {r.card_number for r in page2.rows}
    assert all("page 2 never reached the printer" in r["state_reason"] for r in voided)

    # The export goes on: the cards never delivered, then the new ones; nothing twice.
    rest = []
    while True:
        page = await stock.export(batch.batch_id, page_size=10)
        rest.append(page)
        if page.remaining_count == 0:
            break
    assert [p.page for p in rest] == [3, 4]
    assert [r.sequence for p in rest for r in p.rows] == list(range(21, 41))
    assert rest[-1].batch.state == res.BATCH_STATE_EXPORTED
    usable = {r.card_number for r in page1.rows} | {r.card_number for p in rest for r in p.rows}
    assert len(usable) == 30
    assert usable.isdisjoint(r.card_number for r in page2.rows)
    (entry,) = await pool.fetch(
        "SELECT actor, subject, detail FROM audit_log"
        " WHERE action = 'giftcard.batch.recover_export'"
    )
    assert (entry["actor"], entry["subject"]) == ("operator:mgr.wang", batch.batch_id)
    assert entry["detail"]["reason"] == "page 2 never reached the printer"
    assert (entry["detail"]["voided_count"], entry["detail"]["generated_count"]) == (10, 10)


async def test_batches_are_read_and_listed_newest_first(giftcard, stock):
    product_id = await stock.product()
    made = [await stock.request(i + 1, product_id=product_id) for i in range(5)]
    other = await stock.request(3)
    page = await giftcard.ListBatches(
        pb.ListBatchesRequest(page_size=3, product_id=product_id), metadata=stock.loader
    )
    assert [b.batch_id for b in page.batches] == [b.batch_id for b in made[::-1][:3]]
    rest = await giftcard.ListBatches(
        pb.ListBatchesRequest(page_size=3, product_id=product_id, page_token=page.next_page_token),
        metadata=stock.loader,
    )
    assert [b.batch_id for b in rest.batches] == [made[1].batch_id, made[0].batch_id]
    assert rest.next_page_token == ""
    await stock.approve(other.batch_id, stock.approver)
    approved = await giftcard.ListBatches(
        pb.ListBatchesRequest(state=res.BATCH_STATE_APPROVED), metadata=stock.loader
    )
    assert [b.batch_id for b in approved.batches] == [other.batch_id]
    read = await giftcard.GetBatch(
        pb.GetBatchRequest(batch_id=made[2].batch_id), metadata=stock.reviewer
    )
    assert read.batch == made[2]


# --- bad input -----------------------------------------------------------------------------
async def test_bad_batch_requests_are_refused_precisely_and_change_nothing(
    giftcard, giftcard_app, stock
):
    fixed = await stock.product()
    custom = await stock.product(0, display_name="Bulk", kind=res.PRODUCT_KIND_CUSTOM)
    disabled = await stock.product(enabled=False)
    dollars = await stock.product(currency_code="USD")
    batch = await stock.request(5, product_id=fixed)
    before = await snapshot(giftcard_app.pool)

    def create(product_id=fixed, card_count=10, who=None, **fields):
        return giftcard.CreateBatch(
            pb.CreateBatchRequest(
                request_id=uid(), product_id=product_id, card_count=card_count, **fields
            ),
            metadata=who or stock.requester,
        )

    await fails(create("not-a-uuid"), INVALID, "INVALID_ARGUMENT", ["product_id"])
    await fails(create(uid()), NOT_FOUND, "PRODUCT_NOT_FOUND")
    for count in (0, -1, 100_001):
        await fails(create(card_count=count), INVALID, "INVALID_ARGUMENT", ["card_count"])
    await fails(create(face_value_minor=-100), INVALID, "AMOUNT_NOT_POSITIVE", ["face_value_minor"])
    await fails(create(face_value_minor=5), INVALID, "FACE_VALUE_FIXED", ["face_value_minor"])
    await fails(create(custom), INVALID, "FACE_VALUE_REQUIRED", ["face_value_minor"])
    await fails(
        create(custom, face_value_minor=10**8 + 1),
        INVALID,
        "AMOUNT_TOO_LARGE",
        ["face_value_minor"],
    )
    await fails(create(disabled), PRECONDITION, "PRODUCT_DISABLED")
    await fails(create(dollars), PRECONDITION, "CURRENCY_NOT_SUPPORTED")
    await fails(create(note="x" * 513), INVALID, "INVALID_ARGUMENT", ["note"])
    await fails(create(note="a\x00b"), INVALID, "INVALID_ARGUMENT", ["note"])
    await fails(
        create("nope", card_count=0, face_value_minor=-1),
        INVALID,
        "AMOUNT_NOT_POSITIVE",
        ["product_id", "card_count", "face_value_minor"],
    )
    await fails(create(who=stock.loader), DENIED, "MISSING_SCOPE")

    unknown = uid()
    calls = {  # every RPC on a batch, for an unknown batch and for a bad id
        "GetBatch": lambda b: giftcard.GetBatch(
            pb.GetBatchRequest(batch_id=b), metadata=stock.operator
        ),
        "ApproveBatch": lambda b: giftcard.ApproveBatch(
            pb.ApproveBatchRequest(request_id=uid(), batch_id=b), metadata=stock.approver
        ),
        "RejectBatch": lambda b: giftcard.RejectBatch(
            pb.RejectBatchRequest(request_id=uid(), batch_id=b, reason="no"),
            metadata=stock.approver,
        ),
        "GenerateBatchCards": lambda b: stock.generate(b),
        "ExportBatchSecrets": lambda b: stock.export(b),
        "RecoverBatchExport": lambda b: giftcard.RecoverBatchExport(
            pb.RecoverBatchExportRequest(request_id=uid(), batch_id=b, from_page=1, reason="x"),
            metadata=stock.manager,
        ),
    }
    for call in calls.values():
        await fails(call(unknown), NOT_FOUND, "BATCH_NOT_FOUND")
        await fails(call("42"), INVALID, "INVALID_ARGUMENT", ["batch_id"])
    await fails(
        giftcard.ApproveBatch(
            pb.ApproveBatchRequest(request_id=uid(), batch_id=batch.batch_id, role="boss"),
            metadata=stock.approver,
        ),
        INVALID,
        "INVALID_ARGUMENT",
        ["role"],
    )
    await fails(
        giftcard.ExportBatchSecrets(
            pb.ExportBatchSecretsRequest(request_id=uid(), batch_id=batch.batch_id, page_size=-1),
            metadata=stock.operator,
        ),
        INVALID,
        "INVALID_ARGUMENT",
        ["page_size"],
    )
    await fails(
        giftcard.ListBatches(pb.ListBatchesRequest(state=99), metadata=stock.operator),
        INVALID,
        "INVALID_ARGUMENT",
        ["state"],
    )
    assert await snapshot(giftcard_app.pool) == before
