"""Amounts as people read them: with the team's currency (CURRENCY), whole amounts without cents."""
from __future__ import annotations

from decimal import Decimal
from typing import Final

SYMBOLS: Final = {"EUR": "€", "GBP": "£", "USD": "$"}
"""Only symbols nobody misreads on a support team: "$" alone stays USD's, so CAD shows as
"CAD 80" and a Canadian team is never shown a price in the wrong dollars."""


def currency_symbol(currency: str) -> str:
    """`€`, `$`, `£`, or the code itself (`CHF`): what a form's "Amount (€)" label shows, the
    same sign every amount of the team is written with."""
    return SYMBOLS.get(currency, currency)


def format_amount(amount: Decimal, currency: str) -> str:
    """`€ 80`, `$ 120.50`, `£ 1,200`, `CHF 80`: the symbol or the code, a space, the number
    grouped by thousands, with cents only when there are any."""
    whole = amount == amount.to_integral_value()
    number = f"{amount.quantize(Decimal(1) if whole else Decimal('0.01')):,f}"
    return f"{currency_symbol(currency)} {number}"
