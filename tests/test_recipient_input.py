"""CSV and JSON recipient parsing: each bad row reported with its line and field, good rows kept."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alerting.recipient_input import RowRejected, parse_csv, parse_recipient

HEADER = "external_id,name,phone,email,groups,locale\n"


def test_good_rows_are_normalised() -> None:
    rows, errors = parse_csv((HEADER + "s1,Ann Lee,(202) 555-0143,Ann@Example.ORG,Staff; Chemistry ,es_MX\n").encode())
    assert errors == []
    (row,) = rows
    assert (row.external_id, row.name, row.phone, row.email, row.groups, row.locale) == (
        "s1", "Ann Lee", "+12025550143", "Ann@example.org", ["Staff", "Chemistry"], "es-MX")
    assert row.line == 2


def test_bad_rows_name_their_line_field_and_value_and_do_not_stop_good_ones() -> None:
    body = (HEADER
            + "s1,Ann,+12025550143,,Staff,en\n"
            + "s2,Bob,12,,Staff,en\n"            # line 3: bad phone
            + "s3,Cy,,not-an-email,Staff,en\n"   # line 4: bad email
            + ",Dee,,,Staff,en\n"                # line 5: no external_id
            + "s6,Eve\n"                         # line 6: too few fields
            + "s7,\"Multi\nline\",,,Staff,en\n"  # lines 7-8: one record
            + "s9,Fay,,,Staff,xx_123456789\n"    # line 9: bad locale
            + "s10,Gus,+12025550199,,Staff,en\n")
    rows, errors = parse_csv(body.encode())
    assert [r.external_id for r in rows] == ["s1", "s7", "s10"]
    assert [r.line for r in rows] == [2, 7, 10]
    found = {(e.line, e.field) for e in errors}
    assert found == {(3, "phone"), (4, "email"), (5, "external_id"), (6, None), (9, "locale")}
    phone_error = next(e for e in errors if e.line == 3)
    assert phone_error.value == "12" and "digits" in phone_error.message


def test_extra_columns_become_attributes_and_bom_is_ignored() -> None:
    rows, errors = parse_csv(("\ufeff" + "External_ID,Name,Building\nx1,Al,B12\n").encode())
    assert errors == [] and rows[0].attributes == {"building": "B12"} and rows[0].groups is None


@pytest.mark.parametrize("body, message", [
    (b"", "empty"),
    (b"name,phone\nAl,+12025550143\n", "no external_id column"),
    (b"external_id,name,name\nx,a,b\n", "repeats"),
    (b"external_id,name\n\xff\xfe,x\n", "not UTF-8"),
])
def test_files_that_cannot_be_read_at_all_say_why(body: bytes, message: str) -> None:
    with pytest.raises(RowRejected) as caught:
        parse_csv(body)
    assert message in caught.value.error.message


def test_json_recipient_checks_types() -> None:
    assert parse_recipient({"external_id": 12345, "phone": "+442079460958"}).external_id == "12345"
    for bad, field in [({"external_id": "a", "groups": 5}, "groups"), ({"external_id": "a", "phone": "abc"}, "phone"),
                       ({"external_id": "a", "attributes": [1]}, "attributes"), ({"name": "no id"}, "external_id")]:
        with pytest.raises(RowRejected) as caught:
            parse_recipient(bad)
        assert caught.value.error.field == field


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400))
def test_any_bytes_give_rows_or_a_clear_rejection_never_a_crash(body: bytes) -> None:
    try:
        rows, errors = parse_csv(body)
    except RowRejected as exc:
        assert exc.error.message
        return
    for row in rows:
        assert row.external_id and (row.phone is None or row.phone.startswith("+"))
    assert all(e.message and e.line for e in errors)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.text(max_size=15), min_size=6, max_size=6), max_size=8))
def test_any_text_rows_parse_without_crashing(rows: list[list[str]]) -> None:
    import csv
    import io
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["external_id", "name", "phone", "email", "groups", "locale"])
    writer.writerows(rows)
    good, errors = parse_csv(out.getvalue().encode())
    assert len(good) + len(errors) <= len(rows)
