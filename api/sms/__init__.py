"""SMS providers: one interface (``base``), one module per provider.

``build_sms_provider(name, env, http, *, write=print)`` (in ``api.sms.factory``) builds the configured
provider; ``NGUVU_SMS_PROVIDER`` picks it (``console`` by default).
"""
