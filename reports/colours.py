"""Colour scales of the reports and the text colour that stays readable on each fill (WCAG 2 contrast).

The workbook paints its matrices (``Theo yếu tố``, ``Theo tiêu chí``) with fixed fills computed here, not
with Excel's conditional colour scales, so that every cell's text colour can be chosen from its own fill:
a spreadsheet cannot pick a font colour per cell of a colour scale, and dark red numbers on a red cell
are what a printed scale otherwise gives.
"""

from __future__ import annotations

from collections.abc import Sequence

# Red (lowest) -> yellow (median) -> green (highest), Excel's own 3-colour scale.
SCALE = ("#F8696B", "#FFEB84", "#63BE7B")
DARK_INK = "#111111"
LIGHT_INK = "#FFFFFF"
MIN_CONTRAST = 4.5  # WCAG 2, normal text (AA)


def _rgb(colour: str) -> tuple[float, float, float]:
    text = colour.lstrip("#")
    if len(text) != 6:
        raise ValueError(f"not a #RRGGBB colour: {colour!r}")
    return tuple(int(text[i : i + 2], 16) / 255 for i in (0, 2, 4))  # type: ignore[return-value]


def hex_colour(rgb: Sequence[float]) -> str:
    return "#" + "".join(f"{round(max(0.0, min(1.0, c)) * 255):02X}" for c in rgb[:3])


def relative_luminance(colour: str | Sequence[float]) -> float:
    """WCAG 2 relative luminance of an sRGB colour (#RRGGBB or 0-1 floats)."""
    rgb = _rgb(colour) if isinstance(colour, str) else tuple(colour[:3])

    def linear(c: float) -> float:
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(a: str | Sequence[float], b: str | Sequence[float]) -> float:
    """WCAG 2 contrast ratio of two colours, from 1 (same) to 21 (black on white)."""
    la, lb = relative_luminance(a), relative_luminance(b)
    hi, lo = max(la, lb), min(la, lb)
    return (hi + 0.05) / (lo + 0.05)


def ink_for(fill: str | Sequence[float]) -> str:
    """The text colour (near-black or white) with the higher contrast on ``fill``."""
    return DARK_INK if contrast_ratio(fill, DARK_INK) >= contrast_ratio(fill, LIGHT_INK) else LIGHT_INK


def scale_colour(value: float, low: float, mid: float, high: float, colours: Sequence[str] = SCALE) -> str:
    """The fill of ``value`` on a 3-colour scale (low -> mid -> high), interpolated in sRGB like Excel."""
    start, middle, end = (_rgb(c) for c in colours)
    if high <= low:
        return hex_colour(middle)
    if value <= mid:
        t = 0.0 if mid <= low else (max(value, low) - low) / (mid - low)
        a, b = start, middle
    else:
        t = 1.0 if high <= mid else (min(value, high) - mid) / (high - mid)
        a, b = middle, end
    return hex_colour([x + (y - x) * t for x, y in zip(a, b, strict=True)])
