"""Words of the Administrators page."""

from __future__ import annotations

TEXTS: dict[str, dict[str, str]] = {
    "accounts.title": {"fr": "Administrateurs", "en": "Administrators", "sw": "Wasimamizi"},
    "accounts.name": {"fr": "Nom", "en": "Name", "sw": "Jina"},
    "accounts.post_name": {"fr": "Post-nom", "en": "Post-name", "sw": "Jina la pili"},
    "accounts.position": {"fr": "Fonction", "en": "Position", "sw": "Cheo"},
    "accounts.role": {"fr": "Rôle", "en": "Role", "sw": "Jukumu"},
    "accounts.state": {"fr": "État", "en": "State", "sw": "Hali"},
    "accounts.active": {"fr": "Actif", "en": "Active", "sw": "Hai"},
    "accounts.inactive": {"fr": "Désactivé", "en": "Deactivated", "sw": "Imezimwa"},
    "accounts.locked_until": {
        "fr": "Bloqué jusqu'à {until}",
        "en": "Locked until {until}",
        "sw": "Imezuiwa hadi {until}",
    },
    "accounts.change_role": {"fr": "Changer", "en": "Change", "sw": "Badilisha"},
    "accounts.deactivate": {"fr": "Désactiver", "en": "Deactivate", "sw": "Zima"},
    "accounts.reactivate": {"fr": "Réactiver", "en": "Reactivate", "sw": "Washa tena"},
    "accounts.unlock": {"fr": "Débloquer", "en": "Unlock", "sw": "Fungua"},
    "accounts.new_password": {"fr": "Nouveau mot de passe", "en": "New password", "sw": "Nenosiri jipya"},
    "accounts.reset_password": {"fr": "Réinitialiser", "en": "Reset", "sw": "Weka upya"},
    "accounts.address_locks": {
        "fr": "Adresses bloquées",
        "en": "Locked addresses",
        "sw": "Anwani zilizozuiwa",
    },
    "accounts.new": {"fr": "Nouveau compte", "en": "New account", "sw": "Akaunti mpya"},
    "accounts.create": {"fr": "Créer le compte", "en": "Create the account", "sw": "Unda akaunti"},
    "done.account_created": {"fr": "Compte créé.", "en": "Account created.", "sw": "Akaunti imeundwa."},
    "done.role_changed": {"fr": "Rôle changé.", "en": "Role changed.", "sw": "Jukumu limebadilishwa."},
    "done.account_deactivated": {
        "fr": "Compte désactivé ; ses sessions sont fermées.",
        "en": "Account deactivated; its sessions are closed.",
        "sw": "Akaunti imezimwa; vipindi vyake vimefungwa.",
    },
    "done.account_reactivated": {
        "fr": "Compte réactivé.",
        "en": "Account reactivated.",
        "sw": "Akaunti imewashwa tena.",
    },
    "done.password_reset": {
        "fr": "Mot de passe réinitialisé ; ses sessions sont fermées.",
        "en": "Password reset; its sessions are closed.",
        "sw": "Nenosiri limewekwa upya; vipindi vyake vimefungwa.",
    },
    "done.unlocked": {"fr": "Blocage levé.", "en": "Lock lifted.", "sw": "Kizuizi kimeondolewa."},
}
