"""Words of the tariffs page."""

from __future__ import annotations

TEXTS: dict[str, dict[str, str]] = {
    "tariffs.title": {"fr": "Tarifs", "en": "Tariffs", "sw": "Bei"},
    "tariffs.help": {
        "fr": "Chaque changement est une nouvelle ligne : l'ancienne reste pour expliquer les ventes passées. "
        "Les ventes au guichet, l'USSD et les paiements mobiles utilisent le tarif en vigueur.",
        "en": "Each change is a new row: the old one stays to explain past sales. Counter sales, USSD and "
        "mobile payments use the tariff in force.",
        "sw": "Kila badiliko ni mstari mpya: wa zamani unabaki kueleza mauzo yaliyopita. Mauzo ya dirishani, "
        "USSD na malipo ya simu hutumia bei iliyopo.",
    },
    "tariffs.name": {"fr": "Nom", "en": "Name", "sw": "Jina"},
    "tariffs.currency": {"fr": "Devise", "en": "Currency", "sw": "Sarafu"},
    "tariffs.price": {
        "fr": "Prix du kWh (hors TVA)",
        "en": "Price per kWh (before VAT)",
        "sw": "Bei ya kWh (bila VAT)",
    },
    "tariffs.vat": {"fr": "TVA", "en": "VAT", "sw": "VAT"},
    "tariffs.fee": {"fr": "Frais", "en": "Fee", "sw": "Ada"},
    "tariffs.limits": {"fr": "Achat min. – max.", "en": "Purchase min – max", "sw": "Ununuzi chini – juu"},
    "tariffs.from": {"fr": "En vigueur depuis", "en": "In force from", "sw": "Inatumika tangu"},
    "tariffs.state": {"fr": "État", "en": "State", "sw": "Hali"},
    "tariffs.state_in_force": {"fr": "En vigueur", "en": "In force", "sw": "Inatumika"},
    "tariffs.state_scheduled": {"fr": "Programmé", "en": "Scheduled", "sw": "Imepangwa"},
    "tariffs.state_superseded": {"fr": "Remplacé", "en": "Superseded", "sw": "Imebadilishwa"},
    "tariffs.state_withdrawn": {"fr": "Annulé", "en": "Withdrawn", "sw": "Imeondolewa"},
    "tariffs.withdraw": {
        "fr": "Annuler ce changement",
        "en": "Withdraw this change",
        "sw": "Ondoa badiliko hili",
    },
    "tariffs.new": {
        "fr": "Nouveau tarif ou changement de prix",
        "en": "New tariff or price change",
        "sw": "Bei mpya au badiliko la bei",
    },
    "tariffs.vat_rate": {"fr": "Taux de TVA", "en": "VAT rate", "sw": "Kiwango cha VAT"},
    "tariffs.fee_rate": {
        "fr": "Taux de frais du canal",
        "en": "Channel fee rate",
        "sw": "Kiwango cha ada ya njia",
    },
    "tariffs.rate_hint": {
        "fr": "Une fraction : 0.16 pour 16 %",
        "en": "A fraction: 0.16 for 16 %",
        "sw": "Sehemu: 0.16 kwa 16 %",
    },
    "tariffs.min": {
        "fr": "Achat minimum (TVA comprise)",
        "en": "Minimum purchase (VAT included)",
        "sw": "Ununuzi wa chini (pamoja na VAT)",
    },
    "tariffs.max": {
        "fr": "Achat maximum (TVA comprise)",
        "en": "Maximum purchase (VAT included)",
        "sw": "Ununuzi wa juu (pamoja na VAT)",
    },
    "tariffs.effective_from": {"fr": "Prend effet le", "en": "Takes effect on", "sw": "Inaanza kutumika"},
    "tariffs.effective_hint": {
        "fr": "Vide : tout de suite. Date et heure locales pour programmer le changement.",
        "en": "Empty: at once. A local date and time to schedule the change.",
        "sw": "Tupu: mara moja. Tarehe na saa za hapa kupanga badiliko.",
    },
    "done.tariff_created": {"fr": "Tarif en vigueur.", "en": "Tariff in force.", "sw": "Bei inatumika."},
    "done.tariff_scheduled": {
        "fr": "Changement de tarif programmé.",
        "en": "Tariff change scheduled.",
        "sw": "Badiliko la bei limepangwa.",
    },
    "done.tariff_withdrawn": {
        "fr": "Changement annulé.",
        "en": "Change withdrawn.",
        "sw": "Badiliko limeondolewa.",
    },
}
