"""SMS providers: one interface (``base``), one module per provider.

``api.sms.factory.build_sms_provider(config_or_env, http, *, write=None)`` builds the configured
provider; ``NGUVU_SMS_PROVIDER`` picks it (``console`` by default).
"""
