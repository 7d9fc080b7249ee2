"""Words of meter engineering: the actions, what each does to the meter, the technician's sheet."""

from __future__ import annotations


def _t(fr: str, en: str, sw: str) -> dict[str, str]:
    return {"fr": fr, "en": en, "sw": sw}


TEXTS: dict[str, dict[str, str]] = {
    "eng.title": _t("Technique compteurs", "Meter engineering", "Ufundi wa mita"),
    "eng.open": _t("Ouvrir le compteur", "Open the meter", "Fungua mita"),
    "eng.base_date": _t("date de base", "base date", "tarehe ya msingi"),
    "eng.vending_key": _t("Clé de vente (libellé)", "Vending key (label)", "Ufunguo wa mauzo (jina)"),
    "eng.last_tid": _t("Dernier TID émis", "Last TID issued", "TID ya mwisho"),
    "eng.management": _t("Jetons de gestion", "Management tokens", "Tokeni za usimamizi"),
    "eng.review": _t("Vérifier avant d'émettre", "Review before issuing", "Kagua kabla ya kutoa"),
    "eng.review_title": _t("Confirmer l'opération", "Confirm the operation", "Thibitisha operesheni"),
    "eng.issue": _t("Émettre le(s) jeton(s)", "Issue the token(s)", "Toa tokeni"),
    "eng.i_understand": _t(
        "J'ai compris l'effet sur le compteur et je confirme",
        "I understand what it does to the meter and confirm",
        "Nimeelewa athari kwa mita na ninathibitisha",
    ),
    "eng.mpl_watts": _t("Puissance maximale (W)", "Maximum power (W)", "Nguvu ya juu (W)"),
    "eng.mpl_hint": _t("0 : aucune limite", "0: no limit", "0: hakuna kikomo"),
    "eng.control": _t("Tests demandés (bits)", "Tests asked (bits)", "Majaribio (biti)"),
    "eng.control_hint": _t(
        "1 : test 0, reconnu par tous les compteurs",
        "1: test 0, known to every meter",
        "1: jaribio 0, linajulikana na mita zote",
    ),
    "eng.recent": _t(
        "Jetons techniques récents", "Recent engineering tokens", "Tokeni za kiufundi za karibuni"
    ),
    "eng.kind": _t("Opération", "Operation", "Operesheni"),
    "eng.by": _t("Émis par", "Issued by", "Imetolewa na"),
    "eng.action_set_mpl": _t("Limite de puissance", "Maximum power limit", "Kikomo cha nguvu"),
    "eng.action_clear_credit": _t("Effacer le crédit", "Clear credit", "Futa salio"),
    "eng.action_clear_tamper": _t("Effacer la fraude (tamper)", "Clear tamper", "Futa hali ya udanganyifu"),
    "eng.action_key_change": _t("Changement de clé", "Key change", "Kubadilisha ufunguo"),
    "eng.action_test": _t("Jeton de test", "Test token", "Tokeni ya majaribio"),
    "eng.effect_set_mpl": _t(
        "Le compteur coupe toute charge au-dessus de cette puissance, jusqu'au prochain jeton de limite.",
        "The meter cuts any load above this power until the next limit token.",
        "Mita hukata mzigo wowote juu ya nguvu hii hadi tokeni nyingine ya kikomo.",
    ),
    "eng.effect_clear_credit": _t(
        "Le crédit du compteur est remis à zéro : l'énergie prépayée restante est perdue.",
        "The meter's credit is set to zero: the prepaid energy left is lost.",
        "Salio la mita linawekwa sifuri: nishati iliyolipiwa iliyobaki inapotea.",
    ),
    "eng.effect_clear_tamper": _t(
        "L'indicateur de fraude est effacé : un compteur qui s'était bloqué alimente à nouveau.",
        "The tamper flag is cleared: a meter that locked itself supplies again.",
        "Alama ya udanganyifu inafutwa: mita iliyojifunga inatoa umeme tena.",
    ),
    "eng.effect_key_change": _t(
        "Le compteur passe aux nouvelles clés : ensuite il n'accepte que les jetons faits avec elles.",
        "The meter moves to the new keys: afterwards it accepts only tokens made with them.",
        "Mita inahamia funguo mpya: baadaye inakubali tokeni zilizotengenezwa nazo tu.",
    ),
    "eng.effect_test": _t(
        "Le compteur exécute le test ou l'affichage demandé ; son crédit ne change pas.",
        "The meter runs the test or display asked; its credit does not change.",
        "Mita inafanya jaribio au onyesho lililoombwa; salio lake halibadiliki.",
    ),
    "eng.warn_set_mpl": _t(
        "Attention : au-dessus de cette puissance le client sera coupé. Vérifiez la valeur avec le "
        "contrat du client.",
        "Warning: above this power the customer is cut off. Check the value against the customer's contract.",
        "Tahadhari: juu ya nguvu hii mteja atakatiwa umeme. Hakiki thamani na mkataba wa mteja.",
    ),
    "eng.warn_clear_credit": _t(
        "Attention : TOUT le crédit restant dans le compteur sera effacé et ne peut pas être rendu par ce "
        "jeton. À n'utiliser que sur ordre (déménagement, compteur remplacé).",
        "Warning: ALL the credit left in the meter is erased and cannot be given back by this token. Use "
        "only when ordered (move, meter replaced).",
        "Tahadhari: salio LOTE lililobaki kwenye mita litafutwa na haliwezi kurudishwa na tokeni hii. Tumia "
        "tu kwa agizo.",
    ),
    "eng.warn_clear_tamper": _t(
        "Attention : n'effacez la fraude qu'après avoir inspecté le compteur et corrigé la cause.",
        "Warning: clear tamper only after inspecting the meter and correcting the cause.",
        "Tahadhari: futa hali ya udanganyifu baada tu ya kukagua mita na kurekebisha chanzo.",
    ),
    "eng.warn_key_change": _t(
        "Attention : les paramètres de clé du compteur sont changés dès maintenant dans le système. Le "
        "technicien doit entrer TOUS les jetons, dans l'ordre ; tant que ce n'est pas fait, les jetons de "
        "crédit vendus ne seront pas acceptés par le compteur.",
        "Warning: the meter's key parameters change in the system now. The technician must enter ALL the "
        "tokens, in order; until then the credit tokens sold will be refused by the meter.",
        "Tahadhari: vigezo vya ufunguo wa mita vinabadilika kwenye mfumo sasa. Fundi lazima aingize tokeni "
        "ZOTE, kwa mpangilio; hadi hapo tokeni za salio zitakataliwa na mita.",
    ),
    "eng.warn_test": _t(
        "Le jeton de test ne change ni le crédit ni les clés ; il est tout de même enregistré.",
        "A test token changes neither credit nor keys; it is still recorded.",
        "Tokeni ya majaribio haibadilishi salio wala funguo; bado inarekodiwa.",
    ),
    "eng.sheet": _t("Fiche d'intervention", "Technician's sheet", "Karatasi ya fundi"),
    "eng.in_order": _t(
        "Entrez les {count} jetons dans cet ordre :",
        "Enter the {count} tokens in this order:",
        "Ingiza tokeni {count} kwa mpangilio huu:",
    ),
    "eng.sheet_footer": _t(
        "Après saisie, notez la réponse du compteur (accept, used…) et rapportez cette fiche signée.",
        "After entering, note the meter's answer (accept, used…) and bring back this sheet signed.",
        "Baada ya kuingiza, andika jibu la mita (accept, used…) na urudishe karatasi hii iliyosainiwa.",
    ),
    "eng.signature": _t("Signature du technicien", "Technician's signature", "Sahihi ya fundi"),
    "done.engineering_issued": _t(
        "Jeton(s) émis et inscrits au journal d'audit.",
        "Token(s) issued and written to the audit log.",
        "Tokeni zimetolewa na kuandikwa kwenye kumbukumbu.",
    ),
}
