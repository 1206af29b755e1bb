"""SMS segment counting, checked against the GSM 03.38 / 3GPP 23.040 limits."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from channels.segments import count_segments


@pytest.mark.parametrize("text, encoding, segments", [
    ("", "GSM-7", 0), ("a" * 160, "GSM-7", 1), ("a" * 161, "GSM-7", 2), ("a" * 306, "GSM-7", 2),
    ("a" * 307, "GSM-7", 3), ("€" * 80, "GSM-7", 1), ("€" * 81, "GSM-7", 2),
    ("a" * 152 + "€" + "a" * 10, "GSM-7", 2),  # the € does not fit in 153 and moves whole
    ("é" * 160, "GSM-7", 1), ("ç" * 70, "UCS-2", 1), ("ç" * 71, "UCS-2", 2), ("a" * 134 + "’", "UCS-2", 3),
    ("🙂" * 35, "UCS-2", 1), ("🙂" * 36, "UCS-2", 2),
])
def test_known_lengths(text: str, encoding: str, segments: int) -> None:
    result = count_segments(text)
    assert (result.encoding, result.segments) == (encoding, segments)


def test_non_gsm_characters_are_named() -> None:
    assert count_segments("Don’t go – stay").non_gsm == ("’", "–")


@given(st.text(max_size=2000))
def test_segments_hold_the_text(text: str) -> None:
    result = count_segments(text)
    per = (160 if result.segments <= 1 else 153) if result.encoding == "GSM-7" else (70 if result.segments <= 1 else 67)
    assert result.units <= per * result.segments
    assert (result.segments == 0) == (text == "")
