"""Mobile-money adapters: one interface (``base``), one module per provider.

``build_payment_provider(name, env, http, *, deliver=None)`` (in ``api.payments.factory``) builds the
configured provider from settings; ``NGUVU_PAYMENT_PROVIDER`` picks it (``sandbox`` by default).
"""
