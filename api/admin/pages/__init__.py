"""Pages of the back office: each module exposes `ROUTES: list[AdminRoute]` (collected automatically)."""
