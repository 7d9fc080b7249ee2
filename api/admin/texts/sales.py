"""Words of the counter sale and its receipt."""

from __future__ import annotations

TEXTS: dict[str, dict[str, str]] = {
    "sales.title": {
        "fr": "Vente au guichet (espèces)",
        "en": "Counter sale (cash)",
        "sw": "Mauzo ya dirishani (taslimu)",
    },
    "sales.search": {
        "fr": "Chercher l'abonné ou le compteur",
        "en": "Find the subscriber or meter",
        "sw": "Tafuta mteja au mita",
    },
    "sales.search_hint": {
        "fr": "Nom, post-nom, code client, téléphone ou numéro de compteur (une partie suffit)",
        "en": "Name, post-name, customer code, phone or meter number (part of it is enough)",
        "sw": "Jina, jina la pili, msimbo wa mteja, simu au namba ya mita (sehemu inatosha)",
    },
    "sales.meter": {"fr": "Compteur", "en": "Meter", "sw": "Mita"},
    "sales.meter_hint": {
        "fr": "Numéro du compteur (11 ou 13 chiffres) ou code client",
        "en": "Meter number (11 or 13 digits) or customer code",
        "sw": "Namba ya mita (tarakimu 11 au 13) au msimbo wa mteja",
    },
    "sales.amount": {
        "fr": "Montant payé (TVA comprise)",
        "en": "Amount paid (VAT included)",
        "sw": "Kiasi kilicholipwa (pamoja na VAT)",
    },
    "sales.currency": {"fr": "Devise", "en": "Currency", "sw": "Sarafu"},
    "sales.preview": {"fr": "Calculer les kWh", "en": "Work out the kWh", "sw": "Hesabu kWh"},
    "sales.confirm_title": {"fr": "Confirmer la vente", "en": "Confirm the sale", "sw": "Thibitisha mauzo"},
    "sales.confirm_help": {
        "fr": "Encaissez l'argent, puis confirmez : le jeton est émis une seule fois, même si vous cliquez deux fois.",
        "en": "Take the money, then confirm: the token is issued once, even if you click twice.",
        "sw": "Pokea pesa, kisha thibitisha: tokeni hutolewa mara moja tu, hata ukibofya mara mbili.",
    },
    "sales.confirm": {
        "fr": "Confirmer et émettre le jeton",
        "en": "Confirm and issue the token",
        "sw": "Thibitisha na toa tokeni",
    },
    "sales.holder": {"fr": "Abonné", "en": "Subscriber", "sw": "Mteja"},
    "sales.vat": {"fr": "dont TVA", "en": "of which VAT", "sw": "ikiwemo VAT"},
    "sales.fee": {"fr": "Frais", "en": "Fee", "sw": "Ada"},
    "sales.energy": {"fr": "Énergie", "en": "Energy", "sw": "Nishati"},
    "sales.receipt": {"fr": "Reçu de vente", "en": "Sale receipt", "sw": "Risiti ya mauzo"},
    "sales.receipt_heading": {
        "fr": "Reçu d'achat d'électricité prépayée",
        "en": "Prepaid electricity purchase receipt",
        "sw": "Risiti ya kununua umeme wa malipo ya awali",
    },
    "sales.receipt_footer": {
        "fr": "Tapez le jeton sur le clavier du compteur. Conservez ce reçu.",
        "en": "Type the token on the meter's keypad. Keep this receipt.",
        "sw": "Ingiza tokeni kwenye kibodi ya mita. Hifadhi risiti hii.",
    },
    "sales.token": {"fr": "Jeton", "en": "Token", "sw": "Tokeni"},
    "sales.date": {"fr": "Date", "en": "Date", "sw": "Tarehe"},
    "sales.reference": {"fr": "Référence", "en": "Reference", "sw": "Kumbukumbu"},
    "sales.cashier": {"fr": "Caissier", "en": "Cashier", "sw": "Karani"},
    "sales.layout": {"fr": "Format du reçu", "en": "Receipt layout", "sw": "Muundo wa risiti"},
    "sales.layout_a4": {"fr": "A4", "en": "A4", "sw": "A4"},
    "sales.layout_thermal": {"fr": "Ticket 80 mm", "en": "80 mm ticket", "sw": "Tiketi 80 mm"},
    "sales.print": {"fr": "Imprimer", "en": "Print", "sw": "Chapisha"},
    "sales.reprint": {
        "fr": "Réimprimer (journalisé)",
        "en": "Reprint (logged)",
        "sw": "Chapisha tena (inarekodiwa)",
    },
    "sales.reprinted": {
        "fr": "Réimpression inscrite au journal d'audit.",
        "en": "Reprint written to the audit log.",
        "sw": "Uchapishaji upya umeandikwa kwenye kumbukumbu.",
    },
    "sales.resend": {"fr": "Renvoyer le SMS", "en": "Send the SMS again", "sw": "Tuma SMS tena"},
    "sales.sms_status": {"fr": "SMS", "en": "SMS", "sw": "SMS"},
    "sales.new": {"fr": "Nouvelle vente", "en": "New sale", "sw": "Mauzo mapya"},
    "done.sale_made": {
        "fr": "Vente enregistrée : donnez le jeton au client ; le SMS est en file d'envoi.",
        "en": "Sale recorded: give the token to the customer; the SMS is queued.",
        "sw": "Mauzo yamerekodiwa: mpe mteja tokeni; SMS iko kwenye foleni.",
    },
    "done.sale_held": {
        "fr": "La vente est enregistrée mais aucun jeton n'a pu être émis : elle attend une vérification.",
        "en": "The sale is recorded but no token could be issued: it is held for review.",
        "sw": "Mauzo yamerekodiwa lakini tokeni haikuweza kutolewa: yanasubiri ukaguzi.",
    },
    "done.sale_pending": {
        "fr": "Cette vente est en cours d'émission ; rechargez la page dans un instant.",
        "en": "This sale is being vended; reload the page in a moment.",
        "sw": "Mauzo haya yanashughulikiwa; pakia upya ukurasa baada ya muda mfupi.",
    },
    "field.meter_not_found": {
        "fr": "aucun compteur actif ne porte ce numéro ou ce code",
        "en": "no live meter has this number or code",
        "sw": "hakuna mita hai yenye namba au msimbo huu",
    },
    "field.idempotency_key_reused": {
        "fr": "ce formulaire a déjà servi pour une autre vente ; recommencez la vente",
        "en": "this form was already used for another sale; start the sale again",
        "sw": "fomu hii imeshatumika kwa mauzo mengine; anza mauzo upya",
    },
}
