"""USSD screen texts in French (default), English and Swahili. ASCII only: telcos may not render
accents, and every screen must stay within 160 characters (checked by tests with the longest values)."""

from __future__ import annotations

LANGS = ("fr", "en", "sw")

TEXTS: dict[str, dict[str, str]] = {
    "lang": {
        "fr": "Nguvu electricite\n1. Francais\n2. English\n3. Kiswahili",
        "en": "Nguvu electricity\n1. Francais\n2. English\n3. Kiswahili",
        "sw": "Nguvu umeme\n1. Francais\n2. English\n3. Kiswahili",
    },
    "main": {
        "fr": "Nguvu\n1. Acheter electricite\n2. Renvoyer mon dernier jeton\n3. Aide",
        "en": "Nguvu\n1. Buy electricity\n2. Resend my last token\n3. Help",
        "sw": "Nguvu\n1. Nunua umeme\n2. Tuma tena tokeni yangu ya mwisho\n3. Msaada",
    },
    "currency": {
        "fr": "Devise\n1. CDF\n2. USD",
        "en": "Currency\n1. CDF\n2. USD",
        "sw": "Sarafu\n1. CDF\n2. USD",
    },
    "account": {
        "fr": "Entrez le code client ou le numero du compteur",
        "en": "Enter the customer code or the meter number",
        "sw": "Ingiza nambari ya mteja au nambari ya mita",
    },
    "amount": {
        "fr": "Compteur {meter}\nTitulaire: {holder}\nMontant en {currency} ({min} a {max}):",
        "en": "Meter {meter}\nHolder: {holder}\nAmount in {currency} ({min} to {max}):",
        "sw": "Mita {meter}\nMmiliki: {holder}\nKiasi kwa {currency} ({min} hadi {max}):",
    },
    "confirm": {
        "fr": "Payer {amount} {currency} pour {units} kWh\nCompteur {meter}\n1. Confirmer\n2. Annuler",
        "en": "Pay {amount} {currency} for {units} kWh\nMeter {meter}\n1. Confirm\n2. Cancel",
        "sw": "Lipa {amount} {currency} kwa {units} kWh\nMita {meter}\n1. Thibitisha\n2. Ghairi",
    },
    "nav": {
        "fr": "0. Retour 00. Menu",
        "en": "0. Back 00. Menu",
        "sw": "0. Rudi 00. Menyu",
    },
    "queued": {
        "fr": "Merci. Approuvez la demande de paiement sur votre telephone avec votre PIN. "
        "Vous recevrez le jeton par SMS.",
        "en": "Thank you. Approve the payment request on your phone with your PIN. "
        "You will receive the token by SMS.",
        "sw": "Asante. Idhinisha ombi la malipo kwenye simu yako kwa PIN yako. Utapokea tokeni kwa SMS.",
    },
    "cancelled": {
        "fr": "Achat annule. Merci d'utiliser Nguvu.",
        "en": "Purchase cancelled. Thank you for using Nguvu.",
        "sw": "Ununuzi umeghairiwa. Asante kwa kutumia Nguvu.",
    },
    "resent": {
        "fr": "Le dernier jeton du compteur {meter} sera envoye par SMS au numero du titulaire.",
        "en": "The last token of meter {meter} will be sent by SMS to the holder's phone.",
        "sw": "Tokeni ya mwisho ya mita {meter} itatumwa kwa SMS kwa simu ya mmiliki.",
    },
    "resend_limited": {
        "fr": "Le jeton du compteur {meter} a deja ete renvoye plusieurs fois cette heure. Reessayez plus tard.",
        "en": "The token of meter {meter} was already resent several times this hour. Please try later.",
        "sw": "Tokeni ya mita {meter} imetumwa tena mara kadhaa saa hii. Tafadhali jaribu baadaye.",
    },
    "help": {
        "fr": "Nguvu: achetez l'electricite par mobile money. Le jeton arrive par SMS: tapez-le sur le "
        "compteur. 0 = retour, 00 = menu.",
        "en": "Nguvu: buy electricity with mobile money. The token comes by SMS: type it on your meter. "
        "0 = back, 00 = menu.",
        "sw": "Nguvu: nunua umeme kwa pesa ya simu. Tokeni inakuja kwa SMS: iingize kwenye mita. "
        "0 = rudi, 00 = menyu.",
    },
    "err_choice": {
        "fr": "Choix invalide, reessayez.",
        "en": "Invalid choice, please try again.",
        "sw": "Chaguo si sahihi, jaribu tena.",
    },
    "err_account": {
        "fr": "Numero inconnu, verifiez et reessayez.",
        "en": "Unknown number, please check and retry.",
        "sw": "Nambari haijulikani, hakikisha ujaribu tena.",
    },
    "err_amount": {
        "fr": "Montant invalide, reessayez.",
        "en": "Invalid amount, please try again.",
        "sw": "Kiasi si sahihi, jaribu tena.",
    },
    "err_limits": {
        "fr": "Montant hors limites.",
        "en": "Amount out of limits.",
        "sw": "Kiasi nje ya mipaka.",
    },
    "err_tariff": {
        "fr": "Devise non disponible pour ce compteur.",
        "en": "Currency not available for this meter.",
        "sw": "Sarafu haipatikani kwa mita hii.",
    },
    "unavailable": {
        "fr": "Service momentanement indisponible. Reessayez plus tard.",
        "en": "Service temporarily unavailable. Please try again later.",
        "sw": "Huduma haipatikani kwa sasa. Jaribu tena baadaye.",
    },
    "rate_limited": {
        "fr": "Trop de demandes depuis ce numero. Reessayez dans quelques minutes.",
        "en": "Too many requests from this phone. Please try again in a few minutes.",
        "sw": "Maombi mengi mno kutoka simu hii. Tafadhali jaribu tena baada ya dakika chache.",
    },
    "bad_request": {
        "fr": "Requete invalide.",
        "en": "Invalid request.",
        "sw": "Ombi batili.",
    },
}


def text(key: str, lang: str, **values: object) -> str:
    table = TEXTS[key]
    return table.get(lang, table["fr"]).format(**values)
