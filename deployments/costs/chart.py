"""Daily cost bars drawn in the page as inline SVG: the geometry here, the markup in
templates/deployments/partials/cost_chart.html. No JavaScript; a day without figures is drawn as
a low grey mark, never as a zero bar."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from deployments.templatetags.cost_tags import amount

MISSING_MARK = 3.0


@dataclass(frozen=True)
class Bar:
    day: date
    value: Decimal | None
    x: float
    y: float
    width: float
    height: float

    @property
    def missing(self) -> bool:
        return self.value is None


@dataclass(frozen=True)
class Chart:
    """A bar per day in a `width` x `height` viewBox, the tallest bar reaching the top margin."""

    width: int
    height: int
    baseline: float
    bars: tuple[Bar, ...]
    peak: Decimal
    currency: str
    title: str
    description: str

    @property
    def first_day(self) -> date | None:
        return self.bars[0].day if self.bars else None

    @property
    def last_day(self) -> date | None:
        return self.bars[-1].day if self.bars else None


def bars(points: list[tuple[date, Decimal | None]], *, currency: str, title: str, width: int = 600,
         height: int = 120, top: int = 8, bottom: int = 4) -> Chart:
    values = [v for _, v in points if v is not None]
    peak = max(values, default=Decimal(0))
    total = sum(values, Decimal(0))
    baseline = height - bottom
    slot = width / max(len(points), 1)
    gap = min(4.0, slot * 0.2)
    drawn = []
    for index, (day, value) in enumerate(points):
        # A missing day is a low grey mark (styled apart), so a gap reads as "no figures", not zero.
        bar_height = MISSING_MARK
        if value is not None:
            bar_height = max(1.0, float(value / peak) * (baseline - top)) if peak > 0 else 1.0
        drawn.append(Bar(day, value, round(index * slot + gap / 2, 2), round(baseline - bar_height, 2),
                         round(slot - gap, 2), round(bar_height, 2)))
    missing = sum(1 for _, v in points if v is None)
    if points and values:
        peak_day = next(day for day, v in points if v == peak)
        description = (f"Daily cost from {points[0][0]:%b %-d} to {points[-1][0]:%b %-d}: {_money(total)} {currency} in all, "
                       f"highest {_money(peak)} {currency} on {peak_day:%b %-d}")
        description += f"; {missing} day{'s' if missing != 1 else ''} without figures." if missing else "."
    else:
        description = "No figures for these days."
    return Chart(width, height, baseline, tuple(drawn), peak, currency, title, description)


def _money(value: Decimal) -> str:
    # The same rounding as every figure on the pages (half up, to the cent).
    return amount(value)
