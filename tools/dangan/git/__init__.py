"""The only place where git is started (`gitio`): every call checks git's exit status and
turns a failure into an error that names the command.

May import: `dangan.errors`.
"""
