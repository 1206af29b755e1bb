"""The administration pages: users and API tokens, escalation policies, providers, the audit log."""
from __future__ import annotations

import re

import aiohttp
import pytest
from sqlalchemy import select

from alerting.models import EscalationPolicy, User
from ops.runtime import Runtime
from tests.conftest import System
from tests.console_support import PASSWORD, console_user, csrf_of, make_user, post_form, sign_in
from tests.test_console_directory import post_forms


async def _page(client: aiohttp.ClientSession, url: str) -> tuple[int, str]:
    async with client.get(url) as response:
        return response.status, await response.text()


def _user_id(runtime, email: str) -> int:  # type: ignore[no-untyped-def]
    with runtime.sessions.begin() as session:
        return session.scalar(select(User.id).where(User.email == email))


async def post_pairs(client: aiohttp.ClientSession, url: str, page_url: str,
                     pairs: list[tuple[str, str]]) -> tuple[int, str, str]:
    """Like post_form, for forms that send a name more than once (checkboxes)."""
    async with client.get(page_url) as response:
        token = csrf_of(await response.text())
    async with client.post(url, data=[*pairs, ("csrf_token", token)]) as response:
        return response.status, response.url.path, await response.text()


def _row(page: str, element_id: str) -> str:
    return page.split(f'id="{element_id}"', 1)[1].split("</tr>", 1)[0]


async def test_an_admin_creates_demotes_and_disables_users(system: System) -> None:
    base = system.base_url
    async with await console_user(system.runtime, base, "admin") as admin:
        status, path, page = await post_form(admin, f"{base}/users", f"{base}/users", {
            "email": "Dana@Test.example.org", "name": "Dana Ito", "role": "admin", "password": PASSWORD})
        assert status == 200 and path == "/users" and "The user was created" in page
        dana = _user_id(system.runtime, "dana@test.example.org")
        assert "Dana Ito" in _row(page, f"user-{dana}") and "never" in _row(page, f"user-{dana}")

        status, _, page = await post_form(admin, f"{base}/users", f"{base}/users", {
            "email": "eve@test.example.org", "role": "operator", "password": "short"})
        assert status == 422 and re.search(r'id="new-password-error"[^>]*>the password must be at least 10', page)
        status, _, page = await post_form(admin, f"{base}/users", f"{base}/users", {
            "email": "dana@test.example.org", "role": "operator", "password": PASSWORD})
        assert status == 409 and 'id="new-email-error"' in page and "already exists" in page
        status, _, page = await post_form(admin, f"{base}/users", f"{base}/users", {
            "email": "eve@test.example.org", "role": "superuser", "password": PASSWORD})
        assert status == 422 and 'id="new-role-error"' in page

        async with await sign_in(base, "dana@test.example.org") as dana_client:
            status, page = await _page(dana_client, f"{base}/users")
            assert status == 200
            status, path, page = await post_form(admin, f"{base}/users/{dana}/role", f"{base}/users", {"role": "viewer"})
            assert status == 200 and "The role was changed" in page
            assert '<span class="role-name">viewer</span>' in _row(page, f"user-{dana}")
            status, page = await _page(dana_client, f"{base}/users")
            assert status == 403  # a demoted admin loses the page at once
            status, path, page = await post_form(admin, f"{base}/users/{dana}/disable", f"{base}/users", {})
            assert status == 200 and "disabled and signed out" in page and "disabled" in _row(page, f"user-{dana}")
            async with dana_client.get(f"{base}/recipients") as response:
                assert response.url.path == "/login"  # disabling ended the session
        with pytest.raises(AssertionError, match="sign-in refused: 401"):
            await sign_in(base, "dana@test.example.org")
        status, _, page = await post_form(admin, f"{base}/users/{dana}/enable", f"{base}/users", {})
        assert "The user was enabled" in page
        status, _, page = await post_form(admin, f"{base}/users/{dana}/password", f"{base}/users",
                                          {"password": "a new long password"})
        assert "The password was set" in page
        await (await sign_in(base, "dana@test.example.org", "a new long password")).close()
        status, _, page = await post_form(admin, f"{base}/users/{dana}/password", f"{base}/users", {"password": "x"})
        assert status == 422 and "at least 10 characters" in _row(page, f"user-{dana}")


async def test_an_admin_cannot_disable_or_demote_themselves_nor_lose_the_last_admin(system: System) -> None:
    base = system.base_url
    async with await console_user(system.runtime, base, "admin") as admin:
        me = _user_id(system.runtime, "admin@test.example.org")
        status, page = await _page(admin, f"{base}/users")
        assert f"/users/{me}/disable" not in page and f"/users/{me}/role" not in page  # no such buttons on one's own row
        for url, data in ((f"/users/{me}/disable", {}), (f"/users/{me}/role", {"role": "operator"})):
            status, _, page = await post_form(admin, base + url, f"{base}/users", data)
            assert status == 403 and "yourself" in _row(page, f"user-{me}"), url
        status, page = await _page(admin, f"{base}/users")  # still an admin, still signed in
        assert status == 200
        # Another admin, disabled, cannot be the reason the last enabled one is demoted.
        make_user(system.runtime, "old@test.example.org", "admin")
        old = _user_id(system.runtime, "old@test.example.org")
        await post_form(admin, f"{base}/users/{old}/disable", f"{base}/users", {})
    with system.runtime.sessions.begin() as session:
        assert session.get(User, me).role == "admin" and session.get(User, me).disabled_at is None


def test_the_last_enabled_admin_keeps_the_role(runtime: Runtime) -> None:
    from alerting.errors import Conflict, PermissionDenied
    from console.pages_admin import keep_an_admin
    make_user(runtime, "one@test.example.org", "admin")
    make_user(runtime, "two@test.example.org", "admin")
    one, two = (_user_id(runtime, f"{n}@test.example.org") for n in ("one", "two"))
    with runtime.sessions.begin() as session:
        keep_an_admin(session, one, two, disabling=True)  # another admin remains: allowed
        keep_an_admin(session, one, two, new_role="admin")  # not a demotion
        with pytest.raises(PermissionDenied, match="yourself"):
            keep_an_admin(session, one, one, new_role="viewer")
        session.get(User, two).disabled_at = session.get(User, two).created_at
        session.flush()
        with pytest.raises(Conflict, match="last enabled administrator"):
            keep_an_admin(session, two, one, new_role="operator")  # e.g. a stale page of a disabled admin


async def test_unlocking_a_locked_account(system: System) -> None:
    base = system.base_url
    make_user(system.runtime, "op@test.example.org", "operator")
    async with aiohttp.ClientSession() as anonymous:
        for _ in range(5):
            async with anonymous.get(f"{base}/login") as response:
                token = re.search(r'name="csrf_token" value="([^"]+)"', await response.text()).group(1)
            await (await anonymous.post(f"{base}/login", data={"email": "op@test.example.org", "password": "wrong one!!",
                                                                "csrf_token": token})).text()
    op = _user_id(system.runtime, "op@test.example.org")
    async with await console_user(system.runtime, base, "admin") as admin:
        status, page = await _page(admin, f"{base}/users")
        assert "locked" in _row(page, f"user-{op}") and f"/users/{op}/unlock" in page
        status, _, page = await post_form(admin, f"{base}/users/{op}/unlock", f"{base}/users", {})
        assert "The account was unlocked" in page and "active" in _row(page, f"user-{op}")
    await (await sign_in(base, "op@test.example.org")).close()


async def test_an_api_token_is_shown_once_and_can_be_revoked(system: System) -> None:
    base = system.base_url
    async with await console_user(system.runtime, base, "admin") as admin:
        status, _, page = await post_form(admin, f"{base}/users/tokens", f"{base}/users",
                                          {"label": "HR sync", "role": "operator"})
        assert status == 200
        secret = re.search(r'<code id="token-secret">(tsn_[^<]+)</code>', page).group(1)
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {secret}"}) as api:
            async with api.get(f"{base}/api/v1/groups") as response:
                assert response.status == 200
            status, page = await _page(admin, f"{base}/users")
            assert secret not in page
            token_id = re.search(r'<tr id="token-(\d+)"><td>HR sync</td><td>operator</td>', page).group(1)
            assert "never" not in _row(page, f"token-{token_id}")  # last used: just now
            status, _, page = await post_form(admin, f"{base}/users/tokens/{token_id}/revoke", f"{base}/users", {})
            assert "The token was revoked" in page and "revoked" in _row(page, f"token-{token_id}")
            async with api.get(f"{base}/api/v1/groups") as response:
                assert response.status == 401
        status, _, page = await post_form(admin, f"{base}/users/tokens", f"{base}/users", {"label": "", "role": "admin"})
        assert status == 422 and 'id="token-label-error"' in page
        status, _, page = await post_form(admin, f"{base}/users/tokens", f"{base}/users", {"label": "x", "role": "root"})
        assert status == 422 and 'id="token-role-error"' in page


async def test_operators_and_viewers_cannot_manage_users_policies_or_tokens(system: System) -> None:
    base = system.base_url
    make_user(system.runtime, "someone@test.example.org", "operator")
    someone = _user_id(system.runtime, "someone@test.example.org")
    for role in ("viewer", "operator"):
        async with await console_user(system.runtime, base, role) as client:
            for url in ("/users", "/policies/new"):
                status, page = await _page(client, base + url)
                assert status == 403 and "admin role" in page and "Traceback" not in page, (role, url)
            for url in ("/policies", "/providers", "/audit"):
                status, page = await _page(client, base + url)
                assert status == 200 and post_forms(page) == ["/logout"] and "New policy" not in page, (role, url)
            for url, data in (("/users", {"email": "x@test.example.org", "role": "admin", "password": PASSWORD}),
                              (f"/users/{someone}/role", {"role": "admin"}), (f"/users/{someone}/disable", {}),
                              (f"/users/{someone}/password", {"password": PASSWORD + "!"}),
                              ("/users/tokens", {"label": "mine", "role": "admin"}), ("/users/tokens/1/revoke", {}),
                              ("/policies", {"name": "p", "step-0-after": "5", "step-0-channels": "sms"})):
                status, _, page = await post_form(client, base + url, f"{base}/audit", data)
                assert status == 403 and "admin role" in page, (role, url)
    with system.runtime.sessions.begin() as session:
        assert session.get(User, someone).role == "operator"
        assert session.scalar(select(User.id).where(User.email == "x@test.example.org")) is None


async def test_a_policy_is_created_from_the_form_and_described_in_words(system: System) -> None:
    await system.call("POST", "/api/v1/recipients", json=[{"external_id": "SUP-1", "name": "Sue"}], expect=201)
    base = system.base_url
    async with await console_user(system.runtime, base, "admin") as admin:
        status, page = await _page(admin, f"{base}/policies/new")
        assert status == 200 and 'name="step-3-after"' in page
        form = {"name": "Campus", "step-0-after": "5", "step-0-channels": "sms",
                "step-1-after": "10", "step-1-channels": "voice", "step-1-repeat": "3", "step-1-every": "10",
                "final-after": "60", "final-notify": "SUP-1", "final-channels": "email"}
        data = [*form.items(), ("step-0-channels", "voice"), ("step-2-after", ""), ("step-3-after", "")]
        status, path, page = await post_pairs(admin, f"{base}/policies", f"{base}/policies/new", data)
        assert status == 200 and path == "/policies", page[-2000:]
        words = re.search(r'<h2>Campus <span class="tag">saved</span></h2>\s*<ol class="policy-steps">(.*?)</ol>', page, re.S)
        assert [re.sub(r"<.*?>", "", li) for li in re.findall(r"<li>.*?</li>", words.group(1))] == [
            "after 5 min: SMS and voice again",
            "after 10 min: voice again, 3 times every 10 min",
            "after 1 h: notify 1 supervisor (SUP-1) by email of who is still silent"]
        # Copy and change: the same steps, a new name; a wait that does not increase is refused at its field.
        status, page = await _page(admin, f"{base}/policies/new?from=Campus")
        assert 'value="Campus (changed)"' in page and 'name="step-1-repeat"' in page and 'value="3"' in page
        bad = {**form, "name": "Campus 2", "step-1-after": "4", "step-1-repeat": "", "step-1-every": ""}
        status, _, page = await post_form(admin, f"{base}/policies", f"{base}/policies/new", bad)
        assert status == 422
        error = re.search(r'id="step-1-after-error">([^<]*)<', page).group(1)
        assert error.startswith("step 2: after_s must be later than every run of the step before it (300 s)")
        for field, value, message in (("step-0-after", "soon", "number of minutes"),
                                      ("step-1-repeat", "many", "whole number"),
                                      ("final-notify", "NOBODY", "NOBODY")):
            status, _, page = await post_form(admin, f"{base}/policies", f"{base}/policies/new",
                                              {**form, "name": "Campus 3", field: value})
            assert status == 422 and message in re.search(rf'id="{field}-error">([^<]*)<', page).group(1), field
        status, _, page = await post_form(admin, f"{base}/policies", f"{base}/policies/new", {**form, "name": "Campus"})
        assert status == 409 and "immutable" in re.search(r'id="name-error">([^<]*)<', page).group(1)
    with system.runtime.sessions.begin() as session:
        assert sorted(session.scalars(select(EscalationPolicy.name))) == ["Campus"]


async def test_providers_show_each_channel_its_health_limits_and_the_sandbox(system: System) -> None:
    async with await console_user(system.runtime, system.base_url, "viewer") as client:
        status, page = await _page(client, f"{system.base_url}/providers")
    assert status == 200
    table = page.split('id="providers"', 1)[1].split("</table>", 1)[0]
    assert "<td>SMS</td>" in table and "<td>voice call</td>" in table and "<td>email</td>" in table
    assert table.count('<span class="tag">sandbox</span>') == 2  # Twilio's SMS and voice point at the sandbox
    assert "no traffic" in table and "sandbox-test-token" not in page


async def test_the_audit_log_lists_what_was_done_newest_first_with_filters(system: System) -> None:
    base = system.base_url
    async with await console_user(system.runtime, base, "admin") as admin:
        await post_form(admin, f"{base}/users", f"{base}/users",
                        {"email": "fay@test.example.org", "role": "operator", "password": PASSWORD})
        fay = _user_id(system.runtime, "fay@test.example.org")
        await post_form(admin, f"{base}/users/{fay}/role", f"{base}/users", {"role": "viewer"})
        await post_form(admin, f"{base}/users/{fay}/disable", f"{base}/users", {})
        await post_form(admin, f"{base}/users/tokens", f"{base}/users", {"label": "Fire panel", "role": "operator"})
        await post_form(admin, f"{base}/groups", f"{base}/groups", {"name": "Wardens"})
        status, page = await _page(admin, f"{base}/audit")
        assert status == 200
        actions = re.findall(r'action=([a-z_.]+)">', page.split('id="audit-log"', 1)[1])
        assert actions[:5] == ["group.create", "token.create", "user.disable", "user.role", "user.create"]
        row = page.split('id="audit-log"', 1)[1].split("user.role", 1)[1].split("</tr>", 1)[0]
        assert f"user {fay}" in row and "role: viewer" in row
        assert "user:admin@test.example.org" in page
        status, page = await _page(admin, f"{base}/audit?action=user.")
        found = re.findall(r'action=([a-z_.]+)">', page.split('id="audit-log"', 1)[1])
        assert set(found) <= {"user.create", "user.role", "user.disable", "user.sign_in"} and "user.role" in found
        status, page = await _page(admin, f"{base}/audit?object=user:{fay}")
        assert re.findall(r'action=([a-z_.]+)">', page.split('id="audit-log"', 1)[1]) == [
            "user.disable", "user.role", "user.create"]
        status, page = await _page(admin, f"{base}/audit?actor=nobody")
        assert "Nothing matches" in page


async def test_the_audit_log_pages_by_older_entries(system: System) -> None:
    with system.runtime.sessions.begin() as session:
        from alerting import audit
        for n in range(120):
            audit.record(session, "test", "thing.happen", "thing", n)
    async with await console_user(system.runtime, system.base_url, "viewer") as client:
        status, page = await _page(client, f"{system.base_url}/audit?action=thing.happen")
        assert page.count("thing.happen</a>") == 50 and ">thing 119</a>" in page
        older = re.search(r'href="(/audit\?[^"]*before=\d+)"', page).group(1).replace("&amp;", "&")
        status, page = await _page(client, system.base_url + older)
        assert ">thing 69</a>" in page and ">thing 70</a>" not in page
