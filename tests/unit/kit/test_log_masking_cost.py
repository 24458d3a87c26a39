"""Masking a log value costs time linear in its length, whatever a caller puts in it.

Before the patterns were bounded, 16,000 characters of one letter took ~1 s and 64,000 took
~13 s (quadratic: a megabyte would pin a process for most of an hour). The bound below is two
orders of magnitude above what linear masking needs here (~0.2 s per megabyte), so it fails
only on the quadratic behaviour, not on a slow machine."""

from __future__ import annotations

import time

import pytest

from services.kit import logging as kit_logging

ADVERSARIAL = {
    "letters": "a" * 1_000_000,
    "jwt starts": "eyJ" * 333_333,
    "e-mail locals": "a." * 500_000,
    "e-mail ats": "x@" * 500_000,
    "e-mail domains": "a@b." * 250_000,
    "digits": "1" * 1_000_000,
    "url schemes": "amqp://" * 142_857,
}


@pytest.mark.parametrize("text", ADVERSARIAL.values(), ids=ADVERSARIAL.keys())
def test_a_megabyte_of_adversarial_text_is_masked_in_linear_time(monkeypatch, text):
    monkeypatch.setattr(kit_logging, "MAX_VALUE_LENGTH", 10**9)  # the patterns alone, uncut
    started = time.perf_counter()
    kit_logging._mask(text)
    assert time.perf_counter() - started < 20


def test_a_long_value_is_cut_before_it_is_masked():
    masked = kit_logging._mask("13812345678 " + "a" * 100_000)
    assert len(masked) < kit_logging.MAX_VALUE_LENGTH + 100
    assert masked.startswith("[redacted] ") and masked.endswith("more characters]")
