"""The TwiML the console writes is the official VoiceResponse's, character for character."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from twilio.twiml.voice_response import VoiceResponse

from console import voice_twiml as twiml

texts = st.text(st.characters(blacklist_categories=("Cs",)), max_size=200)
languages = st.sampled_from(["en-US", "fr-CA", "es-MX", 'x"<&>\t\r\n'])


@settings(max_examples=300, deadline=None)
@given(said=texts, prompt=texts, bye=texts, action=texts, language=languages, loop=st.none() | st.integers(0, 3),
       timeout=st.integers(0, 60))
def test_a_gather_document(said: str, prompt: str, bye: str, action: str, language: str, loop: int | None,
                           timeout: int) -> None:
    official = VoiceResponse()
    gather = official.gather(num_digits=1, action=action, method="POST", timeout=timeout)
    gather.say(said, language=language, loop=loop)
    gather.say(prompt, language=language)
    official.say(bye, language=language)
    official.hangup()
    ours = twiml.response(
        twiml.gather(twiml.say(said, language=language, loop=loop), twiml.say(prompt, language=language),
                     num_digits=1, action=action, method="POST", timeout=timeout),
        twiml.say(bye, language=language), twiml.hangup())
    assert ours == str(official)


@settings(max_examples=100, deadline=None)
@given(url=texts, said=texts, language=languages)
def test_redirect_say_and_the_empty_document(url: str, said: str, language: str) -> None:
    official = VoiceResponse()
    official.redirect(url, method="POST")
    assert twiml.response(twiml.redirect(url, method="POST")) == str(official)
    official = VoiceResponse()
    official.say(said, language=language, loop=2)
    official.hangup()
    assert twiml.response(twiml.say(said, language=language, loop=2), twiml.hangup()) == str(official)
    assert twiml.response() == str(VoiceResponse())
