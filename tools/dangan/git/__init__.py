"""The only place where git is started (`gitio`): every call checks git's exit status and
turns a failure into an error that names the command. No other module imports subprocess
(make lint; `dangan edit` running $EDITOR is the one exception) or starts git
(tests/test_gitio.py). gitio stays light — the warm `check` and the pre-commit hook import
it first.

May import: `dangan.errors`.
"""
