"""Small builders shared by tests."""
from __future__ import annotations

import csv
import io


def phone(n: int) -> str:
    """A valid, fictional US number for person n (202-555-xxxx: every one passes phonenumbers)."""
    return f"+1202555{n:04d}"


def people_csv(count: int, groups: str = "Everyone", start: int = 0) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["external_id", "name", "phone", "email", "groups", "locale"])
    for n in range(start, start + count):
        writer.writerow([f"P{n:05d}", f"Person {n}", phone(n), f"p{n}@example.org", groups, "en"])
    return out.getvalue().encode()
