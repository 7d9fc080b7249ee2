"""Mobile-money adapters: one interface (``base``), one module per provider.

``api.payments.factory.build_payment_provider(config_or_env, http, *, deliver=None)`` builds the
configured provider; ``NGUVU_PAYMENT_PROVIDER`` picks it (``sandbox`` by default) and
``load_payment_config(env)`` checks its settings at start-up. docs/providers.md lists every setting.
"""
