"""Words of the payments list, the review of held payments and the CSV exports."""

from __future__ import annotations

TEXTS: dict[str, dict[str, str]] = {
    "payments.title": {"fr": "Paiements", "en": "Payments", "sw": "Malipo"},
    "payments.one": {"fr": "Paiement {reference}", "en": "Payment {reference}", "sw": "Malipo {reference}"},
    "payments.held_list": {
        "fr": "Paiements en attente de vérification",
        "en": "Payments held for review",
        "sw": "Malipo yanayosubiri ukaguzi",
    },
    "payments.any": {"fr": "Tous", "en": "Any", "sw": "Yoyote"},
    "payments.status": {"fr": "État", "en": "Status", "sw": "Hali"},
    "payments.provider": {"fr": "Opérateur", "en": "Provider", "sw": "Mtoa huduma"},
    "payments.channel": {"fr": "Canal", "en": "Channel", "sw": "Njia"},
    "payments.currency": {"fr": "Devise", "en": "Currency", "sw": "Sarafu"},
    "payments.from": {"fr": "Du", "en": "From", "sw": "Kuanzia"},
    "payments.to": {"fr": "Au (inclus)", "en": "To (included)", "sw": "Hadi (pamoja)"},
    "payments.phone": {"fr": "Téléphone", "en": "Phone", "sw": "Simu"},
    "payments.phone_hint": {
        "fr": "Numéro complet ou quelques chiffres",
        "en": "Whole number or a few digits",
        "sw": "Namba kamili au tarakimu chache",
    },
    "payments.reset": {"fr": "Effacer les filtres", "en": "Clear filters", "sw": "Futa vichujio"},
    "payments.bad_filters": {
        "fr": "Un filtre n'est pas valide ; corrigez-le pour voir les paiements.",
        "en": "A filter is not valid; correct it to see the payments.",
        "sw": "Kichujio kimoja si sahihi; kirekebishe kuona malipo.",
    },
    "payments.pages": {"fr": "Pages", "en": "Pages", "sw": "Kurasa"},
    "payments.date": {"fr": "Date", "en": "Date", "sw": "Tarehe"},
    "payments.reference": {"fr": "Référence", "en": "Reference", "sw": "Kumbukumbu"},
    "payments.meter": {"fr": "Compteur", "en": "Meter", "sw": "Mita"},
    "payments.customer": {"fr": "Abonné", "en": "Subscriber", "sw": "Mteja"},
    "payments.amount": {"fr": "Montant", "en": "Amount", "sw": "Kiasi"},
    "payments.paid_amount": {"fr": "Montant reçu", "en": "Amount received", "sw": "Kiasi kilichopokelewa"},
    "payments.provider_txn": {
        "fr": "Transaction de l'opérateur",
        "en": "Provider transaction",
        "sw": "Muamala wa mtoa huduma",
    },
    "payments.created_by": {"fr": "Encaissé par", "en": "Taken by", "sw": "Imepokelewa na"},
    "payments.token": {"fr": "Jeton émis", "en": "Token issued", "sw": "Tokeni iliyotolewa"},
    "payments.receipt": {"fr": "Reçu", "en": "Receipt", "sw": "Risiti"},
    "payments.resolve": {
        "fr": "Traiter ce paiement",
        "en": "Resolve this payment",
        "sw": "Shughulikia malipo haya",
    },
    "payments.resolve_help": {
        "fr": "L'argent a été reçu mais aucun jeton n'a été émis. Émettre le jeton crédite le compteur du "
        "paiement au tarif en vigueur et envoie le SMS ; le remboursement clôt le paiement sans jeton. "
        "Les deux sont définitifs et inscrits au journal d'audit.",
        "en": "The money was received but no token was issued. Vending issues the token for the payment's "
        "meter at the tariff in force and sends the SMS; a refund closes the payment without a token. Both "
        "are final and written to the audit log.",
        "sw": "Pesa zimepokelewa lakini hakuna tokeni iliyotolewa. Kutoa tokeni kunaongeza salio kwenye mita "
        "kwa bei iliyopo na kutuma SMS; kurejesha pesa kunafunga malipo bila tokeni. Vyote ni vya mwisho "
        "na vinaandikwa kwenye kumbukumbu za ukaguzi.",
    },
    "payments.resolution": {"fr": "Décision", "en": "Decision", "sw": "Uamuzi"},
    "payments.resolve_vend": {
        "fr": "Émettre le jeton maintenant",
        "en": "Issue the token now",
        "sw": "Toa tokeni sasa",
    },
    "payments.resolve_refund": {
        "fr": "Marquer pour remboursement",
        "en": "Mark for refund",
        "sw": "Weka alama ya kurejesha pesa",
    },
    "payments.meter_for_vend": {
        "fr": "Compteur à créditer",
        "en": "Meter to credit",
        "sw": "Mita ya kuongezea salio",
    },
    "payments.meter_for_vend_hint": {
        "fr": "Ce paiement ne nomme aucun compteur connu : numéro du compteur ou code client",
        "en": "This payment names no known meter: the meter number or customer code",
        "sw": "Malipo haya hayataji mita inayojulikana: namba ya mita au msimbo wa mteja",
    },
    "payments.note": {"fr": "Motif (obligatoire)", "en": "Reason (required)", "sw": "Sababu (lazima)"},
    "payments.resolve_submit": {
        "fr": "Confirmer la décision",
        "en": "Confirm the decision",
        "sw": "Thibitisha uamuzi",
    },
    "done.payment_vended": {
        "fr": "Le jeton a été émis et le SMS mis en file.",
        "en": "The token was issued and the SMS queued.",
        "sw": "Tokeni imetolewa na SMS imepangwa.",
    },
    "done.payment_refund": {
        "fr": "Le paiement est marqué pour remboursement.",
        "en": "The payment is marked for refund.",
        "sw": "Malipo yamewekwa alama ya kurejeshwa.",
    },
    "payment_status.queued": {"fr": "En file", "en": "Queued", "sw": "Kwenye foleni"},
    "payment_status.pending": {"fr": "En cours", "en": "Pending", "sw": "Inasubiri"},
    "payment_status.vended": {"fr": "Jeton émis", "en": "Vended", "sw": "Tokeni imetolewa"},
    "payment_status.failed": {"fr": "Échoué", "en": "Failed", "sw": "Imeshindwa"},
    "payment_status.expired": {"fr": "Expiré", "en": "Expired", "sw": "Muda umeisha"},
    "payment_status.held": {"fr": "À vérifier", "en": "Held", "sw": "Imezuiliwa"},
    "payment_status.refund": {"fr": "À rembourser", "en": "To refund", "sw": "Ya kurejesha"},
    "held_reason.amount_mismatch": {
        "fr": "montant reçu différent du montant demandé",
        "en": "amount received differs from the amount asked",
        "sw": "kiasi kilichopokelewa ni tofauti na kilichoombwa",
    },
    "held_reason.currency_mismatch": {
        "fr": "devise reçue différente",
        "en": "currency received differs",
        "sw": "sarafu iliyopokelewa ni tofauti",
    },
    "held_reason.unknown_meter": {
        "fr": "compteur inconnu",
        "en": "unknown meter",
        "sw": "mita haijulikani",
    },
    "held_reason.no_tariff": {"fr": "aucun tarif en vigueur", "en": "no tariff in force", "sw": "hakuna bei"},
    "held_reason.amount_out_of_limits": {
        "fr": "montant hors des limites du tarif",
        "en": "amount outside the tariff's limits",
        "sw": "kiasi nje ya mipaka ya bei",
    },
    "field.before_start": {
        "fr": "est avant la date de début",
        "en": "is before the start date",
        "sw": "iko kabla ya tarehe ya kuanza",
    },
    "field.invalid_cursor": {
        "fr": "Ce lien de page n'est plus valide ; revenez à la première page.",
        "en": "This page link is no longer valid; go back to the first page.",
        "sw": "Kiungo hiki cha ukurasa si halali tena; rudi ukurasa wa kwanza.",
    },
    "exports.title": {"fr": "Exports CSV", "en": "CSV exports", "sw": "Usafirishaji wa CSV"},
    "exports.help": {
        "fr": "Les paiements ou les jetons d'une période (dates locales incluses), en CSV (séparateur "
        "virgule, UTF-8). Aucune clé n'y figure.",
        "en": "The payments or the tokens of a period (local dates, both included), as CSV (comma separated, "
        "UTF-8). No key is ever in it.",
        "sw": "Malipo au tokeni za kipindi (tarehe za hapa, zote pamoja), kama CSV (koma, UTF-8). Hakuna "
        "ufunguo ndani yake.",
    },
    "exports.payments": {"fr": "Paiements", "en": "Payments", "sw": "Malipo"},
    "exports.tokens": {"fr": "Jetons", "en": "Tokens", "sw": "Tokeni"},
    "exports.download": {"fr": "Télécharger", "en": "Download", "sw": "Pakua"},
    "field.range_too_long": {
        "fr": "la période dépasse 366 jours",
        "en": "the period is longer than 366 days",
        "sw": "kipindi kinazidi siku 366",
    },
}
