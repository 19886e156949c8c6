"""Bytes <-> trees, one module per format: YAML (the canonical form and its readers:
`yamlio`, `yamlrt`, the compiled `dangan._canon`; the form sops writes: `sopsyaml`), SOPS
documents (`sops`; with their comments, read and written round-trip: `sopsrt`), age and SSH
keys (`agekeys`), an epoch vault's keyring backups (`keyringbackup`), SSH signatures of commits (`sshsig`), the JSON Schemas of the categories (`schemas`, `resources`; what they say of each field, for `dangan fields`: `fielddoc`), and the shapes in
which results are shown: the findings as lines and as the JSON document of `check --json`
(`findings`, the one renderer of the CLI, the hooks and the warm check; the standard library
alone, because the warm check imports it) and HTML (`html`: escaping, tables and the content
policy of the self-contained pages, used by `report` and by the inventory sheet of
`services`, which may not import `report`) and text for a terminal (`terminal`: control
characters escaped; the standard library alone). No git, no vault.

May import: `dangan.model`, `dangan.errors` (`findings`: the standard library only).
"""
