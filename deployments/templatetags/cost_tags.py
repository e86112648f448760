"""Cost figures as pages show them: money with its currency, efficiencies as percentages, and
"no figure" said as such rather than as zero."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from django import template

register = template.Library()

CENT = Decimal("0.01")


@register.filter
def money(value, currency: str = "USD") -> str:
    """1234.5 → "1,234.50 USD"; under a cent but above zero → "< 0.01 USD"; None → "no figures"."""
    if value is None or value == "":
        return "no figures"
    amount = Decimal(value)
    if 0 < amount < CENT:
        return f"< 0.01 {currency}"
    return f"{amount.quantize(CENT, rounding=ROUND_HALF_UP):,} {currency}"


@register.filter
def amount(value) -> str:
    """The number alone, to the cent ("—" when missing), for tables whose heading names the currency."""
    if value is None or value == "":
        return "—"
    value = Decimal(value)
    if 0 < value < CENT:
        return "< 0.01"
    return f"{value.quantize(CENT, rounding=ROUND_HALF_UP):,}"


@register.filter
def percent(value) -> str:
    """0.0324 → "3 %"; None → "—" (nothing requested, nothing to compare with)."""
    if value is None or value == "":
        return "—"
    return f"{round(float(value) * 100)} %"
