"""Paid membership (PLUS): plans, the subscription lifecycle, refunds, benefits with quotas, and
redemption codes."""
