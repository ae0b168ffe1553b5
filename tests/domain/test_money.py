"""Amounts with the team's currency, as the approval request, the card and the digest show them."""
from __future__ import annotations

from decimal import Decimal

import pytest

from bot.domain.money import format_amount


@pytest.mark.parametrize(("amount", "currency", "shown"), [
    ("80", "EUR", "€ 80"),
    ("80.00", "EUR", "€ 80"),
    ("120.5", "USD", "$ 120.50"),
    ("0.5", "USD", "$ 0.50"),
    ("5", "GBP", "£ 5"),
    ("0", "EUR", "€ 0"),
    ("80", "CHF", "CHF 80"),
    ("80", "CAD", "CAD 80"),
    ("1200", "GBP", "£ 1,200"),
    ("1234567.25", "JPY", "JPY 1,234,567.25"),
])
def test_symbol_or_code_then_the_amount_with_cents_only_when_there_are_any(amount, currency, shown):
    assert format_amount(Decimal(amount), currency) == shown
