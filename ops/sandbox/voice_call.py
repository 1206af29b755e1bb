"""A phone call as the fake Twilio keeps it: the Call resource, its webhooks' fields, what was heard.

A call lives in the callee's inbox like an SMS (`channel: "voice"`). Its `body`
is everything `<Say>` made the phone hear so far, joined with spaces; `spoken`
lists the same texts one by one (a `loop="2"` Say appears twice), and `script`
every verb the carrier went through, in order, with its attributes. While the
call waits in a `<Gather>`, `gather` says for what.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .sms import API_VERSION, rfc2822
from .state import RecordedMessage
from .voice_twiml import Verb

FINAL_STATUSES = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})
# StatusCallbackEvent names; "answered" reports CallStatus=in-progress, "completed" any final status.
STATUS_EVENTS = frozenset({"initiated", "ringing", "answered", "completed"})
MACHINE_DETECTION = {"Enable": "machine_start", "DetectMessageEnd": "machine_end_beep"}


@dataclass(slots=True)
class GatherWait:
    """A `<Gather>` the callee has heard and not answered yet."""

    verb: Verb
    action: str  # absolute URL the digits are sent to
    method: str
    rest: list[Verb]  # the verbs after the Gather: where a timeout continues
    document_url: str | None  # the TwiML document the Gather came from
    prompt: list[str] = field(default_factory=list)  # what was said inside it

    @property
    def num_digits(self) -> int | None:
        value = self.verb.int_attr("numDigits", 0)
        return value or None

    @property
    def finish_on_key(self) -> str:
        return self.verb.attrs.get("finishOnKey", "#")

    @property
    def action_on_empty_result(self) -> bool:
        return self.verb.attrs.get("actionOnEmptyResult", "false").lower() == "true"

    def to_json(self) -> dict[str, Any]:
        return {
            "num_digits": self.num_digits,
            "action": self.action,
            "method": self.method,
            "timeout": self.verb.int_attr("timeout", 5),
            "finish_on_key": self.finish_on_key,
            "input": self.verb.attrs.get("input", "dtmf"),
            "prompt": list(self.prompt),
        }


@dataclass(slots=True, eq=False, kw_only=True)
class VoiceCall(RecordedMessage):
    """A call placed through the fake Twilio Calls API."""

    channel: str = "voice"
    body: str = ""
    status: str = "queued"
    url: str | None = None  # where the first TwiML is fetched; None with inline `Twiml`
    method: str = "POST"
    twiml: str | None = field(default=None, repr=False)
    status_callback: str | None = None
    status_callback_method: str = "POST"
    status_events: frozenset[str] = frozenset({"completed"})
    machine_detection: str | None = None  # "Enable" or "DetectMessageEnd"
    auth_token: str = field(default="", repr=False)
    direction: str = "outbound-api"
    updated_at: float = 0.0
    start_time: float | None = None  # answered
    end_time: float | None = None
    answered_by: str | None = None  # only reported when MachineDetection was asked for
    by_machine: bool = False  # the carrier's truth, reported or not
    spoken: list[str] = field(default_factory=list)
    script: list[dict[str, Any]] = field(default_factory=list)
    gather: GatherWait | None = None
    error: str | None = None  # why the call ended early (an unreachable or broken TwiML URL)
    sequence: int = 0  # status callbacks sent so far: the next one's SequenceNumber
    unattended_fetches: int = 0  # TwiML documents fetched since the phone last pressed or timed out

    @property
    def duration(self) -> int | None:
        """Seconds from answer to hang-up, once the call is over; 0 if never answered."""
        if self.end_time is None:
            return None
        return 0 if self.start_time is None else max(0, round(self.end_time - self.start_time))

    @property
    def finished(self) -> bool:
        return self.status in FINAL_STATUSES

    def advance(self, status: str, at: float) -> None:
        self.status = status
        self.updated_at = at
        if status == "in-progress":
            self.start_time = at
        elif status in FINAL_STATUSES:
            self.end_time = at
            self.gather = None

    def answer(self, at: float, *, machine: bool) -> None:
        self.by_machine = machine
        if self.machine_detection is not None:
            self.answered_by = MACHINE_DETECTION[self.machine_detection] if machine else "human"
        self.advance("in-progress", at)

    def hear(self, verb: Verb) -> list[str]:
        """Play one Say/Play/Pause to the callee; the texts said, in order."""
        self.script.append(verb.describe())
        if verb.name != "Say" or not verb.text:
            return []
        said = [verb.text] * verb.repeats
        self.spoken.extend(said)
        self.body = " ".join(self.spoken)
        return said

    def webhook_params(self) -> dict[str, str]:
        """Fields Twilio posts to the call's TwiML URLs (Url, Gather action, Redirect)."""
        params = {
            "CallSid": self.sid,
            "AccountSid": self.account_sid or "",
            "From": self.sender,
            "To": self.to,
            "Caller": self.sender,
            "Called": self.to,
            "CallStatus": self.status,
            "Direction": self.direction,
            "ApiVersion": API_VERSION,
        }
        if self.answered_by is not None:
            params["AnsweredBy"] = self.answered_by
        return params

    def callback_params(self) -> dict[str, str]:
        """A status callback's fields for the current status, as Twilio sends them."""
        params = self.webhook_params()
        params.update(CallbackSource="call-progress-events", SequenceNumber=str(self.sequence),
                      Timestamp=rfc2822(self.updated_at or self.at))
        if self.finished:
            params["CallDuration"] = str(self.duration or 0)
            params["Duration"] = str(-(-(self.duration or 0) // 60))  # billed minutes, rounded up
        return params

    def resource(self) -> dict[str, Any]:
        """The Twilio Call resource JSON for this call as it is now."""
        path = f"/{API_VERSION}/Accounts/{self.account_sid}/Calls/{self.sid}"
        return {
            "account_sid": self.account_sid,
            "annotation": None,
            "answered_by": self.answered_by,
            "api_version": API_VERSION,
            "caller_name": None,
            "date_created": rfc2822(self.at),
            "date_updated": rfc2822(self.updated_at or self.at),
            "direction": self.direction,
            "duration": None if self.duration is None else str(self.duration),
            "end_time": None if self.end_time is None else rfc2822(self.end_time),
            "forwarded_from": None,
            "from": self.sender,
            "from_formatted": self.sender,
            "group_sid": None,
            "parent_call_sid": None,
            "phone_number_sid": None,
            "price": None,
            "price_unit": "USD",
            "queue_time": "0",
            "sid": self.sid,
            "start_time": None if self.start_time is None else rfc2822(self.start_time),
            "status": self.status,
            "subresource_uris": {name: f"{path}/{name.title().replace('_', '')}.json"
                                 for name in ("notifications", "recordings", "payments", "events")},
            "to": self.to,
            "to_formatted": self.to,
            "trunk_sid": None,
            "uri": f"{path}.json",
        }

    def to_json(self) -> dict[str, Any]:
        data = RecordedMessage.to_json(self)
        data.update(
            spoken=list(self.spoken),
            script=list(self.script),
            gather=None if self.gather is None else self.gather.to_json(),
            answered_by=self.answered_by,
            duration=self.duration,
            error=self.error,
        )
        return data
