"""Words of the Audit log page."""

from __future__ import annotations

TEXTS: dict[str, dict[str, str]] = {
    "audit.title": {"fr": "Journal d'audit", "en": "Audit log", "sw": "Kumbukumbu za ukaguzi"},
    "audit.actor": {"fr": "Auteur", "en": "Who", "sw": "Nani"},
    "audit.action": {"fr": "Action", "en": "Action", "sw": "Kitendo"},
    "audit.any_action": {"fr": "Toutes", "en": "Any", "sw": "Zote"},
    "audit.subject": {"fr": "Objet", "en": "Subject", "sw": "Kitu"},
    "audit.since": {"fr": "Du", "en": "From", "sw": "Kuanzia"},
    "audit.until": {"fr": "Au (inclus)", "en": "To (inclusive)", "sw": "Hadi (pamoja)"},
    "audit.when": {"fr": "Date", "en": "When", "sw": "Lini"},
    "audit.changes": {"fr": "Avant → après", "en": "Before → after", "sw": "Kabla → baada"},
}
