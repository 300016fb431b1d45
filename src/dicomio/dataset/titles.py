"""Names for people: a series' title from its header attributes."""

from __future__ import annotations

from typing import Any

__all__ = ["series_title"]


def series_title(description: Any, modality: Any, number: Any,
                 part: tuple[int, int] | None = None) -> str:
    """A series' name from SeriesDescription, Modality and SeriesNumber.

    ``"Chest 1.25mm (CT #3)"``, ``"CT #3"``, ``"CT"``, ``"#3"`` or ``""``:
    only the parts present, never a stray separator. ``part=(2, 3)`` adds
    ``"part 2/3"`` for a series split into several volumes.

    >>> series_title("Chest", "CT", 3)
    'Chest (CT #3)'
    >>> series_title("", "OT", 1, part=(1, 2))
    'OT #1 (part 1/2)'
    >>> series_title(None, "", None)
    ''
    """
    description = str(description or "").strip()
    modality = str(modality or "").strip()
    num = "" if number is None else str(number).strip()
    tag = " ".join(x for x in (modality, f"#{num}" if num else "") if x)
    extras = [tag] if tag else []
    if part is not None and part[1] > 1:
        extras.append(f"part {part[0]}/{part[1]}")
    if description:
        return f"{description} ({', '.join(extras)})" if extras else description
    if not extras:
        return ""
    return extras[0] + (f" ({', '.join(extras[1:])})" if extras[1:] else "")
