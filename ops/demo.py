"""A small demo organisation for `make run`: a campus with buildings (named zones), groups and a few
hundred people who each work in a building and, for students in residence, live in a hall.

Deterministic (a fixed seed), so every demo shows the same people; re-running changes nothing.
Phone numbers are in the 555-01xx style fictional range, and emails at example.edu (RFC 2606).
"""
from __future__ import annotations

import random

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pathlib import Path

from alerting import directory, users, zones
from alerting.models import Recipient, User
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

#: The campus: a fictional one in Washington, DC (the demo's numbers are 202-555-01xx).
#: Each building is a rectangle: (west lon, south lat, east lon, north lat).
CAMPUS_CENTER = (38.9050, -77.0700)
BUILDINGS = {
    "Chemistry Building": (-77.0735, 38.9058, -77.0720, 38.9068),
    "Library": (-77.0712, 38.9055, -77.0695, 38.9066),
    "Student Center": (-77.0688, 38.9052, -77.0672, 38.9062),
    "North Residence Hall": (-77.0730, 38.9076, -77.0710, 38.9086),
    "South Residence Hall": (-77.0700, 38.9030, -77.0680, 38.9040),
    "Administration": (-77.0668, 38.9064, -77.0655, 38.9074),
}
WORKPLACES = ["Chemistry Building", "Library", "Student Center", "Administration"]
HALLS = ["North Residence Hall", "South Residence Hall"]


def _rectangle(box: tuple[float, float, float, float]) -> dict:
    west, south, east, north = box
    return {"type": "Polygon", "coordinates": [[[west, south], [east, south], [east, north], [west, north],
                                                [west, south]]]}


def _point_in(box: tuple[float, float, float, float], rng: random.Random) -> dict:
    west, south, east, north = box
    margin_x, margin_y = (east - west) * 0.1, (north - south) * 0.1
    return {"lat": round(rng.uniform(south + margin_y, north - margin_y), 6),
            "lon": round(rng.uniform(west + margin_x, east - margin_x), 6)}


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
        workplace = "Chemistry Building" if "Chemistry Building" in groups else rng.choice(WORKPLACES)
        locations = [{"label": "work", **_point_in(BUILDINGS[workplace], rng)}]
        if "Residence Halls" in groups:
            locations.append({"label": "home", **_point_in(BUILDINGS[rng.choice(HALLS)], rng)})
        people.append(RecipientInput(
            external_id=ident, name=f"{first} {last}", phone=f"+1202555{n:04d}",
            email=f"{ident.lower()}@campus.example.edu", locale=locale, groups=groups, locations=locations,
            given={"name", "phone", "email", "locale", "groups", "locations"}))
    return people


def seed_demo(session: Session) -> bool:
    """Create the demo organisation if the database has no recipients yet; True if it did."""
    if session.scalar(select(func.count()).select_from(Recipient)):
        return False
    for name, description in GROUPS.items():
        directory.create_group(session, name, description, actor="demo")
    for name, box in BUILDINGS.items():
        zones.create_zone(session, {"name": name, "description": "campus building",
                                    "geometry": _rectangle(box)}, actor="demo")
    directory.upsert_recipients(session, demo_people(), actor="demo")
    return True


DEMO_USERS = (("admin@campus.example.edu", "admin"), ("operator@campus.example.edu", "operator"),
              ("viewer@campus.example.edu", "viewer"))


def ensure_demo_users(session: Session, data_dir: Path) -> list[tuple[str, str, str]]:
    """The demo's console users (email, password, role), created once; their passwords live in
    `data_dir/secrets/demo-users` (mode 600) so each start can print them. Never for production."""
    from ops.secrets import stored_secret

    result = []
    for email, role in DEMO_USERS:
        password = stored_secret(data_dir, f"demo-password-{role}", nbytes=8)
        if session.query(User.id).filter(User.email == email).first() is None:
            users.create_user(session, email, password, role, name=f"Demo {role}", actor="demo")
        result.append((email, password, role))
    return result
