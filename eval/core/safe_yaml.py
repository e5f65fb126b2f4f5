"""Read YAML that a stranger may have written: no duplicate keys, no alias bombs, no huge files.

PyYAML's ``safe_load`` already refuses Python tags, but two things stay open: a key written twice
keeps the last value without a word (a recipe that sets ``lr`` twice trains with the one the
reader did not look at), and aliases let a 1 KB file stand for billions of nodes ("billion
laughs"): the load itself is cheap, as aliases share one object, but every later walk over the
data (validation, merging, writing the resolved config) expands them until memory runs out.

:func:`load` composes the document into its node graph first, counts the nodes it stands for with
every alias expanded (memoised, so the count itself is cheap), and refuses a document over
:data:`MAX_NODES` — far above any recipe or task spec (the GLUE study's recipe is ~600) — or one
whose alias refers to itself. Anchors, aliases and ``<<`` merge keys stay available within that
limit: the shipped recipes use them.
"""

from __future__ import annotations

from typing import Any, Collection

import yaml

from eval.core.errors import UserError

MAX_NODES = 100_000  # nodes of a document with its aliases expanded
MAX_CHARS = 5_000_000  # a recipe, a task spec or a --set value is never this long


class _Loader(yaml.SafeLoader):
    """``SafeLoader`` that refuses a key written twice in one mapping (``<<`` merges may be overridden)."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, Any] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.setdefault(key, key_node)
                except TypeError:  # an unhashable key: SafeLoader's own error says so
                    continue
                if first is not key_node:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"key {key!r} is written twice in one mapping (line {first.start_mark.line + 1} "
                        f"and line {key_node.start_mark.line + 1}); keep one", key_node.start_mark)
        return super().construct_mapping(node, deep=deep)


def _expanded_size(root: yaml.Node, where: str) -> int:
    """Nodes of the document with every alias expanded; refuses a cycle and stops at the cap."""
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def size(node: yaml.Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in active:
            raise UserError(f"{where}: an alias refers to the anchor it is inside (a recursive document); "
                            f"write the value out instead")
        active.add(key)
        total = 1
        if isinstance(node, yaml.SequenceNode):
            children = node.value
        elif isinstance(node, yaml.MappingNode):
            children = [part for pair in node.value for part in pair]
        else:
            children = []
        for child in children:
            total += size(child)
            if total > MAX_NODES:
                raise UserError(f"{where} expands to more than {MAX_NODES:,} values through its aliases (a "
                                f"'billion laughs' file?); write it without nested aliases")
        active.discard(key)
        sizes[key] = total
        return total

    return size(root)


def load(text: str, where: str, text_keys: Collection[str] = ()) -> Any:
    """Parse one YAML document safely.

    Args:
        text: the document.
        where: what it is, for messages (``recipe runs/x.yaml``, ``--set 'lr=...'``).
        text_keys: top-level keys whose value (a scalar or a list of scalars) is read as the text
            written, never as YAML 1.1's booleans or numbers: ``label_names: [no, yes]`` gives
            ``["no", "yes"]``, not ``[False, True]``; ``[1, 2]`` gives ``["1", "2"]``. ``null``
            (or nothing) stays ``None``: it means "not given", not a word.

    Raises:
        UserError: not YAML, a duplicate key, too large, or an alias bomb (one line each).
    """
    if len(text) > MAX_CHARS:
        raise UserError(f"{where} is {len(text):,} characters long; recipes and task specs are small files "
                        f"(limit {MAX_CHARS:,})")
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _expanded_size(node, where)
        if text_keys and isinstance(node, yaml.MappingNode):
            _read_as_written(node, set(text_keys))
        return loader.construct_document(node)
    except RecursionError:
        raise UserError(f"{where} is nested too deeply to read; flatten it") from None
    except yaml.YAMLError as err:
        raise UserError(f"{where} is not valid YAML: {_first_line(err)}") from None
    finally:
        loader.dispose()


_STR = "tag:yaml.org,2002:str"
_NULL = "tag:yaml.org,2002:null"


def _read_as_written(root: yaml.MappingNode, keys: set[str]) -> None:
    """Retag the plain scalars under ``keys`` as strings, so they construct to the text written.

    Each is replaced by a new node (an alias may share the original with another key).
    """

    def as_text(node: yaml.Node) -> yaml.Node:
        if isinstance(node, yaml.ScalarNode) and node.tag not in (_STR, _NULL):
            return yaml.ScalarNode(_STR, node.value, node.start_mark, node.end_mark, node.style)
        return node

    for index, (key, value) in enumerate(root.value):
        if isinstance(key, yaml.ScalarNode) and key.value in keys:
            if isinstance(value, yaml.SequenceNode):
                value = yaml.SequenceNode(value.tag, [as_text(item) for item in value.value], value.start_mark,
                                          value.end_mark, value.flow_style)
            root.value[index] = (key, as_text(value))


def _first_line(err: yaml.YAMLError) -> str:
    if isinstance(err, yaml.MarkedYAMLError) and err.problem:
        mark = f" (line {err.problem_mark.line + 1})" if err.problem_mark else ""
        return f"{err.context + ', ' if err.context else ''}{err.problem}{mark}"
    return str(err).splitlines()[0]
