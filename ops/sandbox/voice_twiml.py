"""Voice TwiML as the fake carrier reads it: a flat list of verbs with their attributes.

Only what a sandbox call needs is interpreted (`voice_call.py` runs the verbs):
<Say>, <Play>, <Pause>, <Gather> (with its nested Say/Play/Pause), <Hangup>,
<Redirect>. Any other verb is kept by name so the call's script shows it, and
is otherwise skipped. Parsing goes through `twiml.parse_response`, which
refuses DTDs and entity declarations.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .twiml import TwimlError, parse_response

MAX_LOOP = 10  # a `loop` larger than this is spoken this many times: the callee hangs up eventually
_GATHER_CHILDREN = frozenset({"Say", "Play", "Pause"})


@dataclass(frozen=True, slots=True)
class Verb:
    """One TwiML verb: its element name, text (what to say, or a URL) and attributes."""

    name: str
    text: str = ""
    attrs: Mapping[str, str] = field(default_factory=dict)
    children: tuple[Verb, ...] = ()  # a <Gather>'s prompts

    def int_attr(self, name: str, default: int, *, minimum: int = 0) -> int:
        """An integer attribute; TwimlError naming the attribute if it is not one."""
        raw = self.attrs.get(name)
        if raw is None or raw == "":
            return default
        try:
            value = int(raw)
        except ValueError:
            raise TwimlError(f"<{self.name} {name}=...> must be an integer, got {raw!r}") from None
        if value < minimum:
            raise TwimlError(f"<{self.name} {name}=...> must be >= {minimum}, got {value}")
        return value

    @property
    def repeats(self) -> int:
        """How many times a <Say> or <Play> is heard: `loop`, where 0 ("forever") counts once."""
        return min(self.int_attr("loop", 1), MAX_LOOP) or 1

    def describe(self) -> dict[str, Any]:
        """The verb as the call's `script` shows it."""
        entry: dict[str, Any] = {"verb": self.name.lower()}
        if self.name == "Say":
            entry.update(text=self.text, language=self.attrs.get("language"), voice=self.attrs.get("voice"),
                         loop=self.int_attr("loop", 1))
        elif self.name == "Play":
            entry.update(url=self.text or None, digits=self.attrs.get("digits"), loop=self.int_attr("loop", 1))
        elif self.name == "Pause":
            entry.update(length=self.int_attr("length", 1))
        elif self.name == "Redirect":
            entry.update(url=self.text, method=self.attrs.get("method", "POST").upper())
        elif self.name == "Gather":
            entry.update({key: value for key, value in self.attrs.items()})
        elif self.name != "Hangup":
            entry["unsupported"] = True
        return entry


def _verb(element: Any) -> Verb:
    children: tuple[Verb, ...] = ()
    if element.tag == "Gather":
        nested = [child for child in element if child.tag in _GATHER_CHILDREN]
        if any(child.tag == "Gather" for child in element):
            raise TwimlError("<Gather> cannot be nested in another <Gather>")
        children = tuple(_verb(child) for child in nested)
    text = "".join(element.itertext()).strip() if element.tag != "Gather" else ""
    return Verb(name=element.tag, text=text, attrs=dict(element.attrib), children=children)


def parse_voice_twiml(document: str) -> list[Verb]:
    """The verbs of a voice TwiML `<Response>`, in order; an empty document has none."""
    if not document.strip():
        return []
    verbs = [_verb(element) for element in parse_response(document)]
    for verb in verbs:  # check attributes now, not half-way through the call
        verb.describe()
        for child in verb.children:
            child.describe()
        if verb.name == "Gather":
            verb.int_attr("numDigits", 0, minimum=1)
            verb.int_attr("timeout", 5)
    return verbs
