"""Words of the login, logout and password pages."""

from __future__ import annotations

TEXTS: dict[str, dict[str, str]] = {
    "auth.login_title": {"fr": "Connexion", "en": "Log in", "sw": "Ingia"},
    "auth.email": {"fr": "Adresse e-mail", "en": "Email address", "sw": "Barua pepe"},
    "auth.password": {"fr": "Mot de passe", "en": "Password", "sw": "Nenosiri"},
    "auth.login": {"fr": "Se connecter", "en": "Log in", "sw": "Ingia"},
    "auth.refused": {
        "fr": "Adresse e-mail ou mot de passe incorrect.",
        "en": "Wrong email address or password.",
        "sw": "Barua pepe au nenosiri si sahihi.",
    },
    "auth.locked": {
        "fr": "Trop d'essais manqués : connexion bloquée pour un moment.",
        "en": "Too many failed attempts: logging in is locked for a while.",
        "sw": "Majaribio mengi yameshindwa: kuingia kumezuiwa kwa muda.",
    },
    "auth.locked_until": {
        "fr": "Réessayez après {until}.",
        "en": "Try again after {until}.",
        "sw": "Jaribu tena baada ya {until}.",
    },
    "auth.password_title": {
        "fr": "Changer mon mot de passe",
        "en": "Change my password",
        "sw": "Badilisha nenosiri langu",
    },
    "auth.current_password": {
        "fr": "Mot de passe actuel",
        "en": "Current password",
        "sw": "Nenosiri la sasa",
    },
    "auth.new_password": {"fr": "Nouveau mot de passe", "en": "New password", "sw": "Nenosiri jipya"},
    "auth.repeat_password": {
        "fr": "Répéter le nouveau mot de passe",
        "en": "Repeat the new password",
        "sw": "Rudia nenosiri jipya",
    },
    "auth.password_rule": {
        "fr": "Au moins 10 caractères.",
        "en": "At least 10 characters.",
        "sw": "Angalau herufi 10.",
    },
    "done.logged_out": {"fr": "Vous êtes déconnecté.", "en": "You are logged out.", "sw": "Umetoka."},
    "done.password_changed": {
        "fr": "Mot de passe changé.",
        "en": "Password changed.",
        "sw": "Nenosiri limebadilishwa.",
    },
    "field.password_too_short": {
        "fr": "Au moins 10 caractères.",
        "en": "At least 10 characters.",
        "sw": "Angalau herufi 10.",
    },
    "field.password_mismatch": {
        "fr": "Les deux mots de passe diffèrent.",
        "en": "The two passwords differ.",
        "sw": "Manenosiri mawili hayafanani.",
    },
    "field.wrong_password": {
        "fr": "Mot de passe incorrect.",
        "en": "Wrong password.",
        "sw": "Nenosiri si sahihi.",
    },
    "field.invalid_email": {
        "fr": "Adresse e-mail non valide.",
        "en": "Not a valid email address.",
        "sw": "Barua pepe si sahihi.",
    },
    "field.email_taken": {
        "fr": "Un compte utilise déjà cette adresse.",
        "en": "An account already uses this address.",
        "sw": "Akaunti nyingine tayari inatumia barua pepe hii.",
    },
}
