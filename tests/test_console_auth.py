"""Console sign-in: argon2 passwords, sessions, CSRF on every form, lockout, roles, `tocsin user`."""
from __future__ import annotations

import subprocess
import sys

import aiohttp
from sqlalchemy import select

from alerting import users
from alerting.models import AuditEntry, ConsoleSession, User
from tests.conftest import System
from tests.console_support import PASSWORD, console_user, csrf_of, make_user, sign_in


async def test_an_operator_signs_in_and_out(system: System) -> None:
    make_user(system.runtime, "op@test.example.org", "operator")
    client = await sign_in(system.base_url, "op@test.example.org")
    async with client:
        async with client.get(f"{system.base_url}/") as response:
            page = await response.text()
            assert response.status == 200 and response.url.path == "/"
            assert "op@test.example.org" in page and "Incidents" in page
        cookie = next(c for c in client.cookie_jar if c.key == "tocsin_session")
        assert cookie["httponly"] and cookie["samesite"] == "Lax"
        async with client.post(f"{system.base_url}/logout", data={"csrf_token": csrf_of(page)}) as response:
            assert response.url.path == "/login"
        async with client.get(f"{system.base_url}/") as response:
            assert response.url.path == "/login"
    with system.runtime.sessions.begin() as session:
        stored = session.scalar(select(User.password_hash).where(User.email == "op@test.example.org"))
        assert stored.startswith("$argon2id$") and PASSWORD not in stored
        assert session.scalar(select(ConsoleSession.revoked_at)) is not None


async def test_a_wrong_password_is_refused_without_saying_which_part_was_wrong(system: System) -> None:
    make_user(system.runtime, "op@test.example.org", "operator")
    async with aiohttp.ClientSession() as client:
        async with client.get(f"{system.base_url}/login") as response:
            token = csrf_of(await response.text())
        for email in ("op@test.example.org", "nobody@test.example.org"):
            async with client.post(f"{system.base_url}/login", data={
                    "email": email, "password": "wrong password!", "csrf_token": token}) as response:
                page = await response.text()
                assert response.status == 401
                assert "The email address or the password is wrong." in page


async def test_five_failures_lock_the_account_even_for_the_right_password(system: System) -> None:
    make_user(system.runtime, "op@test.example.org", "operator")
    async with aiohttp.ClientSession() as client:
        async with client.get(f"{system.base_url}/login") as response:
            token = csrf_of(await response.text())
        for _ in range(users.LOGIN_FAILURES_BEFORE_LOCK):
            await (await client.post(f"{system.base_url}/login", data={
                "email": "op@test.example.org", "password": "wrong password!", "csrf_token": token})).text()
        async with client.post(f"{system.base_url}/login", data={
                "email": "op@test.example.org", "password": PASSWORD, "csrf_token": token}) as response:
            page = await response.text()
            assert response.status == 401 and "locked" in page
    with system.runtime.sessions.begin() as session:
        assert session.scalar(select(AuditEntry.id).where(AuditEntry.action == "user.locked")) is not None


async def test_the_sign_in_form_needs_its_token(system: System) -> None:
    make_user(system.runtime, "op@test.example.org", "operator")
    async with aiohttp.ClientSession() as client:
        async with client.post(f"{system.base_url}/login", data={
                "email": "op@test.example.org", "password": PASSWORD, "csrf_token": "forged"}) as response:
            assert response.status == 403 and "expired" in await response.text()
            assert not any(c.key == "tocsin_session" for c in client.cookie_jar)


async def test_a_console_form_without_the_session_token_is_refused(system: System) -> None:
    client = await console_user(system.runtime, system.base_url, "operator")
    async with client:
        async with client.post(f"{system.base_url}/logout", data={"csrf_token": "forged"}) as response:
            page = await response.text()
            assert response.status == 403 and "Traceback" not in page and "expired" in page
        async with client.get(f"{system.base_url}/") as response:
            assert response.url.path == "/"  # still signed in: the forged form did nothing


async def test_the_console_api_calls_need_the_csrf_header(system: System) -> None:
    client = await console_user(system.runtime, system.base_url, "operator")
    async with client:
        page = await (await client.get(f"{system.base_url}/")).text()
        body = {"title": "T", "message": "M", "channels": ["sms"], "target": {"groups": ["Everyone"]}}
        async with client.post(f"{system.base_url}/api/v1/alerts", json=body) as response:
            assert response.status == 403
        async with client.get(f"{system.base_url}/api/v1/alerts") as response:
            assert response.status == 200  # reading needs no token
        async with client.post(f"{system.base_url}/api/v1/targets/preview", json={"target": {"groups": ["Staff"]}},
                               headers={"X-CSRF-Token": csrf_of(page)}) as response:
            assert response.status in (200, 422), await response.text()


async def test_the_next_page_is_only_ever_on_this_site(system: System) -> None:
    make_user(system.runtime, "op@test.example.org", "operator")
    async with aiohttp.ClientSession() as client:
        page = await (await client.get(f"{system.base_url}/login?next=//evil.example.com/x")).text()
        assert 'name="next" value="/"' in page
        page = await (await client.get(f"{system.base_url}/login?next=/alerts")).text()
        assert 'name="next" value="/alerts"' in page


async def test_a_disabled_user_is_signed_out_everywhere(system: System) -> None:
    client = await console_user(system.runtime, system.base_url, "viewer")
    async with client:
        with system.runtime.sessions.begin() as session:
            user_id = session.scalar(select(User.id))
            users.set_disabled(session, user_id, True, actor="test")
        async with client.get(f"{system.base_url}/") as response:
            assert response.url.path == "/login"


def test_tocsin_user_create_reads_the_password_from_standard_input(tmp_path) -> None:  # type: ignore[no-untyped-def]
    run = lambda *args, stdin="": subprocess.run(  # noqa: E731
        [sys.executable, "-m", "ops.cli", "user", *args, "--data-dir", str(tmp_path)], input=stdin,
        capture_output=True, text=True, timeout=120)
    created = run("create", "Chief@Example.org", "--role", "admin", stdin="a long enough password\n")
    assert created.returncode == 0, created.stderr
    assert "chief@example.org" in created.stderr and "a long enough" not in created.stdout + created.stderr
    twice = run("create", "chief@example.org", "--role", "viewer", stdin="a long enough password\n")
    assert twice.returncode == 2 and "already exists" in twice.stderr
    short = run("create", "new@example.org", "--role", "viewer", stdin="short\n")
    assert short.returncode == 2 and "at least 10 characters" in short.stderr
    listed = run("list")
    assert listed.stdout.strip() == "chief@example.org\tadmin\tactive"
