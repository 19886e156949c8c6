"""The messages of the code for the catalogs: Babel's extractor for dangan's modules
(babel.cfg; `make catalogs`, tests/test_catalogs.py). Authoring time only, never imported by
dangan at run time; the standard library alone (`ast`).

It yields what Babel's own Python extractor would (the string literals given to `_`, `N_`,
`pgettext` and `ngettext`, and the template of an `i18n.Message`) and, in addition, what click shows as help: the docstring of every function
decorated as a click command or group, and the `help=`/`short_help=` literal of every
`option(...)`, `command(...)` and `group(...)` call, as inspect.cleandoc leaves them, and
the explanatory paragraphs of their `epilog=` (i18n.epilog_paragraphs: the example command
lines under them are the same in every language);
cli.base.localize looks those texts up when a command is resolved. The commands' modules
thus need no marks on their help texts.
"""
from __future__ import annotations

import ast
import inspect
from collections.abc import Iterator
from typing import IO, Any

from dangan.i18n import epilog_paragraphs

_SINGLE = ("_", "N_", "Message")  # Message: i18n.Message, a template and named values


def extract(fileobj: IO[bytes], keywords: Any, comment_tags: Any,
            options: Any) -> Iterator[tuple[int, str, str | tuple[str, ...], list[str]]]:
    tree = ast.parse(fileobj.read())
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            texts = [a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
            if node.func.id in _SINGLE and len(node.args) == 1 and len(texts) == 1:
                yield node.lineno, "_", texts[0], []
            elif node.func.id == "pgettext" and len(texts) == 2 and len(node.args) == 2:
                yield node.lineno, "pgettext", (texts[0], texts[1]), []
            elif node.func.id == "ngettext" and len(texts) == 2 and len(node.args) == 3:
                yield node.lineno, "ngettext", (texts[0], texts[1]), []
        if isinstance(node, ast.Call) and _is_click_call(node.func, ("option", "command", "group")):
            for keyword in node.keywords:
                if keyword.arg in ("help", "short_help") and isinstance(keyword.value, ast.Constant):
                    yield node.lineno, "_", inspect.cleandoc(keyword.value.value), []
                elif keyword.arg == "epilog" and isinstance(keyword.value, ast.Constant):
                    for text in epilog_paragraphs(keyword.value.value):
                        yield node.lineno, "_", text, []
        elif isinstance(node, ast.FunctionDef) and any(_is_command(d) for d in node.decorator_list):
            doc = ast.get_docstring(node, clean=False)
            if doc:
                yield node.lineno, "_", inspect.cleandoc(doc), []


def _is_command(decorator: ast.expr) -> bool:
    """`@click.command(...)`, `@group.command(...)`, `@click.group(...)`, bare or called."""
    target = decorator.func if isinstance(decorator, ast.Call) else decorator
    return _is_click_call(target, ("command", "group"))


def _is_click_call(func: ast.expr, names: tuple[str, ...]) -> bool:
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    return name in names
