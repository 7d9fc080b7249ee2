"""Words of the dashboard."""

from __future__ import annotations

TEXTS: dict[str, dict[str, str]] = {
    "dashboard.title": {"fr": "Tableau de bord", "en": "Dashboard", "sw": "Dashibodi"},
    "dashboard.sales": {"fr": "Ventes", "en": "Sales", "sw": "Mauzo"},
    "dashboard.sales_in": {"fr": "Ventes en", "en": "Sales in", "sw": "Mauzo kwa"},
    "dashboard.period_1": {"fr": "Aujourd'hui", "en": "Today", "sw": "Leo"},
    "dashboard.period_7": {"fr": "7 derniers jours", "en": "Last 7 days", "sw": "Siku 7 zilizopita"},
    "dashboard.period_30": {"fr": "30 derniers jours", "en": "Last 30 days", "sw": "Siku 30 zilizopita"},
    "dashboard.energy": {"fr": "Énergie vendue", "en": "Energy sold", "sw": "Nishati iliyouzwa"},
    "dashboard.vends": {"fr": "Jetons de crédit", "en": "Credit tokens", "sw": "Tokeni za salio"},
    "dashboard.failed": {"fr": "Paiements échoués", "en": "Failed payments", "sw": "Malipo yaliyoshindwa"},
    "dashboard.attention": {"fr": "À surveiller", "en": "Needs attention", "sw": "Inahitaji uangalizi"},
    "dashboard.held": {
        "fr": "Paiements en attente de vérification",
        "en": "Payments held for review",
        "sw": "Malipo yanayosubiri ukaguzi",
    },
    "dashboard.sms_queued": {
        "fr": "SMS en file d'attente",
        "en": "SMS waiting to be sent",
        "sw": "SMS zinazosubiri",
    },
    "dashboard.sms_failed": {"fr": "SMS en échec", "en": "SMS that failed", "sw": "SMS zilizoshindwa"},
    "dashboard.push_failed": {
        "fr": "Compteurs connectés dont le dernier envoi a échoué",
        "en": "Connected meters whose last push failed",
        "sw": "Mita zilizounganishwa ambazo utumaji wa mwisho ulishindwa",
    },
    "dashboard.chart": {
        "fr": "Énergie vendue par jour (30 jours)",
        "en": "Energy sold per day (30 days)",
        "sw": "Nishati iliyouzwa kwa siku (siku 30)",
    },
    "dashboard.chart_caption": {
        "fr": "kWh par jour ; survolez une barre pour les montants par devise.",
        "en": "kWh per day; hover a bar for the amounts per currency.",
        "sw": "kWh kwa siku; weka kiashiria juu ya upau kuona kiasi kwa kila sarafu.",
    },
    "dashboard.tooltip": {
        "fr": "{day} : {units}, {vends} jeton(s)",
        "en": "{day}: {units}, {vends} token(s)",
        "sw": "{day}: {units}, tokeni {vends}",
    },
    "dashboard.day": {"fr": "Jour", "en": "Day", "sw": "Siku"},
}
