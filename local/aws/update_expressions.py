"""moto's DynamoDB update expressions parsed once per text and validated in one look-up per
node: installed in the emulator.

An ``UpdateItem`` cost the emulator twice a conditional ``PutItem`` (8 ms against 3-4, moto
5.2.5), and py-spy put most of it in three places:

- the expression is parsed from its text twice a call (the response class checks the names and
  values it uses; the backend parses it again to apply it). The parse is now kept per text,
  with its pickled bytes (bounded, least recently used out): an expression moto rejects raises
  as before and is not kept;
- each validation starts from a deep copy of the parse (it replaces nodes as it goes), made once
  more for an item that does not exist yet. A copy of a kept parse is now read back from its
  pickled bytes: an independent tree, as the deep copy was, in a fifth of the time;
- the validation walks the tree ten times, and at every node each walker rebuilt its map of
  node classes to handlers and asked ``isinstance`` of each class (all of them ABCs, whose
  checks go through ``ABCMeta.__instancecheck__``). A walk now takes its map once and finds a
  node's handler by the node's class, remembered per walk: the first class in the map's order
  the node is an instance of, as ``DepthFirstTraverser.process`` chose (no node class is
  registered as a virtual subclass, so ``issubclass`` of the node's class answers what
  ``isinstance`` did).

Nothing else of moto's update changes; the parity tests send each expression twice, to moto's
own server and to the emulator. Written against moto 5.2.5
(``local.aws.sqs_indexes.check_moto_version`` guards every fix module).
"""

import pickle
from collections.abc import Callable
from copy import deepcopy
from typing import Any

from moto.dynamodb.parsing.ast_nodes import (  # type: ignore[attr-defined]
    DepthFirstTraverser,
    Expression,
    Node,
    UpdateExpressionFunction,
)
from moto.dynamodb.parsing.expressions import UpdateExpressionParser  # type: ignore[attr-defined]
from moto.dynamodb.parsing.validators import Validator

from local.aws.expression_cache import Bounded

MAX_EXPRESSIONS = 256

_moto_make = UpdateExpressionParser.make.__func__
_moto_traverse = DepthFirstTraverser.traverse
_moto_find_clauses = Node.find_clauses
_moto_validator_init = Validator.__init__

_parses = Bounded(MAX_EXPRESSIONS)  # text -> the parse
_pickled: dict[int, tuple[Any, bytes]] = {}  # id of a kept parse -> (it, its pickled bytes)


def _make(cls: type[UpdateExpressionParser], expression: str) -> Any:
    kept = _parses.recall(expression)
    if kept is not None:
        return kept
    parsed = _moto_make(cls, expression)
    if cls is UpdateExpressionParser:
        if len(_parses) >= _parses.limit:  # the oldest goes out: its bytes too
            _pickled.pop(id(next(iter(_parses.values()))), None)
        _parses.keep(expression, parsed)
        _pickled[id(parsed)] = (parsed, pickle.dumps(parsed, pickle.HIGHEST_PROTOCOL))
    return parsed


def _copy(expression: Any) -> Any:
    """A tree of its own, as ``deepcopy`` makes: from the pickled bytes of a kept parse."""
    kept = _pickled.get(id(expression))
    if kept is not None and kept[0] is expression:
        return pickle.loads(kept[1])  # noqa: S301 - bytes this module pickled
    return deepcopy(expression)


def _validator_init(
    self: Validator,
    expression: Any,
    expression_attribute_names: Any,
    expression_attribute_values: Any,
    item: Any,
    table: Any,
) -> None:
    """moto's ``Validator.__init__``, the copy made by ``_copy``."""
    self.expression_attribute_names = expression_attribute_names
    self.expression_attribute_values = expression_attribute_values
    self.item = item
    self.table = table
    self.processors = self.get_ast_processors()
    self.node_to_validate = _copy(expression)


# (walker class, node class) -> (is it a Node, the key of its handler in the walker's map).
# Each walker class's map names the same classes on every call (moto builds it from literals).
_kinds: dict[tuple[type, type], tuple[bool, type | None]] = {}


def _kind(walker: type, node_class: type, handlers: dict[type, Any]) -> tuple[bool, type | None]:
    key = next((key for key in handlers if issubclass(node_class, key)), None)
    found = _kinds[walker, node_class] = (issubclass(node_class, Node), key)
    return found


def _traverse(self: DepthFirstTraverser, node: Any) -> Any:
    """moto's ``traverse_node_recursively``, its map taken once and each node's handler found
    by the node's class."""
    handlers: dict[type, Callable[[Any], Any]] = self._processing_map()
    walker = type(self)
    pre_processing_of_child = self.pre_processing_of_child

    def walk(node: Any, child_id: int) -> Any:
        node_class = type(node)
        is_node, key = _kinds.get((walker, node_class)) or _kind(walker, node_class, handlers)
        if is_node:
            parent_node = node.parent
            if node.children is not None:
                for i, child_node in enumerate(node.children):
                    pre_processing_of_child(node, i)
                    walk(child_node, i)
            if key is not None:
                node = handlers[key](node)
                node.parent = parent_node
                if parent_node:
                    parent_node.children[child_id] = node
        return node

    return walk(node, -1)


_descends: dict[type, bool] = {}  # node class -> does find_clauses look inside it


def _find_clauses(self: Node, clause_types: Any) -> list[Any]:
    """moto's ``Node.find_clauses``, asking once per class what it asked with ``isinstance``."""
    clauses: list[Any] = []
    for child in self.children or []:
        child_class = type(child)
        if child_class in clause_types:
            clauses.append(child)
            continue
        descends = _descends.get(child_class)
        if descends is None:
            descends = _descends[child_class] = issubclass(
                child_class, (Expression, UpdateExpressionFunction)
            )
        if descends:
            clauses.extend(child.find_clauses(clause_types))
    return clauses


def install(on: bool = True) -> None:
    """``on=False`` puts moto's own back (a benchmark's baseline)."""
    UpdateExpressionParser.make = classmethod(_make if on else _moto_make)
    DepthFirstTraverser.traverse = _traverse if on else _moto_traverse
    Node.find_clauses = _find_clauses if on else _moto_find_clauses
    Validator.__init__ = _validator_init if on else _moto_validator_init  # type: ignore[method-assign]
