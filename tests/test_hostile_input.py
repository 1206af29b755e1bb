"""Hostile input, property-based: whatever arrives, the parsers answer with a value or their own
named error, never a crash, and values put into templates stay data.

Elsewhere: SMS replies (test_replies_parse.py), CSV rows and bytes (test_recipient_input.py),
GeoJSON shapes (test_geo_bad_input.py), CAP XML (test_cap_parse.py)."""
from __future__ import annotations

import json
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alerting import personalize, templates
from alerting.contacts import ContactError, normalize_email, normalize_phone
from alerting.errors import ValidationError
from alerting.recipient_input import parse_csv
from alerting.replies import Intent, classify
from geo.cap import from_cap_circle, from_cap_polygon
from geo.errors import GeofenceError
from geo.geojson import from_geojson

HOSTILE_TEXT = st.one_of(
    st.text(max_size=300),
    st.sampled_from(["{name}", "{{name}}", "${name}", "{0.__class__}", "{name!r}", "%(name)s", "{{7*7}}", "{% x %}",
                     "{first_name}{zone}", "\x00", "\u202e", "=HYPERLINK(\"x\")", "<script>", "\r\n", "{", "}"]),
)


@given(st.text(max_size=60))
def test_any_phone_text_is_e164_or_a_contact_error(raw: str) -> None:
    try:
        phone = normalize_phone(raw)
    except ContactError:
        return
    assert re.fullmatch(r"\+[1-9]\d{6,14}", phone), phone
    assert normalize_phone(phone) == phone  # normalising is stable


@given(st.text(max_size=120))
def test_any_email_text_is_an_address_or_a_contact_error(raw: str) -> None:
    try:
        email = normalize_email(raw)
    except ContactError:
        return
    assert "@" in email and not any(c in email for c in "\r\n\x00 ")


@given(st.dictionaries(st.sampled_from(["title", "place", "time", "name", "zone"]), HOSTILE_TEXT, min_size=3))
def test_template_values_are_data_never_expanded(values: dict[str, str]) -> None:
    values = {"place": "", "time": "", **values}
    text = "Alert at {place} ({time})."
    filled = templates.fill(text, values)
    assert filled == f"Alert at {values['place']} ({values['time']})."


@given(HOSTILE_TEXT, HOSTILE_TEXT, HOSTILE_TEXT)
def test_personal_values_are_data_never_expanded(first: str, name: str, zone: str) -> None:
    filled = personalize.fill("{first_name}: go to {zone}. Signed {name}", {"first_name": first, "name": name,
                                                                          "zone": zone})
    if first and name and zone:
        assert filled == f"{first}: go to {zone}. Signed {name}"
    # A value is never scanned again: placeholders it carries come out as written.
    for value in (first, name, zone):
        if value:
            assert value in filled


@given(st.text(max_size=200))
def test_templates_only_name_lowercase_placeholders(text: str) -> None:
    for name in templates.placeholders(text):
        assert re.fullmatch(r"[a-z][a-z0-9_]{0,39}", name)


@given(st.text(max_size=300))
def test_any_reply_is_classified(text: str) -> None:
    assert isinstance(classify(text), Intent)


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
                    lambda children: st.lists(children, max_size=5) | st.dictionaries(
                        st.sampled_from(["type", "coordinates", "geometry", "features", "geometries", "x"]),
                        children, max_size=4), max_leaves=40)


@settings(suppress_health_check=[HealthCheck.too_slow], max_examples=200)
@given(JSON)
def test_any_json_is_an_area_or_a_named_error(obj: object) -> None:
    try:
        from_geojson(obj)
    except (GeofenceError, ValidationError):
        pass


@given(st.one_of(st.text(max_size=200), st.integers(), st.none(), st.lists(st.text(max_size=5), max_size=3)))
def test_any_cap_polygon_or_circle_text_is_an_area_or_a_named_error(text: object) -> None:
    for parse in (from_cap_polygon, from_cap_circle):
        try:
            parse(text)
        except (GeofenceError, ValidationError):
            pass


def test_deeply_nested_geojson_is_refused_not_a_recursion_crash() -> None:
    deep: object = [[-77.0, 38.0]]
    for _ in range(5000):
        deep = [deep]
    with pytest.raises((GeofenceError, ValidationError)):
        from_geojson({"type": "Polygon", "coordinates": deep})


def test_csv_with_formula_and_control_characters_is_kept_as_text() -> None:
    body = (b'external_id,name,phone\nX1,"=HYPERLINK(""http://evil.example"")",+12025550100\n'
            b'X2,"a\x00b",+12025550101\n')
    people, errors = parse_csv(body)
    by_id = {p.external_id: p for p in people}
    assert by_id["X1"].name.startswith("=HYPERLINK")  # stored as written: exports must neutralise it
    assert all(e.line for e in errors)


@given(st.text(max_size=300).map(lambda t: json.dumps({"x": t})))
def test_json_strings_in_csv_cells_parse(cell: str) -> None:
    body = f'external_id,name\nX1,"{cell.replace(chr(34), chr(34) * 2)}"\n'.encode("utf-8", "surrogatepass")
    try:
        parse_csv(body)
    except ValidationError:
        pass
