"""moto's DynamoDB condition expressions parsed once per text: installed in the emulator.

moto parses a ``ConditionExpression`` from its text on every call, and twice per conditional
write (once to check which names and values it uses, once to evaluate it). The pipeline sends
the same three expressions with every order, so that parse was half of a conditional
``PutItem``'s time in the emulator (measured in process, moto 5.2.5: the email ledger's claim
4.3 ms, of which 2.6 ms in ``ConditionExpressionParser.parse``), and most of the parse is
lexing the text, character class by character class.

Two caches, both bounded (least recently used first out):

- the lexed tokens, keyed by the expression's text alone (tokens are immutable tuples; the
  later steps of the parse build new nodes and never change these);
- the whole parse (the condition that moto evaluates, with the names and values it found),
  keyed by the text together with the request's attribute names and values, so a hit is the
  parse of the very same input. Conditions keep what they were built with and change nothing
  when evaluated, so one may serve many calls.

An expression moto rejects raises as before and is not cached. Written against moto 5.2.5
(``local.aws.sqs_indexes.check_moto_version`` guards every fix module).
"""

import json
from collections import OrderedDict, deque
from typing import Any

from moto.dynamodb.comparisons import ConditionExpressionParser

MAX_EXPRESSIONS = 256
MAX_PARSES = 1024

Parsed = tuple[Any, tuple[str, ...], tuple[str, ...]]


class Bounded(OrderedDict[Any, Any]):
    """A least-recently-used map of at most ``limit`` entries."""

    def __init__(self, limit: int):
        super().__init__()
        self.limit = limit

    def recall(self, key: Any) -> Any:
        value = self.get(key)
        if value is not None:
            self.move_to_end(key)
        return value

    def keep(self, key: Any, value: Any) -> None:
        self[key] = value
        if len(self) > self.limit:
            self.popitem(last=False)


_tokens = Bounded(MAX_EXPRESSIONS)
_parses = Bounded(MAX_PARSES)
_original_lex = ConditionExpressionParser._lex_condition_expression
_original_parse = ConditionExpressionParser.parse


def _lex(self: ConditionExpressionParser) -> deque[Any]:
    text = self.condition_expression
    tokens = _tokens.recall(text)
    if tokens is None:
        tokens = tuple(_original_lex(self))
        _tokens.keep(text, tokens)
    return deque(tokens)


def _parse_key(parser: ConditionExpressionParser) -> str | None:
    try:
        return json.dumps(
            [
                parser.condition_expression,
                parser.expression_attribute_names,
                parser.expression_attribute_values,
            ],
            sort_keys=True,
        )
    except (TypeError, ValueError):
        return None  # something JSON cannot hold: parse it as moto does


def _parse(self: ConditionExpressionParser) -> Any:
    if not self.condition_expression:
        return _original_parse(self)
    key = _parse_key(self)
    parsed: Parsed | None = _parses.recall(key) if key is not None else None
    if parsed is None:
        names_before, values_before = (
            len(self.expr_attr_names_found),
            len(self.expr_attr_values_found),
        )
        condition = _original_parse(self)
        parsed = (
            condition,
            tuple(self.expr_attr_names_found[names_before:]),
            tuple(self.expr_attr_values_found[values_before:]),
        )
        if key is not None:
            _parses.keep(key, parsed)
        return condition
    condition, names, values = parsed
    self.expr_attr_names_found.extend(names)
    self.expr_attr_values_found.extend(values)
    return condition


def install(on: bool = True) -> None:
    """``on=False`` puts moto's own parse back (a benchmark's baseline)."""
    lex, parse = (_lex, _parse) if on else (_original_lex, _original_parse)
    ConditionExpressionParser._lex_condition_expression = lex  # type: ignore[method-assign]
    ConditionExpressionParser.parse = parse  # type: ignore[method-assign]
