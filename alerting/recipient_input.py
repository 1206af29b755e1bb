"""Turning outside data (JSON objects, CSV rows) into checked recipient values.

Nothing here touches the database: every row is checked on its own, so one bad row is reported
with its line and field and never stops the good rows around it.
"""
from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from alerting.contacts import ContactError, normalize_email, normalize_locale, normalize_phone

#: Columns with a meaning of their own; any other CSV column becomes a free attribute.
KNOWN_COLUMNS = ("external_id", "name", "phone", "email", "groups", "locale")
#: CSV columns giving one location per row.
LOCATION_COLUMNS = ("lat", "lon", "location_label")
DEFAULT_LOCATION_LABEL = "home"
MAX_LOCATIONS = 20
GROUP_SEPARATOR = ";"
MAX_EXTERNAL_ID = 200
MAX_NAME = 300


@dataclass
class RecipientInput:
    external_id: str
    name: str | None = None
    phone: str | None = None
    email: str | None = None
    locale: str | None = None
    groups: list[str] | None = None          # None: leave memberships as they are
    attributes: dict[str, Any] | None = None  # None: leave attributes as they are
    locations: list[dict[str, Any]] | None = None  # None: leave locations as they are
    #: True (JSON): `locations` replaces all of the person's locations. False (CSV, one location per
    #: row): each given location replaces only the one with the same label.
    replace_locations: bool = True
    line: int | None = None                   # CSV line, for error reports
    index: int | None = None                  # position in a JSON list, for error reports
    #: Fields present in the input: a field left out keeps its stored value on update.
    given: set[str] = field(default_factory=set)


@dataclass
class RowError:
    message: str
    field: str | None = None
    value: Any = None
    line: int | None = None
    index: int | None = None  # position in a JSON list
    external_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


class RowRejected(Exception):
    def __init__(self, error: RowError):
        super().__init__(error.message)
        self.error = error


def _text(value: Any, field_name: str, limit: int) -> str:
    if not isinstance(value, str):
        raise RowRejected(RowError(f"{field_name} must be text", field=field_name, value=value))
    value = value.strip()
    if len(value) > limit:
        raise RowRejected(RowError(f"{field_name} is longer than {limit} characters", field=field_name))
    return value


def parse_recipient(data: Mapping[str, Any], *, line: int | None = None) -> RecipientInput:
    """Check one recipient; raise RowRejected naming the field and value at fault."""
    if not isinstance(data, Mapping):
        raise RowRejected(RowError("each recipient must be a JSON object"))
    raw_id = data.get("external_id")
    if isinstance(raw_id, int) and not isinstance(raw_id, bool):
        raw_id = str(raw_id)  # student and employee numbers often arrive as JSON numbers
    external_id = "" if raw_id is None else _text(raw_id, "external_id", MAX_EXTERNAL_ID)
    if not external_id:
        raise RowRejected(RowError("external_id is required", field="external_id"))
    result = RecipientInput(external_id=external_id, line=line)
    for name, normalize in (("phone", normalize_phone), ("email", normalize_email), ("locale", normalize_locale)):
        if name not in data:
            continue
        result.given.add(name)
        raw = data[name]
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            continue  # given as empty: clears the stored value (locale falls back to "en")
        try:
            setattr(result, name, normalize(_text(raw, name, 320)))
        except ContactError as exc:
            raise RowRejected(RowError(str(exc), field=name, value=raw, external_id=external_id)) from None
    if "name" in data:
        result.given.add("name")
        result.name = _text(data["name"] or "", "name", MAX_NAME)
    if "groups" in data:
        result.given.add("groups")
        result.groups = _parse_groups(data["groups"], external_id)
    if "locations" in data:
        result.given.add("locations")
        result.locations = parse_locations(data["locations"], external_id)
    if "attributes" in data:
        attrs = data["attributes"]
        if attrs is not None and not isinstance(attrs, Mapping):
            raise RowRejected(RowError("attributes must be an object", field="attributes", external_id=external_id))
        result.given.add("attributes")
        result.attributes = dict(attrs or {})
    return result


def _coordinate(value: Any, name: str, limit: float, path: str, external_id: str) -> float:
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            pass
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value or abs(value) > limit:
        raise RowRejected(RowError(f"{name} must be a number from -{limit:g} to {limit:g}", field=path,
                                   value=value, external_id=external_id))
    return float(value)


def parse_locations(raw: Any, external_id: str) -> list[dict[str, Any]]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise RowRejected(RowError('locations must be a list of {"label", "lat", "lon"}', field="locations",
                                   external_id=external_id))
    if len(raw) > MAX_LOCATIONS:
        raise RowRejected(RowError(f"at most {MAX_LOCATIONS} locations per person", field="locations",
                                   external_id=external_id))
    locations, labels = [], set()
    for i, item in enumerate(raw):
        path = f"locations[{i}]"
        if not isinstance(item, Mapping):
            raise RowRejected(RowError("each location must be an object", field=path, external_id=external_id))
        label = item.get("label") or DEFAULT_LOCATION_LABEL
        if not isinstance(label, str) or len(label.strip()) > 50:
            raise RowRejected(RowError("label must be text of at most 50 characters", field=f"{path}.label",
                                       external_id=external_id))
        label = label.strip().lower()
        if label in labels:
            raise RowRejected(RowError(f"two locations are labelled {label!r}", field=f"{path}.label",
                                       external_id=external_id))
        labels.add(label)
        locations.append({"label": label,
                          "lat": _coordinate(item.get("lat"), "lat", 90, f"{path}.lat", external_id),
                          "lon": _coordinate(item.get("lon"), "lon", 180, f"{path}.lon", external_id)})
    return locations


def _parse_groups(raw: Any, external_id: str) -> list[str]:
    if raw is None:
        return []
    if isinstance(raw, str):
        names = raw.split(GROUP_SEPARATOR)
    elif isinstance(raw, list) and all(isinstance(n, str) for n in raw):
        names = raw
    else:
        raise RowRejected(RowError("groups must be a list of group names", field="groups", value=raw,
                                   external_id=external_id))
    seen: dict[str, None] = {}
    for name in names:
        if name.strip():
            seen[name.strip()] = None
    return list(seen)


def parse_csv(body: bytes) -> tuple[list[RecipientInput], list[RowError]]:
    """Read a CSV export (header row first). Line numbers are the file's: the header is line 1."""
    rows, errors = [], []
    for item in iter_csv(body):
        (rows if isinstance(item, RecipientInput) else errors).append(item)
    return rows, errors


def iter_csv(body: bytes) -> Iterator[RecipientInput | RowError]:
    """`parse_csv` one record at a time, in file order (a background import checks rows as it
    goes, so its progress moves from the start). A file-wide fault raises RowRejected at once."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise RowRejected(RowError(f"the file is not UTF-8 text (byte {exc.start})")) from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        raise RowRejected(RowError("the file is empty: a header row is required", line=1)) from None
    except csv.Error as exc:
        raise RowRejected(RowError(f"the header row is not valid CSV ({exc})", line=1)) from None
    if "external_id" not in header:
        raise RowRejected(RowError("the header has no external_id column", line=1, value=",".join(header)))
    duplicates = sorted({h for h in header if header.count(h) > 1})
    if duplicates:
        raise RowRejected(RowError(f"the header repeats column(s) {', '.join(duplicates)}", line=1))
    return _records(reader, header)


def _records(reader: Any, header: list[str]) -> Iterator[RecipientInput | RowError]:
    for line, values in _numbered_rows(reader):
        if isinstance(values, RowError):
            yield values
            continue
        if not any(v.strip() for v in values):
            continue  # blank line
        if len(values) != len(header):
            yield RowError(f"has {len(values)} fields; the header has {len(header)}", line=line)
            continue
        record: dict[str, Any] = {}
        extra, place = {}, {}
        for column, value in zip(header, values):
            if column in KNOWN_COLUMNS:
                record[column] = value
            elif column in LOCATION_COLUMNS:
                place[column] = value.strip()
            elif column:
                extra[column] = value.strip()
        if extra:
            record["attributes"] = extra
        try:
            if place.get("lat") or place.get("lon"):
                record["locations"] = [{"label": place.get("location_label"), "lat": place.get("lat"),
                                        "lon": place.get("lon")}]
            row = parse_recipient(record, line=line)
            row.replace_locations = False
            yield row
        except RowRejected as exc:
            exc.error.line = line
            if exc.error.field and exc.error.field.startswith("locations[0]."):
                exc.error.field = exc.error.field.removeprefix("locations[0].").replace("label", "location_label")
            yield exc.error


def _numbered_rows(reader: Any) -> Iterator[tuple[int, list[str] | RowError]]:
    """Yield (first line of the record, fields); a record broken beyond reading yields its error instead."""
    while True:
        start = reader.line_num + 1
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield start, RowError(f"is not valid CSV ({exc})", line=start)
            continue
        yield start, values
