"""The indexes of the back office's searches, listings and dashboard (migration 0007), in one place with
the reason for each; they attach to the tables of the other model modules when this module is imported.

Fragment search (`ILIKE '%fragment%'`) cannot use a B-tree index; on PostgreSQL the pg_trgm extension's
GIN trigram indexes answer it from the index (see docs/admin.md for the figures at 100,000 subscribers).
One multicolumn GIN index per table serves a fragment of any of its columns. The operator class is named
with its schema (`public`, where migration 0007 creates the extension) so the index works whatever the
connection's search_path. SQLite ignores the `postgresql_*` arguments and builds plain B-tree indexes
over the same columns: harmless there, and the name index serves the list sorted by name.
"""

from __future__ import annotations

from sqlalchemy import Index, Table

from api.models.meters import Meter
from api.models.payments import Payment, Token
from api.models.people import Subscriber

TRGM_OPS = "public.gin_trgm_ops"


def _table(model: type) -> Table:
    table: Table = model.__table__  # type: ignore[attr-defined]
    return table


def _trigram(name: str, table: Table, *columns: str) -> Index:
    return Index(
        name,
        *(table.c[c] for c in columns),
        postgresql_using="gin",
        postgresql_ops=dict.fromkeys(columns, TRGM_OPS),
    )


_subscribers, _meters, _payments, _tokens = map(_table, (Subscriber, Meter, Payment, Token))

INDEXES = (
    # The subscriber search box: a fragment of the name, post-name, customer code or phone ...
    _trigram("ix_subscribers_search_trgm", _subscribers, "name", "post_name", "customer_code", "phone"),
    # ... or of one of the subscriber's meter numbers (DRN or PAN).
    _trigram("ix_meters_number_trgm", _meters, "drn", "pan"),
    # The payments list filtered by a fragment of the payer's phone.
    _trigram("ix_payments_msisdn_trgm", _payments, "msisdn"),
    # The subscriber list sorted by name, a page at a time (keyset on name, post-name, id).
    Index("ix_subscribers_name_sort", _subscribers.c.name, _subscribers.c.post_name, _subscribers.c.id),
    # The dashboard sums one local day of tokens with a range on created_at.
    Index("ix_tokens_created_at", _tokens.c.created_at),
    # The dashboard counts failed payments of the last 30 days and held payments from the index alone.
    Index("ix_payments_status_created", _payments.c.status, _payments.c.created_at),
)
