"""The sandbox's bulk tally (what each address received), used by the chaos scenarios to count
missing and duplicated messages, and its per-account faults as the chaos scenarios use them."""
from __future__ import annotations

from ops.sandbox.state import RecordedMessage, SandboxState


def _message(to: str, body: str, channel: str = "sms") -> RecordedMessage:
    return RecordedMessage(channel=channel, to=to, sender="+15005550006", body=body, at=0.0, sid=f"SM{to}{body}")


def test_tally_counts_per_address_channel_and_marker() -> None:
    state = SandboxState()
    for to, body, channel in [("+15550000001", "X1 go", "sms"), ("+15550000001", "X1 go", "sms"),
                              ("+15550000002", "X1 go", "sms"), ("+15550000002", "other", "sms"),
                              ("+15550000002", "X1 go", "voice")]:
        state.record(_message(to, body, channel))
    assert state.tally("sms", "X1") == {"+15550000001": 2, "+15550000002": 1}
    assert state.tally("sms") == {"+15550000001": 2, "+15550000002": 2}
    assert state.tally("voice") == {"+15550000002": 1}
    assert state.tally("email") == {}


async def test_tally_endpoint(aiohttp_client) -> None:
    from ops.sandbox import SANDBOX_STATE, create_standalone_app

    app = create_standalone_app()
    client = await aiohttp_client(app)
    app[SANDBOX_STATE].record(_message("+15550000003", "X2 hello"))
    response = await client.get("/sandbox/tally", params={"channel": "sms", "contains": "X2"})
    assert response.status == 200
    assert await response.json() == {"+15550000003": 1}
    assert (await client.get("/sandbox/tally")).status == 400


async def test_chaos_faults_are_config(aiohttp_client) -> None:
    """Every fault the provider scenario sets is accepted by the sandbox's config and cleared by null."""
    from ops.chaos.provider import CLEAR, FAULTS
    from ops.sandbox import create_standalone_app

    client = await aiohttp_client(create_standalone_app())
    for _, _, fault, _ in FAULTS:
        assert (await client.post("/sandbox/config", json=fault)).status == 200, fault
        assert (await client.post("/sandbox/config", json=CLEAR)).status == 200
    config = await (await client.get("/sandbox/config")).json()
    assert config["accounts"] == {} and config["smtp"]["fail"] is None
