"""The vault on disk: the vault and its settings (`vault`), atomic files and locks
(`fsutil`), the keyring that seals and opens records (`sealing`), the access journal
(`journal`), attachments as stored and their rules' facts (`attached`), the `.sops.yaml`
that dangan keeps for sops users (`sopsconfig`), the private folders of `edit` and of a
backup's trial restore and the sweep of those a killed dangan left (`scratch`), and the quick
note that lets a warm `check` answer from the standard library and `dangan.git.gitio` alone
(`quick`).

May import: `dangan.model`, `dangan.formats`, `dangan.git`, `dangan.errors`.
"""
