"""The vault on disk: the vault and its settings (`vault`), atomic files and locks
(`fsutil`), the keyring that seals and opens records (`sealing`), the access journal
(`journal`).

May import: `dangan.model`, `dangan.formats`, `dangan.git`, `dangan.errors`.
"""
