"""The rounding rule, in one place.

Arithmetic is ``Decimal`` at 28 significant digits with ROUND_HALF_EVEN (:data:`CONTEXT`), and
nothing is rounded while calculating: every line, subtotal and total keeps full precision.
Rounding happens only at presentation: JSON output rounds half-even to :data:`OUTPUT_DECIMALS`
(6) decimal places, the terminal table to :data:`DISPLAY_DECIMALS` (2). Because totals are summed
before rounding, a rounded total can differ in the last place from the sum of rounded lines.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Context, Decimal

CONTEXT = Context(prec=28, rounding=ROUND_HALF_EVEN)
OUTPUT_DECIMALS = 6
DISPLAY_DECIMALS = 2


def rounded(value: Decimal, places: int = OUTPUT_DECIMALS) -> Decimal:
    """``value`` rounded half-even to ``places`` decimals (for presentation only)."""
    context = CONTEXT
    digits = value.adjusted() + 1 + places
    if digits > CONTEXT.prec:  # a huge derived figure (a relative uncertainty of a near-zero total)
        context = CONTEXT.copy()
        context.prec = digits
    return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN, context=context)


def plain(value: Decimal) -> str:
    """An exact input value as written, without exponent or trailing zeros: 42.652, 10000."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


def shown(value: Decimal, places: int = OUTPUT_DECIMALS) -> str:
    """A result as presented: rounded half-even, trailing zeros dropped."""
    return plain(rounded(value, places))


def to_json_number(value: Decimal, places: int = OUTPUT_DECIMALS) -> float | int:
    """A rounded result as a JSON number (an int when it is whole)."""
    result = rounded(value, places)
    return int(result) if result == result.to_integral_value() else float(result)
