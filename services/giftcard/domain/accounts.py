"""The journal's accounts and entry kinds (what the reconciliation's lines are sums of).

Card value is owed per card: `card_available` and `card_held` (owner: the card id). A member's
stored value: `sv_principal`, `sv_bonus`, and their held parts (owner: the member id). Each flow
has a counter account (owner "" or what it is about), so that a line of the daily report is
the sum of one account's postings of one kind: e.g. loaded = −Σ `loads`, redeemed =
Σ `redemptions` of kind `hold_capture`, restored = −Σ `redemptions` of kind
`redemption_return`.
"""

from __future__ import annotations

# Kept balances (columns of cards and stored_value, equal to their postings' sums).
CARD_AVAILABLE = "card_available"
CARD_HELD = "card_held"
SV_PRINCIPAL = "sv_principal"
SV_BONUS = "sv_bonus"
SV_HELD_PRINCIPAL = "sv_held_principal"
SV_HELD_BONUS = "sv_held_bonus"

# Counter accounts: where value comes from and goes to.
LOADS = "loads"  # value loaded onto cards (owner: batch id); negative
REDEMPTIONS = "redemptions"  # card value spent at checkout, less what refunds returned
CARD_REFUNDS = "card_refunds"  # 退卡: paid back to the holder
EXCHANGES = "exchanges"  # 调换: taken back against other cards
BREAKAGE = "breakage"  # expired
WRITE_OFFS = "write_offs"  # defective stock cancelled with its value
TOP_UPS = "top_ups"  # stored value paid in (owner: top-up id); negative
BONUS_GRANTS = "bonus_grants"  # bonus granted with top-ups; negative
SV_REDEMPTIONS = "sv_redemptions"  # stored value spent at checkout (principal and bonus)
TOP_UP_REFUNDS = "top_up_refunds"  # principal paid back
BONUS_CLAWBACKS = "bonus_clawbacks"  # bonus taken back by top-up refunds

# Entry kinds.
LOAD = "load"
LOAD_REVERSAL = "load_reversal"
HOLD = "hold"
HOLD_RELEASE = "hold_release"
HOLD_CAPTURE = "hold_capture"
REDEMPTION_RETURN = "redemption_return"
CARD_REFUND = "card_refund"
EXCHANGE = "exchange"
TRANSFER_OUT = "transfer_out"
TRANSFER_IN = "transfer_in"
EXPIRE = "expire"
EXPIRY_REVERSAL = "expiry_reversal"
CANCEL = "cancel"
TOP_UP = "top_up"
TOP_UP_REFUND = "top_up_refund"
BONUS_CLAWBACK = "bonus_clawback"
