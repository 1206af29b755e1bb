"""Issue 10 from the console: an admin exports a person's data and erases them, after a confirmation."""
from __future__ import annotations

from sqlalchemy import select

from alerting.models import Recipient
from tests.conftest import System
from tests.console_support import console_user, post_form


async def _person(system: System) -> None:
    await system.call("POST", "/api/v1/recipients", expect=201, json=[
        {"external_id": "R1", "name": "Rosa Vargas", "phone": "+12025550123", "email": "rosa@example.org"}])


async def test_an_admin_exports_then_erases_a_person_from_their_page(system: System) -> None:
    await _person(system)
    admin = await console_user(system.runtime, system.base_url, "admin")
    async with admin:
        page = await (await admin.get(f"{system.base_url}/recipients/R1")).text()
        assert "Export their data (JSON)" in page and "/recipients/R1/erase" in page
        async with admin.get(f"{system.base_url}/api/v1/recipients/R1/export") as response:
            assert response.status == 200 and "rosa@example.org" in await response.text()
        confirm = await (await admin.get(f"{system.base_url}/recipients/R1/erase")).text()
        assert "cannot be undone" in confirm and "+12025550123" not in confirm
        status, path, page = await post_form(admin, f"{system.base_url}/recipients/R1/erase",
                                             f"{system.base_url}/recipients/R1/erase", {})
        assert status == 200 and path == "/recipients" and "was erased" in page
    with system.runtime.sessions() as session:
        person = session.scalar(select(Recipient).where(Recipient.external_id == "R1"))
        assert person is None or (person.phone is None and person.email is None)


async def test_an_operator_sees_no_erase_button_and_cannot_erase(system: System) -> None:
    await _person(system)
    operator = await console_user(system.runtime, system.base_url, "operator")
    async with operator:
        page = await (await operator.get(f"{system.base_url}/recipients/R1")).text()
        assert "Erase this person" not in page
        async with operator.get(f"{system.base_url}/recipients/R1/erase") as response:
            assert response.status == 403
        status, _, _ = await post_form(operator, f"{system.base_url}/recipients/R1/erase",
                                       f"{system.base_url}/recipients/R1", {})
        assert status == 403
    with system.runtime.sessions() as session:
        assert session.scalar(select(Recipient.phone).where(Recipient.external_id == "R1")) == "+12025550123"
