"""A CAP message as typed values: what `parse` reads, what `export` writes, what `Alert.cap` stores.

Field names are CAP's own (camelCase as in the standard), so the JSON kept on an alert reads like
the document. Name/value pairs (eventCode, parameter, geocode) are `[name, value]` lists.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

NS_12 = "urn:oasis:names:tc:emergency:cap:1.2"
NS_11 = "urn:oasis:names:tc:emergency:cap:1.1"
NAMESPACES = {NS_12: "1.2", NS_11: "1.1"}

Pair = list[str]  # [valueName, value]


@dataclass
class CapArea:
    areaDesc: str
    polygon: list[str] = field(default_factory=list)   # "lat,lon lat,lon ..." (closed, >= 4 pairs)
    circle: list[str] = field(default_factory=list)    # "lat,lon radius_km"
    geocode: list[Pair] = field(default_factory=list)
    altitude: str | None = None
    ceiling: str | None = None

    @property
    def has_geometry(self) -> bool:
        return bool(self.polygon or self.circle)


@dataclass
class CapResource:
    resourceDesc: str
    mimeType: str
    size: str | None = None
    uri: str | None = None
    derefUri: str | None = None
    digest: str | None = None


@dataclass
class CapInfo:
    category: list[str]
    event: str
    urgency: str
    severity: str
    certainty: str
    language: str = "en-US"
    responseType: list[str] = field(default_factory=list)
    audience: str | None = None
    eventCode: list[Pair] = field(default_factory=list)
    effective: str | None = None
    onset: str | None = None
    expires: str | None = None
    senderName: str | None = None
    headline: str | None = None
    description: str | None = None
    instruction: str | None = None
    web: str | None = None
    contact: str | None = None
    parameter: list[Pair] = field(default_factory=list)
    resource: list[CapResource] = field(default_factory=list)
    area: list[CapArea] = field(default_factory=list)

    @property
    def lang(self) -> str:
        """The two-letter language code ("en" for "en-US"), as Tocsin's translations use."""
        return (self.language or "en").split("-")[0].lower()[:2]


@dataclass
class CapMessage:
    identifier: str
    sender: str
    sent: str
    status: str
    msgType: str
    scope: str
    source: str | None = None
    restriction: str | None = None
    addresses: str | None = None
    code: list[str] = field(default_factory=list)
    note: str | None = None
    references: str | None = None
    incidents: str | None = None
    info: list[CapInfo] = field(default_factory=list)
    version: str = "1.2"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "CapMessage":
        """Back from `to_json` (unknown keys ignored, so older stored copies still load)."""
        infos = [_build(CapInfo, {**i, "resource": [_build(CapResource, r) for r in i.get("resource", [])],
                                  "area": [_build(CapArea, a) for a in i.get("area", [])]})
                 for i in data.get("info", [])]
        return _build(cls, {**data, "info": infos})

    def reference_keys(self) -> list[tuple[str, str, str]]:
        """`references` as (sender, identifier, sent) triples; malformed entries are skipped."""
        result = []
        for item in (self.references or "").split():
            parts = item.split(",")
            if len(parts) == 3 and all(parts):
                result.append((parts[0], parts[1], parts[2]))
        return result


def _build(cls: type, data: dict[str, Any]) -> Any:
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in names})
