"""Words of the subscriber pages (list, new, detail, edit, add a meter, reprint)."""

from __future__ import annotations


def _t(fr: str, en: str, sw: str) -> dict[str, str]:
    return {"fr": fr, "en": en, "sw": sw}


TEXTS: dict[str, dict[str, str]] = {
    "subscribers.title": _t("Abonnés", "Subscribers", "Wateja"),
    "subscribers.new": _t("Nouvel abonné", "New subscriber", "Mteja mpya"),
    "subscribers.search": _t("Rechercher un abonné", "Find a subscriber", "Tafuta mteja"),
    "subscribers.search_hint": _t(
        "Nom, post-nom, code client, numéro de compteur ou téléphone (une partie suffit).",
        "Name, post-name, customer code, meter number or phone (part of it is enough).",
        "Jina, jina la pili, namba ya mteja, namba ya mita au simu (sehemu inatosha).",
    ),
    "subscribers.sort": _t("Trier par", "Sort by", "Panga kwa"),
    "subscribers.sort_name": _t("Nom (A→Z)", "Name (A→Z)", "Jina (A→Z)"),
    "subscribers.sort_name_desc": _t("Nom (Z→A)", "Name (Z→A)", "Jina (Z→A)"),
    "subscribers.sort_code": _t("Code client", "Customer code", "Namba ya mteja"),
    "subscribers.sort_code_desc": _t(
        "Code client (inverse)", "Customer code (reversed)", "Namba ya mteja (kinyume)"
    ),
    "subscribers.sort_created": _t("Plus anciens", "Oldest first", "Wa zamani kwanza"),
    "subscribers.sort_created_desc": _t("Plus récents", "Newest first", "Wapya kwanza"),
    "subscribers.code": _t("Code client", "Customer code", "Namba ya mteja"),
    "subscribers.code_hint": _t(
        "Laisser vide : ENK-000123 est attribué.",
        "Leave empty: ENK-000123 is given.",
        "Acha tupu: ENK-000123 itatolewa.",
    ),
    "subscribers.name": _t("Nom", "Name", "Jina"),
    "subscribers.post_name": _t("Post-nom", "Post-name", "Jina la pili"),
    "subscribers.phone": _t("Téléphone", "Phone", "Simu"),
    "subscribers.phone_hint": _t(
        "Par ex. +243991234567 ou 0991234567.",
        "E.g. +243991234567 or 0991234567.",
        "K.m. +243991234567 au 0991234567.",
    ),
    "subscribers.language": _t("Langue des SMS", "SMS language", "Lugha ya SMS"),
    "subscribers.holder": _t("Titulaire", "Holder", "Mmiliki"),
    "subscribers.address": _t("Adresse", "Address", "Anwani"),
    "subscribers.quarter": _t("Quartier", "Quarter", "Mtaa"),
    "subscribers.cell": _t("Cellule", "Cell", "Seli"),
    "subscribers.avenue": _t("Avenue", "Avenue", "Barabara"),
    "subscribers.meter": _t("Compteur", "Meter", "Mita"),
    "subscribers.meters": _t("Compteurs", "Meters", "Mita"),
    "subscribers.register": _t(
        "Enregistrer l'abonné et le compteur", "Register the subscriber and meter", "Sajili mteja na mita"
    ),
    "subscribers.registered": _t("Enregistré le", "Registered", "Alisajiliwa"),
    "subscribers.edit": _t("Modifier l'abonné", "Edit the subscriber", "Hariri mteja"),
    "subscribers.add_meter": _t("Ajouter un compteur", "Add a meter", "Ongeza mita"),
    "subscribers.delete": _t("Supprimer", "Delete", "Futa"),
    "subscribers.delete_confirm": _t(
        "Je confirme (l'historique est gardé)",
        "I confirm (the history is kept)",
        "Nathibitisha (historia inabaki)",
    ),
    "subscribers.deleted": _t("Supprimé", "Deleted", "Imefutwa"),
    "subscribers.show_deleted": _t(
        "Inclure les abonnés supprimés", "Include deleted subscribers", "Jumuisha wateja waliofutwa"
    ),
    "subscribers.deleted_on": _t(
        "Abonné supprimé le {date} ; son historique reste consultable.",
        "Subscriber deleted on {date}; the history stays readable.",
        "Mteja alifutwa {date}; historia bado inasomeka.",
    ),
    "subscribers.payments": _t("Paiements", "Payments", "Malipo"),
    "subscribers.tokens": _t("Jetons", "Tokens", "Tokeni"),
    "subscribers.pay_provider": _t("Canal", "Provider", "Mtoa huduma"),
    "subscribers.pay_reference": _t("Référence", "Reference", "Kumbukumbu"),
    "subscribers.pay_amount": _t("Montant", "Amount", "Kiasi"),
    "subscribers.pay_status": _t("État", "Status", "Hali"),
    "subscribers.tok_token": _t("Jeton", "Token", "Tokeni"),
    "subscribers.tok_sms": _t("SMS", "SMS", "SMS"),
    "subscribers.tok_push": _t("Envoi au compteur", "Meter push", "Kutuma kwa mita"),
    "subscribers.tok_reprint": _t("Réimprimer", "Reprint", "Chapisha tena"),
    "subscribers.tok_resend": _t("Renvoyer le SMS", "Resend SMS", "Tuma SMS tena"),
    "subscribers.tok_print": _t("Imprimer", "Print", "Chapisha"),
    "subscribers.m_number": _t("Numéro du compteur", "Meter number", "Namba ya mita"),
    "subscribers.m_number_hint": _t(
        "11 ou 13 chiffres avec la clé de contrôle (ou le PAN de 18 chiffres).",
        "11 or 13 digits with the check digit (or the 18-digit PAN).",
        "Tarakimu 11 au 13 pamoja na tarakimu ya ukaguzi (au PAN ya tarakimu 18).",
    ),
    "subscribers.m_serial_number": _t("N° de série", "Serial number", "Namba ya seriali"),
    "subscribers.m_phases": _t("Phases", "Phases", "Fazi"),
    "subscribers.m_single_phase": _t("Monophasé", "Single-phase", "Fazi moja"),
    "subscribers.m_three_phase": _t("Triphasé", "Three-phase", "Fazi tatu"),
    "subscribers.m_latitude": _t("Latitude GPS", "GPS latitude", "Latitudo ya GPS"),
    "subscribers.m_longitude": _t("Longitude GPS", "GPS longitude", "Longitudo ya GPS"),
    "subscribers.m_position": _t("Position GPS", "GPS position", "Mahali pa GPS"),
    "subscribers.m_open_map_app": _t("Ouvrir dans la carte", "Open in maps", "Fungua kwenye ramani"),
    "subscribers.m_connection_date": _t("Date de raccordement", "Connection date", "Tarehe ya kuunganishwa"),
    "subscribers.m_tariff": _t("Tarif", "Tariff", "Bei"),
    "subscribers.m_sts": _t("Paramètres STS", "STS parameters", "Vigezo vya STS"),
    "subscribers.m_vending_key": _t("Clé de vente (nom)", "Vending key (label)", "Ufunguo wa mauzo (jina)"),
    "subscribers.m_vending_key_hint": _t(
        "Le nom sous lequel la clé a été enregistrée (la clé n'est jamais affichée).",
        "The label the key was stored under (the key itself is never shown).",
        "Jina ambalo ufunguo ulihifadhiwa nalo (ufunguo wenyewe hauonyeshwi).",
    ),
    "subscribers.m_sgc": _t("SGC", "SGC", "SGC"),
    "subscribers.m_ti": _t("TI", "TI", "TI"),
    "subscribers.m_krn": _t("KRN", "KRN", "KRN"),
    "subscribers.m_kt": _t("KT", "KT", "KT"),
    "subscribers.m_ken": _t("KEN", "KEN", "KEN"),
    "subscribers.m_ea": _t("EA", "EA", "EA"),
    "subscribers.m_dkga": _t("DKGA", "DKGA", "DKGA"),
    "subscribers.m_base_date": _t("Date de base", "Base date", "Tarehe ya msingi"),
    "subscribers.m_link": _t("Recharge automatique", "Automatic recharge", "Kujaza kiotomatiki"),
    "subscribers.m_connected": _t("Compteur connecté", "Connected meter", "Mita iliyounganishwa"),
    "subscribers.m_serial_url": _t("Liaison série", "Serial link", "Kiungo cha serial"),
    "subscribers.m_serial_url_hint": _t(
        "Par ex. /dev/ttyUSB0 ou socket://10.0.0.5:7000",
        "E.g. /dev/ttyUSB0 or socket://10.0.0.5:7000",
        "K.m. /dev/ttyUSB0 au socket://10.0.0.5:7000",
    ),
    "subscribers.m_edit": _t("Modifier le compteur", "Edit the meter", "Hariri mita"),
    "subscribers.m_delete": _t("Supprimer le compteur", "Delete the meter", "Futa mita"),
    "subscribers.m_keys_elsewhere": _t(
        "Les paramètres de clé (SGC, TI, KRN…) ne changent que par les jetons de changement de clé.",
        "Key parameters (SGC, TI, KRN…) change only through key-change tokens.",
        "Vigezo vya ufunguo (SGC, TI, KRN…) hubadilika tu kwa tokeni za kubadilisha ufunguo.",
    ),
    "done.meter_edited": _t("Compteur modifié.", "Meter changed.", "Mita imebadilishwa."),
    "done.meter_deleted": _t(
        "Compteur supprimé ; son historique est gardé.",
        "Meter deleted; its history is kept.",
        "Mita imefutwa; historia yake imehifadhiwa.",
    ),
    "done.subscriber_registered": _t("Abonné enregistré.", "Subscriber registered.", "Mteja amesajiliwa."),
    "done.subscriber_edited": _t(
        "Modifications enregistrées.", "Changes saved.", "Mabadiliko yamehifadhiwa."
    ),
    "done.subscriber_deleted": _t(
        "Abonné supprimé ; son historique est gardé.",
        "Subscriber deleted; the history is kept.",
        "Mteja amefutwa; historia imehifadhiwa.",
    ),
    "done.delete_unconfirmed": _t(
        "Cochez la confirmation pour supprimer.",
        "Tick the confirmation to delete.",
        "Weka alama ya uthibitisho ili kufuta.",
    ),
    "done.payment_in_flight": _t(
        "Suppression refusée : un paiement est en cours pour un de ses compteurs.",
        "Not deleted: a payment is in flight for one of its meters.",
        "Haikufutwa: malipo yanaendelea kwa moja ya mita zake.",
    ),
    "done.meter_added": _t("Compteur ajouté.", "Meter added.", "Mita imeongezwa."),
    "done.sms_queued": _t("SMS mis en file d'envoi.", "SMS queued.", "SMS imewekwa kwenye foleni."),
    "done.sms_not_sent": _t(
        "Ce jeton ne peut pas être renvoyé par SMS (pas de téléphone, ou pas un jeton de crédit).",
        "This token cannot be sent by SMS (no phone, or not a credit token).",
        "Tokeni hii haiwezi kutumwa kwa SMS (hakuna simu, au si tokeni ya mkopo).",
    ),
    # The states of a token's SMS and of its push to a connected meter (api.queries.tokens).
    "sms_status.queued": _t("En file", "Queued", "Kwenye foleni"),
    "sms_status.sent": _t("Envoyé", "Sent", "Imetumwa"),
    "sms_status.delivered": _t("Reçu", "Delivered", "Imefika"),
    "sms_status.failed": _t("Échec", "Failed", "Imeshindwa"),
    "push_status.queued": _t("En attente", "Queued", "Inasubiri"),
    "push_status.done": _t("Reçu par le compteur", "Accepted by the meter", "Imepokelewa na mita"),
    "push_status.failed": _t("Échec", "Failed", "Imeshindwa"),
}
