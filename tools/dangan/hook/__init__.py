"""The lean entry of the Git hooks: `hookrun` runs a hook over what is staged or pushed and
renders its findings. Kept apart from the CLI so that a hook's start-up imports only what it
uses (`dangan.entry` dispatches to it, and to `dangan.store.quick`, the warm `check`, before
click is imported).

May import: `dangan.services` and everything below it; never `dangan.cli`, `dangan.demo` or
`dangan.report`.
"""
