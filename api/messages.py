"""SMS texts in French, English and Swahili: GSM-7 only (one accent outside it turns a 160-character
SMS into a 70-character UCS-2 one), token in groups of four, units, meter and amount."""

from __future__ import annotations

from decimal import Decimal

from api.pricing import plain

# The GSM 03.38 basic character set (without the escape table), as a set of characters.
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnopqrstuvwxyzäöñüà"
)


def is_gsm7(text: str) -> bool:
    return all(c in GSM7_BASIC for c in text)


def group4(token: str) -> str:
    digits = token.replace(" ", "")
    return " ".join(digits[i : i + 4] for i in range(0, len(digits), 4))


_TOKEN = {
    "fr": "Nguvu: paiement {amount} {currency} recu. Compteur {meter}. Jeton: {token}. Energie: {units} kWh. "
    "Tapez le jeton sur le compteur.",
    "en": "Nguvu: payment {amount} {currency} received. Meter {meter}. Token: {token}. Energy: {units} kWh. "
    "Type the token on your meter.",
    "sw": "Nguvu: malipo {amount} {currency} yamepokelewa. Mita {meter}. Tokeni: {token}. "
    "Nishati: {units} kWh. Ingiza tokeni kwenye mita.",
}
_RESEND = {
    "fr": "Nguvu: dernier jeton du compteur {meter}: {token}. Energie: {units} kWh ({date}).",
    "en": "Nguvu: last token for meter {meter}: {token}. Energy: {units} kWh ({date}).",
    "sw": "Nguvu: tokeni ya mwisho ya mita {meter}: {token}. Nishati: {units} kWh ({date}).",
}
_NO_TOKEN = {
    "fr": "Nguvu: aucun jeton trouve pour le compteur {meter}.",
    "en": "Nguvu: no token found for meter {meter}.",
    "sw": "Nguvu: hakuna tokeni ya mita {meter}.",
}
# Replies to the SMS keyword ("resend my last token"), see api/resend.py.
_HELP = {
    "fr": "Nguvu: pour recevoir votre dernier jeton, envoyez {keyword} ou {keyword} suivi du numero du "
    "compteur.",
    "en": "Nguvu: to get your last token again, send {keyword} or {keyword} followed by the meter number.",
    "sw": "Nguvu: kupata tokeni yako ya mwisho, tuma {keyword} au {keyword} ikifuatiwa na namba ya mita.",
}
_NOT_LINKED = {
    "fr": "Nguvu: le compteur {meter} n'est pas lie a ce numero.",
    "en": "Nguvu: meter {meter} is not linked to this number.",
    "sw": "Nguvu: mita {meter} haijaunganishwa na namba hii.",
}
_NO_METER = {
    "fr": "Nguvu: aucun compteur n'est lie a ce numero.",
    "en": "Nguvu: no meter is linked to this number.",
    "sw": "Nguvu: hakuna mita iliyounganishwa na namba hii.",
}
_FAILED = {
    "fr": "Nguvu: le paiement de {amount} {currency} pour le compteur {meter} n'a pas abouti. Aucun montant "
    "n'a ete preleve.",
    "en": "Nguvu: the payment of {amount} {currency} for meter {meter} did not go through. You were not "
    "charged.",
    "sw": "Nguvu: malipo ya {amount} {currency} kwa mita {meter} hayakufaulu. Hujatozwa pesa.",
}
_HELD = {
    "fr": "Nguvu: votre paiement {reference} est en verification. Un agent vous contactera.",
    "en": "Nguvu: your payment {reference} is under review. An agent will contact you.",
    "sw": "Nguvu: malipo yako {reference} yanakaguliwa. Wakala atawasiliana nawe.",
}


def _lang(language: str) -> str:
    return language if language in _TOKEN else "fr"


def token_sms(
    language: str, *, token: str, units: Decimal, meter: str, amount: Decimal | None, currency: str
) -> str:
    return _TOKEN[_lang(language)].format(
        token=group4(token),
        units=plain(units),
        meter=meter,
        amount=plain(amount) if amount is not None else "-",
        currency=currency,
    )


def resend_sms(language: str, *, token: str, units: Decimal | None, meter: str, date: str) -> str:
    return _RESEND[_lang(language)].format(
        token=group4(token), units=plain(units) if units is not None else "-", meter=meter, date=date
    )


def no_token_sms(language: str, *, meter: str) -> str:
    return _NO_TOKEN[_lang(language)].format(meter=meter)


def help_sms(language: str, *, keyword: str) -> str:
    return _HELP[_lang(language)].format(keyword=keyword)


def not_linked_sms(language: str, *, meter: str) -> str:
    return _NOT_LINKED[_lang(language)].format(meter=meter)


def no_meter_sms(language: str) -> str:
    return _NO_METER[_lang(language)]


def failed_sms(language: str, *, amount: Decimal, currency: str, meter: str) -> str:
    return _FAILED[_lang(language)].format(amount=plain(amount), currency=currency, meter=meter)


def held_sms(language: str, *, reference: str) -> str:
    return _HELD[_lang(language)].format(reference=reference)
