"""A small demo organisation for `make run`: a campus with groups and a few hundred people.

Deterministic (a fixed seed), so every demo shows the same people; re-running changes nothing.
Phone numbers are in the 555-01xx style fictional range, and emails at example.edu (RFC 2606).
"""
from __future__ import annotations

import random

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from alerting import directory
from alerting.models import Recipient
from alerting.recipient_input import RecipientInput

GROUPS = {
    "Students": "Everyone enrolled this term",
    "Faculty": "Teaching and research staff",
    "Staff": "Administrative and facilities staff",
    "Residence Halls": "Students living on campus",
    "Chemistry Building": "People who work or study in the chemistry building",
    "Emergency Response Team": "Campus police, EHS and building wardens",
}
FIRST = ["Ana", "Ben", "Chloé", "Dmitri", "Esther", "Farid", "Grace", "Hiro", "Ines", "Jamal", "Kai", "Lucía",
         "Mateo", "Nadia", "Omar", "Priya", "Quinn", "Rosa", "Sami", "Tariq", "Uma", "Victor", "Wen", "Yara", "Zoe"]
LAST = ["Adams", "Bauer", "Chen", "Diaz", "Evans", "Fischer", "García", "Haddad", "Ito", "Johnson", "Kowalski",
        "Lefebvre", "Martin", "Nguyen", "Okafor", "Patel", "Rossi", "Silva", "Tanaka", "Usman", "Vargas", "Wright"]
PEOPLE = 300


def demo_people(count: int = PEOPLE, seed: int = 1969) -> list[RecipientInput]:
    rng = random.Random(seed)
    people = []
    for n in range(count):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        role = "Students" if n < 200 else ("Faculty" if n < 250 else "Staff")
        groups = [role]
        if role == "Students" and rng.random() < 0.5:
            groups.append("Residence Halls")
        if rng.random() < 0.12:
            groups.append("Chemistry Building")
        if role != "Students" and rng.random() < 0.15:
            groups.append("Emergency Response Team")
        locale = rng.choices(["en", "es", "fr"], weights=[80, 15, 5])[0]
        ident = f"{role[0]}{n + 1:04d}"
        people.append(RecipientInput(
            external_id=ident, name=f"{first} {last}", phone=f"+1202555{n:04d}",
            email=f"{ident.lower()}@campus.example.edu", locale=locale, groups=groups,
            given={"name", "phone", "email", "locale", "groups"}))
    return people


def seed_demo(session: Session) -> bool:
    """Create the demo organisation if the database has no recipients yet; True if it did."""
    if session.scalar(select(func.count()).select_from(Recipient)):
        return False
    for name, description in GROUPS.items():
        directory.create_group(session, name, description, actor="demo")
    directory.upsert_recipients(session, demo_people(), actor="demo")
    return True
