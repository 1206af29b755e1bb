"""What Tocsin texts back to a subscriber, in their language (English, Spanish, French).

The built-in wording of the double opt-in conversation (alerting/subscriptions.py); an
organisation's own reply for a keyword (its `sms_keywords` row) takes the place of the first
words and is filled by `fill`.
"""
from __future__ import annotations

import re
from typing import Iterable

#: Built-in answers by language. Placeholders: {org}, {contact}, {areas} (" for Northside" or ""),
#: and in "confirm" {consent} (the consent text of alerting/consent.py).
TEXTS: dict[str, dict[str, str]] = {
    "confirm": {
        "en": "{org}: reply YES to get emergency alerts{areas}. {consent}",
        "es": "{org}: responda SI para recibir alertas de emergencia{areas}. {consent}",
        "fr": "{org} : répondez OUI pour recevoir les alertes d'urgence{areas}. {consent}",
    },
    "welcome": {
        "en": "{org}: you are subscribed to emergency alerts{areas}. Messages come only with emergencies "
              "and tests, a few a year. Msg & data rates may apply. Reply STOP to end, HELP for contact info.",
        "es": "{org}: está suscrito a las alertas de emergencia{areas}. Solo recibirá mensajes en emergencias "
              "y pruebas, pocos al año. Pueden aplicarse tarifas. Responda STOP para terminar, AYUDA para "
              "información.",
        "fr": "{org} : vous êtes inscrit aux alertes d'urgence{areas}. Messages seulement lors d'urgences et "
              "d'exercices, quelques-uns par an. Des frais peuvent s'appliquer. Répondez STOP pour arrêter, "
              "AIDE pour nous contacter.",
    },
    "added": {
        "en": "{org}: you will also get alerts{areas}. Reply STOP to end, HELP for help.",
        "es": "{org}: también recibirá alertas{areas}. Responda STOP para terminar, AYUDA para ayuda.",
        "fr": "{org} : vous recevrez aussi les alertes{areas}. Répondez STOP pour arrêter, AIDE pour de l'aide.",
    },
    "help": {
        "en": "{org} emergency alerts. Contact: {contact}. Text JOIN to subscribe, STOP to end. "
              "Msg & data rates may apply.",
        "es": "Alertas de emergencia de {org}. Contacto: {contact}. Envíe ALTA para suscribirse, STOP para "
              "terminar. Pueden aplicarse tarifas.",
        "fr": "Alertes d'urgence de {org}. Contact : {contact}. Envoyez INSCRIRE pour vous abonner, STOP pour "
              "arrêter. Des frais peuvent s'appliquer.",
    },
    "help_member": {
        "en": "{org} emergency alerts: you are subscribed. Contact: {contact}. Reply STOP to end. "
              "Msg & data rates may apply.",
        "es": "Alertas de emergencia de {org}: está suscrito. Contacto: {contact}. Responda STOP para terminar. "
              "Pueden aplicarse tarifas.",
        "fr": "Alertes d'urgence de {org} : vous êtes inscrit. Contact : {contact}. Répondez STOP pour arrêter. "
              "Des frais peuvent s'appliquer.",
    },
    "stopped": {
        "en": "{org}: you are unsubscribed from alerts by text and will receive no more messages. "
              "Reply START to resubscribe.",
        "es": "{org}: ya no recibirá alertas por mensaje de texto. Responda START para volver a suscribirse.",
        "fr": "{org} : vous êtes désinscrit des alertes par SMS et ne recevrez plus de messages. "
              "Répondez START pour vous réinscrire.",
    },
    "started": {
        "en": "{org}: you are subscribed to alerts by text again. Reply STOP to unsubscribe, HELP for help.",
        "es": "{org}: vuelve a recibir alertas por mensaje de texto. Responda STOP para darse de baja, "
              "AYUDA para ayuda.",
        "fr": "{org} : vous recevez de nouveau les alertes par SMS. Répondez STOP pour vous désinscrire, "
              "AIDE pour de l'aide.",
    },
    "unknown": {
        "en": "{org}: we did not understand that. Text JOIN for emergency alerts, HELP for help, STOP to end.",
        "es": "{org}: no entendimos su mensaje. Envíe ALTA para alertas, AYUDA para ayuda, STOP para terminar.",
        "fr": "{org} : message non compris. Envoyez INSCRIRE pour les alertes, AIDE pour de l'aide, STOP pour "
              "arrêter.",
    },
    "areas": {"en": " for {names}", "es": " para {names}", "fr": " pour {names}"},
}


def text(name: str, locale: str, **values: str) -> str:
    by_language = TEXTS[name]
    return by_language.get((locale or "en")[:2].lower(), by_language["en"]).format(**values)


def fill(template: str, **values: str) -> str:
    """An organisation's reply with {org}, {contact} and {areas} filled; other braces left as written."""
    return re.sub(r"\{(org|contact|areas)\}", lambda m: values.get(m.group(1), ""), template)


def areas_phrase(zones: Iterable[str], locale: str) -> str:
    """What {areas} becomes: " for Library, Northside" in the language, or "" for no zone."""
    names = sorted(set(zones))
    return text("areas", locale, names=", ".join(names)) if names else ""
