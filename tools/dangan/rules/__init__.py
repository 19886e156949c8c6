"""The rules: findings DG101-DG118 on a record's bytes (`check`), on a change between two
sides of history (`changes`; `dates`, DG121: nothing a change adds is dated after its
commit) and on ledgers (`domain`, which routes to the lending and retention rules), and
which role acts a change carries and who may sign them (`acts`, DG119). They
compute and return findings; they never print.

May import: `dangan.model`, `dangan.formats`, `dangan.git`, `dangan.store`, `dangan.errors`
(and, until they are split off, the rule halves of `services.lending`, `services.retention`
and `services.attachments`: see docs/architecture.md).
"""
