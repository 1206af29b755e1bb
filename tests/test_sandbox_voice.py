"""The sandbox's fake Twilio Voice, driven by the official Twilio client over real sockets.

The sandbox runs on a real port; a second small server stands in for Tocsin: it
serves TwiML, answers Gather actions, records every webhook and checks each
signature with Twilio's own `RequestValidator`.
"""

from __future__ import annotations

import re
import time

import pytest
from twilio.base.exceptions import TwilioRestException

from ops.sandbox.twiml import TwimlError
from ops.sandbox.voice_twiml import parse_voice_twiml

from tests.sandbox_voice_support import (  # noqa: F401 (fixtures are used by name)
    SID,
    TOKEN,
    OTHER_SID,
    OTHER_TOKEN,
    APP_NUMBER,
    PHONE,
    ALERT,
    GATHER,
    SAFE,
    Sandbox,
    Hit,
    TwimlApp,
    signed_by,
    sandbox,
    tocsin,
    twilio,
    http,
    eventually,
    post_json,
    inbox,
    the_call,
    finished,
)

def test_voice_twiml_parsing() -> None:
    verbs = parse_voice_twiml(GATHER)
    assert [v.name for v in verbs] == ["Gather", "Say", "Hangup", "Say"]
    gather = verbs[0]
    assert gather.attrs["numDigits"] == "1" and [c.text for c in gather.children] == [
        "Press 1 if you are safe. Press 9 to repeat."]
    say = parse_voice_twiml('<Response><Say loop="3" language="fr-FR">Bonjour</Say></Response>')[0]
    assert say.repeats == 3 and say.describe()["language"] == "fr-FR"
    assert parse_voice_twiml('<Response><Say loop="0">x</Say></Response>')[0].repeats == 1
    assert parse_voice_twiml("") == []
    for bad in ('<!DOCTYPE r [<!ENTITY a "x">]><Response><Say>&a;</Say></Response>',
                '<Response><Say loop="two">x</Say></Response>',
                '<Response><Gather numDigits="0"/></Response>',
                "<Response><Gather><Gather/></Gather></Response>",
                "<Say>no response</Say>"):
        with pytest.raises(TwimlError):
            parse_voice_twiml(bad)


# -- placing a call -----------------------------------------------------------------------


async def test_call_is_fetched_signed_spoken_and_reported(sandbox, tocsin, twilio, http) -> None:
    tocsin.documents["/voice/alert"] = ALERT
    before = time.time()
    call = await twilio().calls.create_async(
        to=PHONE, from_=APP_NUMBER, url=tocsin.url("/voice/alert"), status_callback=tocsin.url("/voice/status"))
    assert re.fullmatch(r"CA[0-9a-f]{32}", call.sid)
    assert (call.status, call.direction, call.to, call._from) == ("queued", "outbound-api", PHONE, APP_NUMBER)
    assert call.account_sid == SID and call.api_version == "2010-04-01" and call.date_created is not None

    await finished(sandbox, call.sid)
    await eventually(lambda: tocsin.on("/voice/status"))
    [fetch] = tocsin.on("/voice/alert")
    assert fetch.method == "POST"
    assert signed_by(fetch, TOKEN) and not signed_by(fetch, OTHER_TOKEN)
    assert {k: fetch.params[k] for k in ("CallSid", "AccountSid", "From", "To", "CallStatus", "Direction",
                                         "ApiVersion")} == {
        "CallSid": call.sid, "AccountSid": SID, "From": APP_NUMBER, "To": PHONE, "CallStatus": "in-progress",
        "Direction": "outbound-api", "ApiVersion": "2010-04-01"}
    assert "AnsweredBy" not in fetch.params  # no MachineDetection asked for

    [item] = await inbox(http, sandbox)
    assert item["channel"] == "voice" and item["sid"] == call.sid and item["status"] == "completed"
    assert item["spoken"] == ["Emergency alert.", "Emergency alert.", "Alerta de emergencia."]
    assert item["body"] == "Emergency alert. Emergency alert. Alerta de emergencia."
    assert [step["verb"] for step in item["script"]] == ["say", "pause", "play", "say"]
    assert item["script"][0]["language"] == "en-US" and item["script"][3]["language"] == "es-MX"
    assert item["script"][2]["url"] == "https://cdn.example.org/siren.mp3"
    assert item["gather"] is None and item["error"] is None and item["from"] == APP_NUMBER

    [status] = tocsin.on("/voice/status")  # only the final status unless events are asked for
    assert signed_by(status, TOKEN)
    assert (status.params["CallStatus"], status.params["CallSid"]) == ("completed", call.sid)
    assert status.params["CallDuration"].isdigit()
    fetched = await twilio().calls(call.sid).fetch_async()
    assert fetched.status == "completed" and fetched.duration is not None
    async with http.get(sandbox.url("stats")) as response:
        voice = (await response.json())["voice"]
    assert voice["count"] == 1 and before - 1 <= voice["first_at"] <= voice["last_at"] <= time.time() + 1


async def test_gather_press_repeat_and_answer(sandbox, tocsin, twilio, http) -> None:
    tocsin.documents["/voice/alert"] = GATHER
    tocsin.documents["/voice/ack"] = lambda params: GATHER if params.get("Digits") == "9" else SAFE
    call = await twilio().calls.create_async(
        to=PHONE, from_=APP_NUMBER, url=tocsin.url("/voice/alert"), status_callback=tocsin.url("/voice/status"))
    await eventually(lambda: the_call(sandbox, call.sid).gather is not None)
    [waiting] = await inbox(http, sandbox)
    assert waiting["status"] == "in-progress"
    assert waiting["gather"] == {
        "num_digits": 1, "action": tocsin.url("/voice/ack"), "method": "POST", "timeout": 7,
        "finish_on_key": "#", "input": "dtmf", "prompt": ["Press 1 if you are safe. Press 9 to repeat."]}

    repeat = await post_json(http, sandbox.url("voice/press"), {"to": PHONE, "digits": "9"})
    assert repeat["spoken"] == ["Press 1 if you are safe. Press 9 to repeat."]
    assert repeat["gather"] is not None and repeat["status"] == "in-progress"

    answer = await post_json(http, sandbox.url("voice/press"), {"to": PHONE, "digits": "1"})
    assert answer["spoken"] == ["Thank you, you are marked safe."]
    assert (answer["status"], answer["gather"], answer["call_sid"]) == ("completed", None, call.sid)
    acks = tocsin.on("/voice/ack")
    assert [hit.params["Digits"] for hit in acks] == ["9", "1"]
    assert all(signed_by(hit, TOKEN) for hit in acks)
    assert acks[1].params["CallSid"] == call.sid and acks[1].params["CallStatus"] == "in-progress"

    [item] = await inbox(http, sandbox)
    assert item["spoken"] == ["Press 1 if you are safe. Press 9 to repeat."] * 2 + ["Thank you, you are marked safe."]
    assert "never heard" not in item["body"]
    await eventually(lambda: tocsin.on("/voice/status"))
    assert tocsin.on("/voice/status")[-1].params["CallStatus"] == "completed"
    body = await post_json(http, sandbox.url("voice/press"), {"to": PHONE, "digits": "1"}, expect=409)
    assert "waiting" in body["error"]


async def test_gather_timeout_continues_after_it(sandbox, tocsin, twilio, http) -> None:
    await post_json(http, sandbox.url("voice/timeout"), {"to": PHONE}, expect=409)
    tocsin.documents["/voice/alert"] = GATHER
    call = await twilio().calls.create_async(to=PHONE, from_=APP_NUMBER, url=tocsin.url("/voice/alert"))
    await eventually(lambda: the_call(sandbox, call.sid).gather is not None)
    result = await post_json(http, sandbox.url("voice/timeout"), {"to": PHONE})
    assert result["spoken"] == ["We did not get your answer."] and result["status"] == "completed"
    assert tocsin.on("/voice/ack") == []  # no digits, no actionOnEmptyResult: the action is not called


async def test_press_answers_the_latest_waiting_call_and_checks_input(sandbox, tocsin, twilio, http) -> None:
    tocsin.documents["/voice/alert"] = GATHER
    tocsin.documents["/voice/ack"] = SAFE
    client = twilio()
    first = await client.calls.create_async(to=PHONE, from_=APP_NUMBER, url=tocsin.url("/voice/alert"))
    await eventually(lambda: the_call(sandbox, first.sid).gather is not None)
    second = await client.calls.create_async(to=PHONE, from_=APP_NUMBER, url=tocsin.url("/voice/alert"))
    await eventually(lambda: the_call(sandbox, second.sid).gather is not None)
    for bad in ({"to": PHONE, "digits": "x"}, {"to": PHONE}, {"digits": "1"}):
        await post_json(http, sandbox.url("voice/press"), bad, expect=400)
    answer = await post_json(http, sandbox.url("voice/press"), {"to": PHONE, "digits": "123#"})
    assert answer["call_sid"] == second.sid
    assert tocsin.on("/voice/ack")[0].params["Digits"] == "1"  # numDigits="1" keeps the first key
    assert the_call(sandbox, first.sid).gather is not None


@pytest.mark.parametrize("outcome", ["no-answer", "busy", "failed"])
async def test_unanswered_outcomes(sandbox, tocsin, twilio, http, outcome) -> None:
    async with http.post(sandbox.url("config"), json={"voice": {PHONE: outcome}}) as response:
        assert response.status == 200 and (await response.json())["voice"] == {PHONE: outcome}
    tocsin.documents["/voice/alert"] = ALERT
    call = await twilio().calls.create_async(
        to=PHONE, from_=APP_NUMBER, url=tocsin.url("/voice/alert"), status_callback=tocsin.url("/voice/status"))
    await eventually(lambda: tocsin.on("/voice/status"))
    [status] = tocsin.on("/voice/status")
    assert (status.params["CallStatus"], status.params["CallDuration"]) == (outcome, "0")
    assert signed_by(status, TOKEN)
    assert tocsin.on("/voice/alert") == []  # nobody answered: no TwiML fetched
    [item] = await inbox(http, sandbox)
    assert (item["status"], item["spoken"], item["body"]) == (outcome, [], "")
    assert (await twilio().calls(call.sid).fetch_async()).status == outcome


async def test_voice_default_and_other_numbers(sandbox, tocsin, twilio, http) -> None:
    await post_json(http, sandbox.url("config"), {"voice_default": "busy", "voice": {PHONE: "answer"}})
    tocsin.documents["/voice/alert"] = ALERT
    client = twilio()
    answered = await client.calls.create_async(to=PHONE, from_=APP_NUMBER, url=tocsin.url("/voice/alert"))
    busy = await client.calls.create_async(to="+15551230002", from_=APP_NUMBER, url=tocsin.url("/voice/alert"))
    assert (await finished(sandbox, answered.sid)).status == "completed"
    assert (await finished(sandbox, busy.sid)).status == "busy"


async def test_machine_answers_and_gathers_time_out(sandbox, tocsin, twilio, http) -> None:
    await post_json(http, sandbox.url("config"), {"voice": {PHONE: "machine"}})
    tocsin.documents["/voice/alert"] = GATHER
    call = await twilio().calls.create_async(
        to=PHONE, from_=APP_NUMBER, url=tocsin.url("/voice/alert"), machine_detection="DetectMessageEnd",
        status_callback=tocsin.url("/voice/status"))
    done = await finished(sandbox, call.sid)
    assert done.spoken == ["Press 1 if you are safe. Press 9 to repeat.", "We did not get your answer."]
    [fetch] = tocsin.on("/voice/alert")
    assert fetch.params["AnsweredBy"] == "machine_end_beep" and signed_by(fetch, TOKEN)
    await eventually(lambda: tocsin.on("/voice/status"))
    assert tocsin.on("/voice/status")[0].params["AnsweredBy"] == "machine_end_beep"
    assert (await twilio().calls(call.sid).fetch_async()).answered_by == "machine_end_beep"


async def test_human_with_machine_detection(sandbox, tocsin, twilio) -> None:
    tocsin.documents["/voice/alert"] = ALERT
    call = await twilio().calls.create_async(
        to=PHONE, from_=APP_NUMBER, url=tocsin.url("/voice/alert"), machine_detection="Enable")
    await finished(sandbox, call.sid)
    assert tocsin.on("/voice/alert")[0].params["AnsweredBy"] == "human"


async def test_requested_status_events_in_order(sandbox, tocsin, twilio) -> None:
    tocsin.documents["/voice/alert"] = ALERT
    await twilio().calls.create_async(
        to=PHONE, from_=APP_NUMBER, url=tocsin.url("/voice/alert"), status_callback=tocsin.url("/voice/status"),
        status_callback_event=["initiated", "ringing", "answered", "completed"])
    await eventually(lambda: len(tocsin.on("/voice/status")) == 4)
    statuses = tocsin.on("/voice/status")
    assert [s.params["CallStatus"] for s in statuses] == ["initiated", "ringing", "in-progress", "completed"]
    assert [s.params["SequenceNumber"] for s in statuses] == ["0", "1", "2", "3"]
    assert all(signed_by(s, TOKEN) for s in statuses)


async def test_inline_twiml_redirect_and_get(sandbox, tocsin, twilio) -> None:
    tocsin.documents["/voice/next"] = "<Response><Say>Second document.</Say></Response>"
    twiml = f'<Response><Say>Inline.</Say><Redirect method="GET">{tocsin.url("/voice/next")}</Redirect></Response>'
    call = await twilio().calls.create_async(to=PHONE, from_=APP_NUMBER, twiml=twiml)
    done = await finished(sandbox, call.sid)
    assert done.spoken == ["Inline.", "Second document."] and done.error is None
    [hit] = tocsin.on("/voice/next")
    assert hit.method == "GET" and "CallSid=" in hit.url and signed_by(hit, TOKEN)

    with pytest.raises(TwilioRestException) as caught:
        await twilio().calls.create_async(
            to=PHONE, from_=APP_NUMBER, twiml='<!DOCTYPE x [<!ENTITY a "b">]><Response><Say>&a;</Say></Response>')
    assert (caught.value.status, caught.value.code) == (400, 12100)


@pytest.mark.parametrize(
    ("path", "document", "status", "reason"),
    [
        ("/voice/hostile", '<!DOCTYPE r [<!ENTITY a "boom">]><Response><Say>&a;</Say></Response>', 200, "DTD"),
        ("/voice/broken", "<Response><Say>", 200, "well-formed"),
        ("/voice/error", "<Response/>", 500, "HTTP 500"),
    ],
)
async def test_bad_twiml_ends_the_call(sandbox, tocsin, twilio, path, document, status, reason) -> None:
    tocsin.documents[path], tocsin.statuses[path] = document, status
    call = await twilio().calls.create_async(to=PHONE, from_=APP_NUMBER, url=tocsin.url(path))
    done = await finished(sandbox, call.sid)
    assert done.status == "completed" and done.spoken == [] and reason in (done.error or "")


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"to": PHONE, "from_": APP_NUMBER}, 21205),
        ({"to": "555", "from_": APP_NUMBER, "url": "https://x.example/t"}, 21211),
        ({"to": PHONE, "from_": APP_NUMBER, "url": "ftp://x.example/t"}, 21205),
        ({"to": PHONE, "from_": APP_NUMBER, "url": "https://x.example/t", "machine_detection": "Maybe"}, 21626),
        ({"to": PHONE, "from_": APP_NUMBER, "url": "https://x.example/t", "status_callback_event": ["rung"]}, 21626),
    ],
)
async def test_call_validation_errors(sandbox, twilio, kwargs, code) -> None:
    with pytest.raises(TwilioRestException) as caught:
        await twilio().calls.create_async(**kwargs)
    assert (caught.value.status, caught.value.code) == (400, code)
    assert sandbox.state.recent() == []


async def test_account_faults_apply_to_calls(sandbox, tocsin, twilio, http) -> None:
    tocsin.documents["/voice/alert"] = ALERT
    config = await post_json(http, sandbox.url("config"),
                             {"accounts": {OTHER_SID: {"fail_status": 503}, SID: {"calls_per_s": 1}}})
    assert config["accounts"][SID]["calls_per_s"] == 1 and "calls_per_s" not in config["accounts"][OTHER_SID]
    with pytest.raises(TwilioRestException) as caught:
        await twilio(OTHER_SID, OTHER_TOKEN).calls.create_async(to=PHONE, from_=APP_NUMBER, twiml="<Response/>")
    assert caught.value.status == 503
    client = twilio()
    limited = []
    for _ in range(4):  # four calls span at most two one-second windows
        try:
            await client.calls.create_async(to=PHONE, from_=APP_NUMBER, twiml="<Response/>")
        except TwilioRestException as exc:
            limited.append((exc.status, exc.code))
    assert limited and set(limited) == {(429, 20429)} and len(limited) >= 2
    for i in range(3):  # calls_per_s leaves the account's messages alone
        await client.messages.create_async(to=PHONE, from_=APP_NUMBER, body=f"m{i}")


async def test_hang_up_through_the_api(sandbox, tocsin, twilio, http) -> None:
    tocsin.documents["/voice/alert"] = GATHER
    client = twilio()
    call = await client.calls.create_async(
        to=PHONE, from_=APP_NUMBER, url=tocsin.url("/voice/alert"), status_callback=tocsin.url("/voice/status"))
    await eventually(lambda: the_call(sandbox, call.sid).gather is not None)
    updated = await client.calls(call.sid).update_async(status="completed")
    assert updated.status == "completed"
    await post_json(http, sandbox.url("voice/press"), {"to": PHONE, "digits": "1"}, expect=409)
    await eventually(lambda: tocsin.on("/voice/status"))
    assert tocsin.on("/voice/status")[0].params["CallStatus"] == "completed"
    with pytest.raises(TwilioRestException) as caught:
        await client.calls("CA" + "0" * 32).fetch_async()
    assert caught.value.status == 404


@pytest.mark.parametrize(("patch", "field_name"), [
    ({"voice": {PHONE: "maybe"}}, f"voice.{PHONE}"),
    ({"voice": ["x"]}, "voice"),
    ({"voice_default": "hang-up"}, "voice_default"),
    ({"accounts": {SID: {"calls_per_s": 0}}}, f"accounts.{SID}.calls_per_s"),
])
async def test_bad_voice_config_is_rejected(sandbox, http, patch, field_name) -> None:
    body = await post_json(http, sandbox.url("config"), patch, expect=400)
    assert body["field"] == field_name


async def test_reset_drops_pending_calls(sandbox, tocsin, twilio, http) -> None:
    tocsin.documents["/voice/alert"] = GATHER
    call = await twilio().calls.create_async(to=PHONE, from_=APP_NUMBER, url=tocsin.url("/voice/alert"))
    await eventually(lambda: the_call(sandbox, call.sid).gather is not None)
    await post_json(http, sandbox.url("reset"), {})
    assert await inbox(http, sandbox) == []
    await post_json(http, sandbox.url("voice/press"), {"to": PHONE, "digits": "1"}, expect=409)


async def test_twiml_loops_end_the_call(sandbox, tocsin, twilio, http) -> None:
    tocsin.documents["/voice/loop"] = "<Response><Say>Again.</Say><Redirect>/voice/loop</Redirect></Response>"
    call = await twilio().calls.create_async(to=PHONE, from_=APP_NUMBER, url=tocsin.url("/voice/loop"))
    done = await finished(sandbox, call.sid)
    assert "in a row" in (done.error or "") and len(tocsin.on("/voice/loop")) == 10

    # A machine never presses: a Gather that asks again on an empty result would loop too.
    await post_json(http, sandbox.url("config"), {"voice": {PHONE: "machine"}})
    ask = ('<Response><Gather numDigits="1" action="/voice/ask" actionOnEmptyResult="true">'
           "<Say>Press 1.</Say></Gather></Response>")
    tocsin.documents["/voice/ask"] = ask
    call = await twilio().calls.create_async(to=PHONE, from_=APP_NUMBER, url=tocsin.url("/voice/ask"))
    done = await finished(sandbox, call.sid)
    assert "in a row" in (done.error or "") and done.spoken == ["Press 1."] * 10
    assert all("Digits" not in hit.params for hit in tocsin.on("/voice/ask"))


async def test_empty_result_goes_to_the_action_when_asked(sandbox, tocsin, twilio, http) -> None:
    tocsin.documents["/voice/ask"] = ('<Response><Gather numDigits="1" action="/voice/answer" '
                                      'actionOnEmptyResult="true"><Say>Press 1.</Say></Gather>'
                                      "<Say>not reached</Say></Response>")
    tocsin.documents["/voice/answer"] = lambda params: (
        f"<Response><Say>Got {params.get('Digits') or 'nothing'}.</Say></Response>")
    call = await twilio().calls.create_async(to=PHONE, from_=APP_NUMBER, url=tocsin.url("/voice/ask"))
    await eventually(lambda: the_call(sandbox, call.sid).gather is not None)
    result = await post_json(http, sandbox.url("voice/timeout"), {"to": PHONE})
    assert result["spoken"] == ["Got nothing."]
    [hit] = tocsin.on("/voice/answer")
    assert "Digits" not in hit.params and signed_by(hit, TOKEN)

    call = await twilio().calls.create_async(to=PHONE, from_=APP_NUMBER, url=tocsin.url("/voice/ask"))
    await eventually(lambda: the_call(sandbox, call.sid).gather is not None)
    result = await post_json(http, sandbox.url("voice/press"), {"to": PHONE, "digits": "#"})
    assert result["spoken"] == ["Got nothing."]  # only the finish key: no input, as on Twilio
