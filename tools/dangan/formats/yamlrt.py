"""The ruamel.yaml side of record text: round-trip reading and the canonical writer.

Imported only when a text needs it (editing, writing a record ruamel must write, a file
the fast reader declines): ruamel costs ~10 ms to import, which the hooks and bulk checks
do without. `yamlio` is the interface; nothing else imports this module.
"""
from __future__ import annotations

from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.composer import Composer, ComposerError
from ruamel.yaml.constructor import ConstructorError, RoundTripConstructor
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import AliasEvent
from ruamel.yaml.representer import RoundTripRepresenter
from ruamel.yaml.scalarstring import LiteralScalarString

from dangan.formats.yamlbase import _UNSAFE, MAX_INT_DIGITS, YamlError, _literal_ok, int_ok
from dangan.i18n import Message

CONTAINERS = (CommentedMap, CommentedSeq)


class _StrictComposer(Composer):
    """Refuses anchors, aliases and explicit tags before anything is expanded."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.parser.peek_event()
        if isinstance(event, AliasEvent):
            raise YamlError(Message("line {line}: aliases (*name) are not allowed", line=event.start_mark.line + 1))
        anchor = getattr(event, "anchor", None)
        if anchor is not None:
            raise YamlError(Message("line {line}: anchors (&name) are not allowed", line=event.start_mark.line + 1))
        tag = getattr(event, "ctag", None) or getattr(event, "tag", None)
        if tag is not None and str(tag) not in ("!", "None") and not _implicit(event):
            raise YamlError(Message("line {line}: tags (!tag) are not allowed", line=event.start_mark.line + 1))
        if getattr(event, "value", None) == "<<" and getattr(event, "style", None) is None:
            raise YamlError(Message("line {line}: merge keys (<<) are not allowed", line=event.start_mark.line + 1))
        return super().compose_node(parent, index)


def _implicit(event: Any) -> bool:
    # Scalars carry `implicit`; collections carry `flow_style` and a None tag when implicit.
    implicit = getattr(event, "implicit", None)
    if isinstance(implicit, tuple):
        return implicit[0] or implicit[1]
    return bool(implicit)


class _Constructor(RoundTripConstructor):
    """YAML 1.2 round trip, but timestamps stay the text they were written as."""

    def construct_yaml_timestamp(self, node: Any, values: Any = None) -> Any:
        return self.construct_scalar(node)

    def construct_yaml_int(self, node: Any) -> Any:
        """ruamel's int, refused beyond MAX_INT_DIGITS digits with the line it is on.

        Python's own limit makes ruamel raise a bare ValueError on more than 4300 decimal
        digits; hex and octal have no such limit and read into ints too long to print."""
        try:
            value = super().construct_yaml_int(node)
        except ValueError:
            value = None
        if value is None or not int_ok(value):
            raise YamlError(Message("line {line}: an integer of more than {digits} digits (quote it if it is text)", line=node.start_mark.line + 1, digits=MAX_INT_DIGITS))
        return value


_Constructor.add_constructor("tag:yaml.org,2002:timestamp", _Constructor.construct_yaml_timestamp)
_Constructor.add_constructor("tag:yaml.org,2002:int", _Constructor.construct_yaml_int)


class _Representer(RoundTripRepresenter):
    """Multi-line strings as literal blocks, so notes stay readable in diffs."""

    def represent_str(self, data: str) -> Any:
        if "\n" in data and _literal_ok(data):
            return self.represent_scalar("tag:yaml.org,2002:str", data, style="|")
        if _UNSAFE.search(data):
            # ruamel would write NEL/LS/PS and some controls unescaped in single quotes,
            # where a reader folds them into spaces: double quotes escape them.
            return self.represent_scalar("tag:yaml.org,2002:str", data, style='"')
        return super().represent_str(data)


_Representer.add_representer(str, _Representer.represent_str)


def make_yaml() -> YAML:
    y = YAML(typ="rt")
    y.Composer = _StrictComposer
    y.Constructor = _Constructor
    y.Representer = _Representer
    y.allow_duplicate_keys = False
    y.indent(mapping=2, sequence=4, offset=2)
    y.width = 1 << 30  # never fold long lines
    y.allow_unicode = True
    y.preserve_quotes = False
    return y




def load(text: str) -> Any:
    """ruamel's tree of `text`; YamlError for anything DG101 refuses."""
    try:
        return make_yaml().load(text)
    except YamlError:
        raise
    except RecursionError:
        raise YamlError(Message("nested too deeply")) from None
    except (ComposerError, ConstructorError, MarkedYAMLError) as exc:
        raise YamlError(_describe(exc)) from None
    except YAMLError as exc:  # DuplicateKeyError and friends
        raise YamlError(_describe(exc)) from None
    except (ValueError, TypeError, AttributeError, KeyError) as exc:
        raise YamlError(Message("cannot be read as YAML ({type})", type=type(exc).__name__)) from None


def dump(tree: Any) -> str:
    import io

    out = io.StringIO()
    make_yaml().dump(literals(tree), out)
    return out.getvalue()


def _describe(exc: Exception) -> str:
    """A one-line description of a ruamel error without echoing the offending text."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    problem = getattr(exc, "problem", None) or getattr(exc, "context", None)
    if "duplicate" in type(exc).__name__.lower() or "duplicate" in str(exc).lower()[:200]:
        problem = "duplicate key"
    elif "expected a single document" in str(exc):
        problem = "more than one document"
    return f"YAML: {where}{problem or type(exc).__name__}"



def literals(node: Any) -> Any:
    """Multi-line strings as literal blocks and containers in block style.

    ruamel containers (which carry comments) are changed in place; plain ones are copied,
    so that dumping never changes the caller's tree.
    """
    if isinstance(node, (CommentedMap, CommentedSeq)):
        if len(node):
            node.fa.set_block_style()  # canonical form is block style throughout
        if isinstance(node, dict):
            for key in list(node.keys()):
                node[key] = literals(node[key])
        else:
            for i, item in enumerate(node):
                node[i] = literals(item)
        return node
    if isinstance(node, dict):
        return {key: literals(value) for key, value in node.items()}
    if isinstance(node, list):
        return [literals(item) for item in node]
    if type(node) is str and "\n" in node and _literal_ok(node):
        return LiteralScalarString(node)
    if isinstance(node, bool) or node is None:
        return node
    if isinstance(node, (int, float)) and type(node) not in (int, float):
        # ruamel's ScalarInt/ScalarFloat remember how they were written (0017, 1.50):
        # the canonical form writes every number the one way a plain number is written
        return int(node) if isinstance(node, int) else float(node)
    if isinstance(node, str) and type(node) is not str and not isinstance(node, LiteralScalarString):
        return str(node)
    return node
