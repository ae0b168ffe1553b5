"""Amounts with the team's currency, as the approval request, the card and the digest show them."""
from __future__ import annotations

from decimal import Decimal

import pytest

from bot.domain.money import currency_symbol, format_amount


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


@pytest.mark.parametrize(("currency", "symbol"), [
    ("EUR", "€"), ("USD", "$"), ("GBP", "£"), ("CHF", "CHF"), ("CAD", "CAD"),
])
def test_a_form_labels_amounts_with_the_sign_they_are_written_with(currency, symbol):
    assert currency_symbol(currency) == symbol
    assert format_amount(Decimal(7), currency) == f"{symbol} 7"
