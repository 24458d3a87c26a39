"""Prepaid cards and member stored value: from printing to daily reconciliation, to the fen."""
