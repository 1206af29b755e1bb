"""WEA-sized texts: 90 characters (the original Wireless Emergency Alerts limit) and 360 (WEA 3.0).

A long CAP text is cut at the last sentence that fits; when not even the first sentence fits, at
the last whole word, with an ellipsis. Never mid-word.
"""
from __future__ import annotations

import re

LIMITS = (90, 360)
ELLIPSIS = "…"
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_SPACES = re.compile(r"\s+")


def shorten(text: str, limit: int) -> str:
    """`text` in at most `limit` characters, cut at a sentence end, else at a word boundary."""
    text = _SPACES.sub(" ", text).strip()
    if len(text) <= limit:
        return text
    kept = ""
    for sentence in _SENTENCE_END.split(text):
        candidate = f"{kept} {sentence}".strip()
        if len(candidate) > limit:
            break
        kept = candidate
    if kept:
        return kept
    cut = text[:limit - len(ELLIPSIS) + 1]
    if " " in cut:
        cut = cut[:cut.rindex(" ")]
    else:  # one word longer than the limit: nothing sensible to keep but its start
        cut = cut[:limit - len(ELLIPSIS)]
    return cut.rstrip(" ,;:-") + ELLIPSIS


def short_texts(headline: str, message: str, instruction: str | None = None) -> dict[str, str]:
    """{"90": ..., "360": ...} for a message longer than 360 characters; only the 90 when it is between.
    The 90 favours the instruction (what to do) after the headline, when both fit."""
    result: dict[str, str] = {}
    if len(message) > 360:
        result["360"] = shorten(message, 360)
    if len(message) > 90:
        action = f"{headline.rstrip('.')}. {instruction}" if instruction else headline
        short = shorten(action, 90)
        result["90"] = short if not short.endswith(ELLIPSIS) or not instruction else shorten(headline, 90)
    return result
