"""YAML a user wrote (configs, sweep files, architecture files, --set values), read safely.

On top of PyYAML's safe loader: the document's node graph is measured before any Python
object is built, so a few hundred bytes of nested aliases (a "billion laughs" file) or
thousands of nested brackets are refused instead of exhausting memory or the stack; a key
given twice in one mapping is refused (PyYAML keeps the last silently, so a second
``learning:`` section would reset the first); numbers such as ``1e-3`` are floats (YAML 1.1
reads them as strings).
"""
from __future__ import annotations

import re

import yaml

MAX_NODES = 1_000_000  # scalars, lists and mappings once aliases are expanded
MAX_DEPTH = 100        # lists and mappings inside one another


class _Loader(yaml.SafeLoader):
    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen = set()
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":  # '<<: *base' may be overridden
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    duplicate = key in seen
                    seen.add(key)
                except TypeError:  # an unhashable key: PyYAML's own error follows
                    continue
                if duplicate:
                    raise _Duplicate(key, key_node.start_mark.line + 1)
        return super().construct_mapping(node, deep)


# YAML 1.1 floats need a dot; 1e-3 and 5E4 are floats too (as in YAML 1.2 and JSON)
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"))


class _Duplicate(Exception):
    def __init__(self, key, line: int):
        self.key, self.line = key, line


def load_yaml(text: str, what: str, error):
    """The content of a YAML document (None when empty); ``error`` (an exception class) with a
    message naming ``what`` when it is not YAML, too large once aliases are expanded, nested
    too deeply or repeats a key."""
    loader = None
    try:
        loader = _Loader(text)  # (it checks the characters at once)
        node = loader.get_single_node()
        if node is None:
            return None
        _check_size(node, what, error)
        return loader.construct_document(node)
    except _Duplicate as dup:
        raise error(f"{what}: line {dup.line}: the key {dup.key!r} is given twice in the same "
                    "mapping (the second would silently replace the first); keep one") from None
    except yaml.YAMLError as exc:
        raise error(f"{what}: not valid YAML: {exc}") from None
    except RecursionError:
        raise error(f"{what}: nested too deeply (at most {MAX_DEPTH} levels of lists and "
                    "mappings)") from None
    except ValueError as exc:  # e.g. an integer of more than 4300 digits, a bad date
        reason = str(exc).split(";")[0]  # (not Python's advice to raise its own limit)
        raise error(f"{what}: a value that cannot be read ({reason}); write it "
                    "differently") from None
    finally:
        if loader is not None:
            loader.dispose()


def _check_size(root, what: str, error) -> None:
    """Refuse a node graph that expands to more than MAX_NODES nodes, nests deeper than
    MAX_DEPTH or refers to itself (measured without expanding it: each node once)."""
    size, depth = {}, {}
    stack, open_nodes = [(root, False)], set()
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            open_nodes.discard(key)
            kids = _children(node)
            size[key] = 1 + sum(size[id(k)] for k in kids)
            depth[key] = 1 + max((depth[id(k)] for k in kids), default=0)
            if size[key] > MAX_NODES:
                raise error(f"{what}: expands to more than {MAX_NODES:,} values once its "
                            "aliases (*name) are expanded; write it out or make it smaller")
            if depth[key] > MAX_DEPTH:
                raise error(f"{what}: nested too deeply (at most {MAX_DEPTH} levels of lists "
                            "and mappings)")
            continue
        if key in size:
            continue
        if key in open_nodes:
            raise error(f"{what}: an alias refers to the list or mapping it is in (a "
                        "structure that contains itself); write it out")
        open_nodes.add(key)
        stack.append((node, True))
        stack.extend((k, False) for k in _children(node) if id(k) not in size)


def _children(node) -> list:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return []
