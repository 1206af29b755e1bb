"""channels/twilio_signature.py against Twilio's own `RequestValidator`: the same signatures, and the
same requests accepted and refused (property tests over URLs, ports, repeated fields, tokens)."""
from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from multidict import MultiDict
from twilio.request_validator import RequestValidator

from channels.twilio_signature import SignatureCheck, sign, url_variants

TOKEN = "12345"
URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
# Twilio's documented example (the request-validation page and the official library's tests).
DOC_PARAMS = {"CallSid": "CA1234567890ABCDE", "Caller": "+12349013030", "Digits": "1234",
              "From": "+12349013030", "To": "+18005551212"}
DOC_SIGNATURE = "0/KCTR6DLpKmkAf8muzZqo1nDgQ="

text = st.text(max_size=12)
hosts = st.sampled_from(["example.org", "127.0.0.1", "h", "tocsin.example.edu", "[::1]", "user:pw@host"])
ports = st.sampled_from(["", ":0", ":80", ":443", ":8080", ":65535", ":99999", ":x", ":"])
paths = st.text(alphabet="abc/?&=%;#:+ é", max_size=20)
urls = st.one_of(st.builds(lambda scheme, host, port, path: f"{scheme}://{host}{port}/{path}",
                           st.sampled_from(["http", "https", "ftp"]), hosts, ports, paths),
                 st.text(max_size=30))
pairs = st.lists(st.tuples(st.sampled_from(["Body", "From", "To", "A", "a", "É", ""]) | text, text), max_size=6)
tokens = st.text(min_size=1, max_size=20)


def official_valid(token: str, url: str, params: object, signature: str) -> bool:
    try:
        return RequestValidator(token).validate(url, params, signature)
    except ValueError:  # an unreadable port or text that is not UTF-8: refused here
        return False


def test_twilios_documented_example() -> None:
    assert sign(TOKEN, URL, DOC_PARAMS) == DOC_SIGNATURE
    assert SignatureCheck([TOKEN]).valid(URL, DOC_PARAMS, DOC_SIGNATURE)
    assert SignatureCheck(["other", TOKEN]).valid(URL, list(DOC_PARAMS.items()), DOC_SIGNATURE)
    assert not SignatureCheck(["other"]).valid(URL, DOC_PARAMS, DOC_SIGNATURE)
    assert not SignatureCheck([TOKEN]).valid(URL, {**DOC_PARAMS, "Digits": "1235"}, DOC_SIGNATURE)
    assert not SignatureCheck([TOKEN]).valid(URL, DOC_PARAMS, "")
    assert not SignatureCheck([]).valid(URL, DOC_PARAMS, DOC_SIGNATURE)


def test_ports_as_the_official_validator_reads_them() -> None:
    assert url_variants("https://h/x?d=1") == ("https://h/x?d=1", "https://h:443/x?d=1")
    assert url_variants("http://h:8080/x") == ("http://h:8080/x", "http://h/x")
    assert url_variants("http://h:x/") == ()
    signature = sign(TOKEN, "https://h:443/x", {})
    assert SignatureCheck([TOKEN]).valid("https://h/x", {}, signature)
    assert SignatureCheck([TOKEN]).valid("https://h:443/x", {}, signature)
    assert not SignatureCheck([TOKEN]).valid("https://h:8443/x", {}, signature)


def test_an_empty_token_is_a_mistake() -> None:
    with pytest.raises(ValueError, match="empty"):
        SignatureCheck(["ok", ""])


@given(tokens, urls, st.dictionaries(text, text, max_size=6))
def test_signs_a_form_as_the_official_client(token: str, url: str, params: dict[str, str]) -> None:
    try:
        expected = RequestValidator(token).compute_signature(url, params)
    except UnicodeEncodeError:
        return
    assert sign(token, url, params) == expected


@given(tokens, urls, pairs)
def test_signs_repeated_fields_as_the_official_client(token: str, url: str, fields: list[tuple[str, str]]) -> None:
    try:
        expected = RequestValidator(token).compute_signature(url, MultiDict(fields))
    except UnicodeEncodeError:
        return
    assert sign(token, url, fields) == expected


@given(tokens, tokens, urls, urls, pairs, st.data())
@example(TOKEN, "x", URL, URL, list(DOC_PARAMS.items()), None)
def test_accepts_and_refuses_what_the_official_validator_does(token: str, other: str, url: str, signed_url: str,
                                                             fields: list[tuple[str, str]], data: st.DataObject) -> None:
    variants = url_variants(url)
    candidates = [sign(t, u, f) for t in (token, other) for u in (url, signed_url, *variants)
                  for f in (fields, fields[:-1], fields + fields[:1])
                  if not _unencodable(u, f, t)]
    signatures = candidates + ["", "forged", DOC_SIGNATURE]
    if data is not None:
        signatures.append(data.draw(st.text(max_size=30)))
    for signature in signatures:
        for tokens_now in ([token], [other, token], [other]):
            expected = any(official_valid(t, url, MultiDict(fields), signature) for t in tokens_now)
            assert SignatureCheck(tokens_now).valid(url, fields, signature) == expected, (tokens_now, signature)


def _unencodable(url: str, fields: list[tuple[str, str]], token: str) -> bool:
    try:
        (url + "".join(a + b for a, b in fields) + token).encode("utf-8")
        return False
    except UnicodeEncodeError:
        return True
