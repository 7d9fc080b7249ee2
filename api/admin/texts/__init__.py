"""The back office's message catalogue, one module per area (see api/admin/i18n.py)."""
