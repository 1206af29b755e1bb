"""Security properties checked over every route the app registers, so a new route cannot slip by:
console forms refuse a POST without the session's CSRF token, webhooks refuse a forged signature
and record nothing; plus answer links (signed, bound to one person and alert, expiring), API
tokens (hashed at rest, scoped by role) and where secrets come from."""
from __future__ import annotations

import hashlib
import re
import stat
import time

import pytest
from sqlalchemy import func, select

from alerting import tokens
from alerting.errors import PermissionDenied
from alerting.links import RESPOND, SUBSCRIBE, LinkSigner
from alerting.models import ApiToken, Base
from console.app import create_app
from console.session import is_console_path
from ops.secrets import stored_secret
from ops.settings import Settings
from tests.conftest import System, make_token
from tests.console_support import console_user

#: Values for path parameters: ids that exist nowhere, names that are plausible.
PARAMS = {"alert_id": "1", "id": "1", "external_id": "S0001", "name": "x", "template_id": "1", "token": "x",
          "user_id": "1", "policy_id": "1", "zone": "x", "feed_id": "1", "incident_id": "1", "code": "x"}


def _post_paths(runtime, predicate) -> list[str]:  # type: ignore[no-untyped-def]
    """Every POST path the app registers that `predicate` accepts, with its parameters filled in."""
    paths = set()
    for route in create_app(runtime).router.routes():
        if route.method != "POST":
            continue
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter")
        if not path or not predicate(path):
            continue
        paths.add(re.sub(r"\{(\w+)(:[^}]*)?\}", lambda m: PARAMS.get(m.group(1), "1"), path))
    return sorted(paths)


def _row_counts(runtime) -> dict[str, int]:  # type: ignore[no-untyped-def]
    with runtime.sessions() as session:
        return {t.name: session.scalar(select(func.count()).select_from(t)) or 0
                for t in Base.metadata.sorted_tables}


async def test_every_console_post_refuses_a_form_without_the_csrf_token(system: System) -> None:
    paths = _post_paths(system.runtime, lambda p: is_console_path(p) and p != "/login")
    assert len(paths) > 10 and "/logout" in paths, paths  # the walk found the console's forms
    client = await console_user(system.runtime, system.base_url, "admin")
    before = _row_counts(system.runtime)
    accepted = []
    try:
        for path in paths:
            async with client.post(f"{system.base_url}{path}", data={"confirm": "yes", "name": "x"},
                                   allow_redirects=False) as response:
                if response.status != 403:
                    accepted.append((path, response.status))
            # The same through a script's JSON request: no header, no token.
            async with client.post(f"{system.base_url}{path}", json={"name": "x"}, allow_redirects=False) as response:
                if response.status != 403:
                    accepted.append((path, response.status, "json"))
    finally:
        await client.close()
    assert accepted == []
    after = _row_counts(system.runtime)
    changed = {t: (before[t], after[t]) for t in before if before[t] != after[t] and t not in ("audit_log",)}
    assert changed == {}


async def test_sign_in_without_its_form_token_is_refused(system: System) -> None:
    from tests.console_support import PASSWORD, make_user
    make_user(system.runtime, "x@test.example.org", "admin")
    import aiohttp
    async with aiohttp.ClientSession() as client, client.post(
            f"{system.base_url}/login", data={"email": "x@test.example.org", "password": PASSWORD},
            allow_redirects=False) as response:
        assert response.status in (400, 403) or response.headers.get("Location", "").startswith("/login")
        assert "tocsin_session" not in response.cookies


async def test_every_webhook_refuses_a_forged_signature_and_records_nothing(system: System) -> None:
    paths = _post_paths(system.runtime, lambda p: p.startswith("/hooks/"))
    assert any("status" in p for p in paths) and any("sms" in p for p in paths), paths
    before = _row_counts(system.runtime)
    form = {"MessageSid": "SM" + "0" * 32, "CallSid": "CA" + "0" * 32, "From": "+12025550100", "To": "+15005550006",
            "Body": "SAFE", "MessageStatus": "delivered", "CallStatus": "completed", "Digits": "1",
            "AccountSid": "AC" + "0" * 32}
    for path in paths:
        for headers in ({}, {"X-Twilio-Signature": "forged"},
                        {"X-Twilio-Signature": "3JjQ9gM1k6bJ2m0cWl1zUqY4X9s="}):
            async with system.api.post(f"{system.base_url}{path}?d=1", data=form, headers=headers) as response:
                assert response.status == 403, (path, headers, response.status)
    assert _row_counts(system.runtime) == before


def test_answer_links_are_bound_to_one_person_and_alert_and_expire() -> None:
    signer = LinkSigner("k" * 40, max_age_s=60)
    token = signer.respond_token(alert_id=7, recipient_id=42)
    claims = signer.verify(token, RESPOND)
    assert (claims.alert_id, claims.recipient_id) == (7, 42)
    with pytest.raises(PermissionDenied):
        signer.verify(token, SUBSCRIBE)  # not a subscribe link
    with pytest.raises(PermissionDenied):
        LinkSigner("another key" * 4, max_age_s=60).verify(token, RESPOND)
    payload, _, signature = token.rpartition(".")
    for tampered in (token[:-2] + ("AA" if not token.endswith("AA") else "BB"), payload + "x." + signature, ""):
        with pytest.raises(PermissionDenied):
            signer.verify(tampered, RESPOND)
    time.sleep(2.1)
    with pytest.raises(PermissionDenied, match="expired"):
        LinkSigner("k" * 40, max_age_s=1).verify(token, RESPOND)


async def test_api_tokens_are_hashed_at_rest_and_scoped_by_role(system: System) -> None:
    viewer = make_token(system.runtime, "viewer")
    operator = make_token(system.runtime, "operator")
    with system.runtime.sessions() as session:
        stored = session.scalars(select(ApiToken.token_hash)).all()
    for plain in (viewer, operator, system.token):
        assert plain not in stored
        assert hashlib.sha256(plain.encode()).hexdigest() in stored
    import aiohttp
    async with aiohttp.ClientSession() as client:
        async def status(token: str, path: str, body: dict) -> int:
            async with client.post(f"{system.base_url}{path}", json=body,
                                   headers={"Authorization": f"Bearer {token}"}) as r:
                return r.status
        assert await status(viewer, "/api/v1/groups", {"name": "G1"}) == 403
        assert await status(operator, "/api/v1/groups", {"name": "G1"}) == 201
        assert await status(operator, "/api/v1/policies", {"name": "p", "steps": []}) == 403
        assert await status("tsn_" + "0" * 40, "/api/v1/groups", {"name": "G2"}) == 401
        assert await status(viewer[:-1] + ("A" if viewer[-1] != "A" else "B"), "/api/v1/groups", {"name": "G3"}) == 401
    assert tokens  # the module hashes; the table holds only digests


def test_secrets_come_from_the_environment_or_the_data_dir_never_from_code(tmp_path) -> None:
    blank = Settings.from_env({})
    assert blank.secret_key is None and blank.twilio_auth_token is None and blank.vapid_private_key is None
    assert Settings.from_env({"TOCSIN_SECRET_KEY": "s" * 40}).secret_key == "s" * 40
    first = stored_secret(tmp_path, "secret-key")
    assert first == stored_secret(tmp_path, "secret-key") and len(first) >= 64
    assert stat.S_IMODE((tmp_path / "secrets").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "secrets" / "secret-key").stat().st_mode) == 0o600
    assert stored_secret(tmp_path / "other", "secret-key") != first  # generated, not a constant
