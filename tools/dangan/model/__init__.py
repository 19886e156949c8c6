"""The archive's domain, pure: archive codes and locations, dates in the vault's timezone,
queries over record fields, the standard settings, the three-way merge of record trees
(`threeway`, for the merge driver), the codes a handover gave away (`handover`). No git,
no files, no printing.

May import: `dangan.errors` and the standard library only.
"""
