"""Bytes <-> trees, one module per format: YAML (the canonical form and its readers:
`yamlio`, `yamlrt`, the compiled `dangan._canon`), SOPS documents (`sops`), age and SSH keys
(`agekeys`), the JSON Schemas of the categories (`schemas`, `resources`). No git, no vault.

May import: `dangan.model`, `dangan.errors`.
"""
