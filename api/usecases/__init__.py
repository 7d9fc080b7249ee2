"""The service's use-cases: what a person or a system may do, in one place for every edge.

The REST API, the CLI and the back office call these functions; none builds a row itself. Each takes
the acting `api.actors.Actor`, validates its whole input before writing anything (refusals are
`api.errors.FieldErrors` naming each bad field, or another `ServiceError`), writes the audit log with the
row before and after, and runs in the caller's transaction (`session`) or, when it vends, through the
service's one vend path (`service`).

Modules: `subscribers` (register, add a meter, edit, delete), `meters` (edit, delete), `sales` (counter
sale, preview, reprint, resend SMS), `engineering` (management, key change and test tokens), `payments`
(resolve a held payment), `tariffs` (create, schedule, withdraw).
"""
