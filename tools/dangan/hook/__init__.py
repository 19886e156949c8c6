"""The lean entry of the Git hooks and the warm `check`: `quick` answers a plain `check`
from the standard library alone when nothing changed; `hookrun` runs a hook and renders
its findings. Kept apart so that a hook's start-up imports only what it uses.

May import: everything but `dangan.cli`, `dangan.demo` and `dangan.report`.
"""
