"""Points currency: a double-entry ledger of members' points, earning rules, holds and expiry."""
