"""What commands do: each service validates, locks, writes atomically and commits
(records, import/export, keys, attachments, lending, retention, history and diffs, backups,
inventory, handovers (`handover_ledger`: the list and the YJ record), statistics, vault creation, checking a work tree or a range, merging records
(`merge`: git's merge driver and `resolve`), and signatures:
judging who signed the role acts of a history, and signing dangan's own commits). Services return
results; they never print (the CLI does).

May import: everything below it (`rules`, `store`, `git`, `formats`, `model`, `errors`),
`dangan.report` for the pages a service writes; never `dangan.cli`.
"""
