"""How many SMS segments a text costs: GSM-7 when every character fits, UCS-2 otherwise.

GSM 03.38: 160 septets in one segment, 153 per segment when concatenated (the user-data header
takes 7); characters of the extension table (€, [, ], {, }, ^, ~, \\, |) take two septets and are
never split across segments. UCS-2: 70 UTF-16 units, 67 when concatenated; characters outside
the BMP (most emoji) take two units and are never split either.
"""
from __future__ import annotations

from dataclasses import dataclass

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
GSM7_EXTENDED = frozenset("^{}\\[~]|€\f")


@dataclass(frozen=True)
class SegmentCount:
    encoding: str   # "GSM-7" or "UCS-2"
    segments: int
    units: int      # septets (GSM-7) or UTF-16 code units (UCS-2)
    #: Characters forcing UCS-2, so the operator can replace them (a curly quote costs half the room).
    non_gsm: tuple[str, ...] = ()


def _pack(sizes: list[int], single: int, multi: int) -> int:
    """Segments needed for characters of the given sizes, never splitting a character."""
    if sum(sizes) <= single:
        return 1 if sizes else 0
    segments, room = 1, multi
    for size in sizes:
        if size > room:
            segments, room = segments + 1, multi
        room -= size
    return segments


def count_segments(text: str) -> SegmentCount:
    non_gsm = tuple(dict.fromkeys(c for c in text if c not in GSM7_BASIC and c not in GSM7_EXTENDED))
    if not non_gsm:
        sizes = [2 if c in GSM7_EXTENDED else 1 for c in text]
        return SegmentCount("GSM-7", _pack(sizes, 160, 153), sum(sizes))
    sizes = [2 if ord(c) > 0xFFFF else 1 for c in text]
    return SegmentCount("UCS-2", _pack(sizes, 70, 67), sum(sizes), non_gsm)
