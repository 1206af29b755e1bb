"""Voice calls: what a call says, in which language, and what the keys pressed during it mean.

The call itself is placed by `channels/twilio_voice.py`; the provider then asks the console what to
say (console/hooks_voice.py), which reads the call's context here. The message is the alert's voice
text in the person's language when the alert carries a translation for it (else as the operator
wrote it), with the person's placeholders filled; our framing (who it is from, the drill notice, the
key prompts and confirmations) is translated into English, Spanish and French. Any other locale
hears English framing.

A key press is recorded like an SMS reply, with the provider's call id and the key as the response's
message id: a provider retrying the same request records it once, and pressing the same key twice
in one call counts once (pressing another key, such as 2 after 1, still counts: help outranks safe).
An answering machine cannot press keys, so the person is also sent the alert by SMS.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import bindparam, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, lazyload

from alerting import personalize
from alerting.models import Alert, Delivery, OptOut, Recipient, Response, utcnow
from alerting.rendering import DRILL_PREFIX, asks_for_answer
from alerting.replies import record_response
from alerting.statuses import OPEN_ALERT_STATUSES, Channel, DeliveryStatus, ResponseKind

#: What each key means during a call; REPEAT_KEY plays the message again.
KEYS: dict[str, ResponseKind] = {"1": ResponseKind.SAFE, "2": ResponseKind.NEED_HELP}
REPEAT_KEY = "9"

#: The text-to-speech language for each language we translate into (Twilio's codes).
DEFAULT_LANGUAGE = {"en": "en-US", "es": "es-MX", "fr": "fr-FR"}
#: Regional variants kept as the person's locale gives them: someone in Quebec hears fr-CA, not fr-FR.
REGIONAL_LANGUAGES = frozenset({"en-US", "en-GB", "en-AU", "en-CA", "en-IN", "es-ES", "es-MX", "es-US",
                                "fr-FR", "fr-CA"})
#: SMS states after which the person has not received, and will not receive, that message.
FAILED_SMS_STATUSES = (DeliveryStatus.FAILED, DeliveryStatus.UNDELIVERED)


@dataclass(frozen=True)
class Words:
    """Everything a call says besides the alert's message. `{org}` and `{contact}` are filled in."""
    drill: str
    intro: str
    prompt: str
    no_answer: str
    safe: str
    need_help: str
    not_understood: str
    closed: str


WORDS = {
    "en": Words(
        drill=DRILL_PREFIX,
        intro="This is an emergency message from {org}.",
        prompt="Press 1 if you are safe. Press 2 if you need help. Press 9 to hear this again.",
        no_answer="We did not receive an answer. Goodbye.",
        safe="Thank you. You are marked safe. Goodbye.",
        need_help="We have recorded that you need help. If you can, contact {contact}. Goodbye.",
        not_understood="Sorry, that key was not understood.",
        closed="Thank you. This alert has ended. Goodbye."),
    "es": Words(
        drill="PRUEBA - SOLO ES UN SIMULACRO. ",
        intro="Este es un mensaje de emergencia de {org}.",
        prompt="Marque 1 si está a salvo. Marque 2 si necesita ayuda. Marque 9 para escuchar este mensaje otra vez.",
        no_answer="No recibimos su respuesta. Adiós.",
        safe="Gracias. Registramos que está a salvo. Adiós.",
        need_help="Registramos que necesita ayuda. Si puede, comuníquese con {contact}. Adiós.",
        not_understood="Lo sentimos, no entendimos esa tecla.",
        closed="Gracias. Esta alerta ya terminó. Adiós."),
    "fr": Words(
        drill="TEST - EXERCICE UNIQUEMENT. ",
        intro="Ceci est un message d'urgence de {org}.",
        prompt="Appuyez sur 1 si vous êtes en sécurité. Appuyez sur 2 si vous avez besoin d'aide. "
               "Appuyez sur 9 pour réécouter ce message.",
        no_answer="Nous n'avons pas reçu de réponse. Au revoir.",
        safe="Merci. Nous avons noté que vous êtes en sécurité. Au revoir.",
        need_help="Nous avons noté que vous avez besoin d'aide. Si vous le pouvez, contactez {contact}. Au revoir.",
        not_understood="Désolé, cette touche n'a pas été comprise.",
        closed="Merci. Cette alerte est terminée. Au revoir."),
}


def _base_language(locale: str | None) -> str:
    base = (locale or "en").replace("_", "-").split("-", 1)[0].lower()
    return base if base in WORDS else "en"


def twilio_language(locale: str | None) -> str:
    """'es' -> 'es-MX', 'fr-ca' -> 'fr-CA', 'de' -> 'en-US' (we have no German words to say)."""
    base = _base_language(locale)
    parts = (locale or "").replace("_", "-").split("-")
    regional = f"{parts[0].lower()}-{parts[1].upper()}" if len(parts) > 1 else ""
    return regional if regional in REGIONAL_LANGUAGES and regional.startswith(base) else DEFAULT_LANGUAGE[base]


def words_for(locale: str | None) -> Words:
    return WORDS[_base_language(locale)]


@dataclass(frozen=True)
class CallContext:
    """The delivery a call belongs to, with what the call needs to know about its alert and person."""
    delivery_id: int
    alert_id: int
    recipient_id: int
    locale: str
    message: str
    drill: bool
    open: bool  # the alert still takes answers (sending or sent)
    asks_answer: bool = True  # False for a false alarm or an all clear: nobody is asked for a key

    @property
    def language(self) -> str:
        return twilio_language(self.locale)

    @property
    def words(self) -> Words:
        return words_for(self.locale)

    def script(self, org_name: str) -> str:
        """What the call says: the drill notice first, who it is from, then the message as written."""
        words = self.words
        return f"{words.drill if self.drill else ''}{words.intro.format(org=org_name)} {self.message}"


_CALL_CONTEXT = (select(Alert, Delivery.recipient_id, Recipient.locale)
                 .join(Delivery, Delivery.alert_id == Alert.id)
                 .join(Recipient, Recipient.id == Delivery.recipient_id)
                 .where(Delivery.id == bindparam("delivery_id"), Delivery.channel == Channel.VOICE)
                 .options(lazyload(Alert.incident)))  # not needed here: no join for it


def call_context(session: Session, delivery_id: int) -> CallContext | None:
    """The context of a voice delivery; None if there is no such voice delivery. The message is the
    alert's voice text in the person's language (when the alert has it), with their placeholders filled.

    Read on every answered call and key press, so in one query built once (building and keying a
    statement cost as much as running it), the alert with the person's language; the person's
    placeholder values are read only when the alert's texts use any.
    """
    row = session.execute(_CALL_CONTEXT, {"delivery_id": delivery_id}).first()
    if row is None:
        return None
    alert, recipient_id, locale = row
    values: dict[str, str] = {}
    if personalize.uses_personal(*personalize.alert_texts(alert)):
        person = personalize.people(session, alert, [recipient_id]).get(recipient_id)
        if person is None:
            return None
        values = person.values
    locale = locale or "en"
    message = personalize.fill(alert.text_for(Channel.VOICE, locale), values)
    return CallContext(delivery_id, alert.id, recipient_id, locale, message, bool(alert.drill),
                       alert.status in OPEN_ALERT_STATUSES, asks_for_answer(alert))


def record_key(session: Session, context: CallContext, digits: str, call_sid: str) -> bool:
    """Record a safe/need-help key against the call's alert; False if closed, repeated or not an answer."""
    kind = KEYS.get(digits)
    if kind is None or not context.open:
        return False
    message_id = f"{call_sid}:{digits}"[:100]
    if session.scalar(select(Response.id).where(Response.provider_message_id == message_id)):
        return False
    try:
        with session.begin_nested():
            record_response(session, context.alert_id, context.recipient_id, kind, Channel.VOICE, digits, message_id)
    except IntegrityError:
        return False  # the same request, retried while the first was still being written
    return True


def sms_instead(session: Session, context: CallContext) -> int | None:
    """Add an SMS delivery of the alert for a person whose call reached a machine; its id, to enqueue.

    Nothing is added when the alert is no longer open, the person has no phone, their number opted
    out of SMS, or they already have an SMS for this alert that has not failed (the alert went by
    SMS too, or an earlier call to them also reached a machine).
    """
    if not context.open:
        return None
    phone = session.scalar(select(Recipient.phone).where(Recipient.id == context.recipient_id))
    if not phone:
        return None
    if session.scalar(select(OptOut.id).where(OptOut.channel == Channel.SMS, OptOut.address == phone)):
        return None
    sms = (Delivery.alert_id == context.alert_id, Delivery.recipient_id == context.recipient_id,
           Delivery.channel == Channel.SMS)
    if session.scalar(select(Delivery.id).where(*sms, Delivery.status.not_in(FAILED_SMS_STATUSES)).limit(1)):
        return None
    attempt = (session.scalar(select(func.max(Delivery.attempt)).where(*sms)) or 0) + 1
    now = utcnow()
    delivery = Delivery(alert_id=context.alert_id, recipient_id=context.recipient_id, channel=Channel.SMS,
                        attempt=attempt, address=phone, status=DeliveryStatus.PENDING, status_rank=0, tries=0,
                        created_at=now, updated_at=now)
    try:
        with session.begin_nested():
            session.add(delivery)
    except IntegrityError:
        return None  # a concurrent request for the same call added this attempt first
    return delivery.id
