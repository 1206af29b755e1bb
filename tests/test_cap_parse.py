"""Reading CAP safely: pure code, plain values, no fixtures (alerting/cap/parse.py)."""
from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from alerting.cap.errors import CapError, CapSchemaError, CapTooLarge, CapUnsafe
from alerting.cap.parse import MAX_DOCUMENT_BYTES, parse
from alerting.cap.short import ELLIPSIS, short_texts, shorten

DOCS = Path(__file__).parent / "cap_documents"
EXAMPLES = Path(__file__).parents[2] / "shared" / "standards" / "examples"
if not EXAMPLES.is_dir():  # a checkout beside shared/ (CI) or the workplace's own
    EXAMPLES = Path("/work/shared/standards/examples")


def doc(name: str) -> bytes:
    return (DOCS / name).read_bytes()


def minimal(info: str = "", *, encoding: str = "UTF-8", extra: str = "", ns: str = "1.2") -> str:
    return (f'<?xml version="1.0" encoding="{encoding}"?>\n'
            f'<alert xmlns="urn:oasis:names:tc:emergency:cap:{ns}"><identifier>T-1</identifier>'
            f'<sender>test@example.org</sender><sent>2026-11-23T10:00:00+00:00</sent><status>Actual</status>'
            f'<msgType>Alert</msgType><scope>Public</scope>{extra}{info}</alert>')


def info_with(area: str = "", headline: str = "Test") -> str:
    return (f"<info><category>Safety</category><event>Test</event><urgency>Immediate</urgency>"
            f"<severity>Severe</severity><certainty>Observed</certainty><headline>{headline}</headline>"
            f"<area><areaDesc>Somewhere</areaDesc>{area}</area></info>")


def test_shared_examples_parse():
    storm = parse((EXAMPLES / "thunderstorm.cap").read_bytes()).message
    assert (storm.identifier, storm.sender, storm.msgType) == ("KSTO1055887203", "KSTO@NWS.NOAA.GOV", "Alert")
    info = storm.info[0]
    assert (info.event, info.urgency, info.severity, info.certainty) == ("SEVERE THUNDERSTORM", "Immediate",
                                                                         "Severe", "Observed")
    assert info.area[0].polygon == ["38.47,-120.14 38.34,-119.95 38.52,-119.74 38.62,-119.89 38.47,-120.14"]
    assert ["SAME", "006109"] in info.area[0].geocode
    tsunami = parse((EXAMPLES / "tsunami-update.cap").read_bytes()).message
    assert tsunami.msgType == "Update"
    assert tsunami.reference_keys() == [("PAAQ", "PAAQ-1-lqw6d6", "2011-09-02T10:55:55-00:00")]
    assert len(tsunami.info[0].parameter) > 10 and len(tsunami.info[0].resource) == 3


def test_several_languages_polygon_and_circle():
    message = parse(doc("campus-multilang.cap")).message
    assert [i.lang for i in message.info] == ["en", "es", "fr"]
    assert message.info[0].area[0].polygon and message.info[0].area[1].circle == ["38.90605,-77.07035 0.12"]
    assert message.info[1].instruction.startswith("Refúgiese")


@pytest.mark.parametrize("name", ["dtd-external-entity.cap", "billion-laughs.cap"])
def test_dtd_and_entities_are_refused_never_resolved(name: str):
    with pytest.raises(CapUnsafe) as caught:
        parse(doc(name))
    assert "DOCTYPE" in str(caught.value)
    assert "root:" not in str(caught.value)  # nothing of /etc/passwd


def test_xinclude_is_refused():
    with pytest.raises(CapUnsafe, match="XInclude"):
        parse(doc("xinclude.cap"))


def test_oversized_document_is_refused_before_parsing():
    padding = "x" * (MAX_DOCUMENT_BYTES + 10)
    with pytest.raises(CapTooLarge, match="at most 1,048,576"):
        parse(minimal(extra=f"<note>{padding}</note>"))


def test_deep_nesting_is_refused_before_validation():
    deep = "<a>" * 50_000 + "</a>" * 50_000
    with pytest.raises(CapError, match="more than 16 deep"):
        parse(minimal(extra=f"<note>{deep}</note>"))


@pytest.mark.parametrize("encoding", ["ISO-8859-1", "windows-1252", "UTF-16", "Shift_JIS"])
def test_encodings_declared_in_the_prolog(encoding: str):
    text = minimal(info_with(headline="Évacuez le bâtiment"), encoding=encoding)
    if encoding == "Shift_JIS":
        text = text.replace("Évacuez le bâtiment", "避難してください")
    message = parse(text.encode(encoding)).message
    assert message.info[0].headline in ("Évacuez le bâtiment", "避難してください")


def test_bad_encoding_declarations():
    with pytest.raises(CapError, match="unknown encoding 'klingon'"):
        parse(minimal(encoding="klingon").encode())
    with pytest.raises(CapError, match="unknown encoding 'rot13'"):
        parse(minimal(encoding="rot13").encode())
    with pytest.raises(CapError, match="not valid UTF-8"):  # Latin-1 bytes, UTF-8 declared
        parse(minimal(info_with(headline="Évacuez")).encode("latin-1"))
    with pytest.raises(CapError, match="(not valid|does not read as XML in) UTF-16"):
        parse(minimal(encoding="UTF-16").encode("utf-8"))


def test_schema_errors_name_the_element_path():
    bad = minimal(info_with()).replace("<urgency>Immediate", "<urgency>Soonish")
    with pytest.raises(CapSchemaError) as caught:
        parse(bad)
    assert caught.value.field == "/alert/info[1]/urgency[1]"
    assert "Immediate" in caught.value.message  # the allowed values
    missing = minimal().replace("<scope>Public</scope>", "")
    with pytest.raises(CapSchemaError) as caught:
        parse(missing)
    assert caught.value.field.startswith("/alert") and caught.value.errors


def test_not_cap():
    with pytest.raises(CapError, match="root element is 'rss'"):
        parse("<rss version='2.0'/>")
    with pytest.raises(CapError, match="not well-formed"):
        parse("<alert")


def test_unclosed_polygon_is_refused_with_its_path():
    area = "<polygon>38.90,-77.07 38.91,-77.07 38.91,-77.06 38.90,-77.06</polygon>"
    with pytest.raises(CapError) as caught:
        parse(minimal(info_with(area)))
    assert caught.value.field == "/alert/info[1]/area[1]/polygon[1]"
    assert "not closed" in caught.value.message


def test_three_point_polygon_is_refused():
    area = "<polygon>38.90,-77.07 38.91,-77.07 38.90,-77.07</polygon>"
    with pytest.raises(CapError, match="at least 4 lat,lon pairs") as caught:
        parse(minimal(info_with(area)))
    assert caught.value.field == "/alert/info[1]/area[1]/polygon[1]"


def test_bad_circle_names_its_path():
    with pytest.raises(CapError) as caught:
        parse(minimal(info_with("<circle>38.9,-77.07</circle>")))
    assert caught.value.field == "/alert/info[1]/area[1]/circle[1]"


def test_cap_11_is_read_as_12():
    parsed = parse(doc("cap11-circle.cap"))
    assert parsed.message.version == "1.1"
    assert parsed.message.info[0].certainty == "Likely"
    assert any("Very Likely" in w for w in parsed.warnings)


def test_update_without_references_warns():
    text = minimal(info_with()).replace("<msgType>Alert", "<msgType>Update")
    assert any("without references" in w for w in parse(text).warnings)


@settings(max_examples=300)
@given(st.one_of(st.text(max_size=400), st.binary(max_size=400),
                 st.text(max_size=200).map(lambda t: minimal(info_with(headline="x")).replace("Test", t[:50], 1))))
def test_arbitrary_input_only_raises_cap_errors(data):
    try:
        parse(data)
    except CapError as exc:
        assert exc.message and exc.field


@settings(max_examples=200)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=600), st.sampled_from([90, 360]))
def test_short_texts_fit_and_never_cut_a_word(text: str, limit: int):
    short = shorten(text, limit)
    assert len(short) <= limit
    words = set(" ".join(text.split()).split(" "))
    for word in short.removesuffix(ELLIPSIS).split():
        assert word in words or short.endswith(ELLIPSIS) and word == short.removesuffix(ELLIPSIS).split()[-1] \
            and any(w.startswith(word) for w in words)


def test_short_texts_cut_at_sentences():
    message = ("The storm will cross the west side of campus within ten minutes. " * 8).strip()
    texts = short_texts("Tornado warning", message, "Take shelter now in a basement.")
    assert texts["90"] == "Tornado warning. Take shelter now in a basement."
    assert len(texts["360"]) <= 360 and texts["360"].endswith("minutes.")
    assert short_texts("Short", "Short message.") == {}
