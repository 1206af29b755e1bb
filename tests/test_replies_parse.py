"""What a reply means: keywords in English, Spanish and French; anything else is an acknowledgement."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alerting.replies import Intent, classify, normalize_reply


@pytest.mark.parametrize("text, intent", [
    ("SAFE", Intent.SAFE), ("safe", Intent.SAFE), (" Safe. ", Intent.SAFE), ("OK", Intent.SAFE), ("1", Intent.SAFE),
    ("I'm safe!", Intent.SAFE), ("estoy bien", Intent.SAFE), ("Je suis en sécurité", Intent.SAFE),
    ("HELP", Intent.NEED_HELP), ("help!", Intent.NEED_HELP), ("2", Intent.NEED_HELP), ("Ayuda", Intent.NEED_HELP),
    ("au secours", Intent.NEED_HELP), ("J'ai besoin d'aide", Intent.NEED_HELP),
    ("STOP", Intent.STOP), ("unsubscribe", Intent.STOP), ("Arrêt", Intent.STOP),
    ("START", Intent.START), ("unstop", Intent.START),
    ("I am at the library", Intent.OTHER), ("12", Intent.OTHER), ("", Intent.OTHER), ("stop the water", Intent.OTHER),
])
def test_keywords(text: str, intent: Intent) -> None:
    assert classify(text) == intent


@given(st.text(max_size=200))
def test_any_text_is_classified_and_normalisation_is_stable(text: str) -> None:
    assert classify(text) in set(Intent)
    once = normalize_reply(text)
    assert normalize_reply(once) == once
