"""Is a changed schema still compatible with a released one, and if not, which field broke how?

jsoncompat decides (it proves subset relations between JSON Schemas; ``serializer``: every value
the new schema allows, the old one allows too; ``deserializer``: the other way round). This module
prepares the schemas for it, checks by hand only what it does not, and names the culprit:

- jsoncompat 0.3.1 refuses ``$id`` and a non-integer ``multipleOf`` (prices are multiples of
  0.01), and it does not compare ``pattern`` or ``format`` at all (a changed pattern passed as
  compatible). Those three keywords are taken out before it runs and judged here: ``multipleOf``
  by divisibility, ``pattern`` and ``format`` by equality (whether one regular expression allows
  all that another does cannot be decided in general, so any change to one is a break).
- jsoncompat answers yes or no for a whole schema. To say which field broke, each difference
  between the two schemas is applied alone to the released one and put to jsoncompat on its own.
- Tolerant readers: a consumer of an event or a response must ignore fields it does not know, so
  that adding an optional field stays compatible. jsoncompat, asked whether new readers accept all
  that old writers sent, counts an open object as allowing *any* value under an undeclared name;
  old writers sent only declared fields, so for that question the released schema's objects are
  closed first. Closing an object that was open is then judged here: it is a break, because a
  reader that refuses unknown fields breaks on the next optional field a writer adds.
"""

import copy
import json
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

import jsoncompat

Role = Literal["serializer", "deserializer", "both"]
Schema = dict[str, Any]
Pointer = tuple[str | int, ...]

ANNOTATIONS = ("$id", "$schema", "title", "description", "default", "examples")
BY_HAND = ("pattern", "format", "multipleOf")
_MISSING: Any = object()


@dataclass(frozen=True)
class Break:
    field: str  # "customerName", "items[].quantity", or "(top level)"
    kind: str  # what happened to it: "removed (or renamed)", "narrowed", "pattern changed", ...
    detail: str  # the values: "maxLength 100 -> 10"

    def __str__(self) -> str:
        return f"{self.field}: {self.kind}: {self.detail}"


def inline(schema: Schema) -> Schema:
    """A self-contained copy: local ``$ref``s replaced by what they point to, annotations gone."""
    root = schema

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                target: Any = root
                for part in node["$ref"].removeprefix("#/").split("/"):
                    target = target[part]
                return resolve(target)
            return {
                key: resolve(value)
                for key, value in node.items()
                if key not in ANNOTATIONS and key != "$defs"
            }
        if isinstance(node, list):
            return [resolve(item) for item in node]
        return node

    resolved: Schema = resolve(schema)
    return resolved


def _without(schema: Any, keywords: tuple[str, ...]) -> Any:
    if isinstance(schema, dict):
        return {k: _without(v, keywords) for k, v in schema.items() if k not in keywords}
    if isinstance(schema, list):
        return [_without(item, keywords) for item in schema]
    return schema


def _closed(schema: Any) -> Any:
    """Every object that allows undeclared fields, made not to: what old writers really sent."""
    if isinstance(schema, dict):
        closed = {k: _closed(v) for k, v in schema.items()}
        if closed.get("type") == "object" and "additionalProperties" not in closed:
            closed["additionalProperties"] = False
        return closed
    if isinstance(schema, list):
        return [_closed(item) for item in schema]
    return schema


def _subset(smaller: Schema, larger: Schema) -> bool:
    """Every value ``smaller`` allows, ``larger`` allows (jsoncompat, on what it understands)."""
    # check_compat(old, new, "serializer") holds when new ⊆ old.
    return bool(
        jsoncompat.check_compat(
            json.dumps(_without(larger, BY_HAND)),
            json.dumps(_without(smaller, BY_HAND)),
            "serializer",
        )
    )


@dataclass(frozen=True)
class Difference:
    """One change between the released schema and the new one, small enough to judge alone."""

    at: Pointer  # the node it is in, in both schemas
    keyword: str  # "property", "required", or a schema keyword
    name: str  # the property, for "property" and "required"
    field: str  # where a person finds it: "items[].quantity"
    old: Any
    new: Any
    required: bool = False  # for an added property: whether the new schema requires it


def _field(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _nullable_branch(node: Schema) -> Schema | None:
    """``X`` of ``anyOf: [X, {"type": "null"}]`` (how pydantic writes ``X | None``)."""
    options = node.get("anyOf")
    if isinstance(options, list) and len(options) == 2 and {"type": "null"} in options:
        branch: Schema = next(option for option in options if option != {"type": "null"})
        return branch
    return None


def differences(old: Schema, new: Schema, at: Pointer = (), path: str = "") -> Iterator[Difference]:
    old_branch, new_branch = _nullable_branch(old), _nullable_branch(new)
    if old_branch is not None and new_branch is not None:
        branch = (*at, "anyOf", old["anyOf"].index(old_branch))
        yield from differences(old_branch, new_branch, branch, path)
        return
    if (old_branch is None) != (new_branch is None) or old.get("type") != new.get("type"):
        yield Difference(at, "node", "", path or "(top level)", old, new)
        return
    old_props, new_props = old.get("properties", {}), new.get("properties", {})
    old_required, new_required = set(old.get("required", [])), set(new.get("required", []))
    for name in sorted(old_props.keys() | new_props.keys()):
        field = _field(path, name)
        if name not in new_props or name not in old_props:
            before, after = old_props.get(name, _MISSING), new_props.get(name, _MISSING)
            yield Difference(at, "property", name, field, before, after, name in new_required)
            continue
        if (name in old_required) != (name in new_required):
            yield Difference(
                at, "required", name, field, name in old_required, name in new_required
            )
        yield from differences(old_props[name], new_props[name], (*at, "properties", name), field)
    if "items" in old and "items" in new:
        yield from differences(old["items"], new["items"], (*at, "items"), f"{path}[]")
    for keyword in sorted(old.keys() | new.keys()):
        if keyword in ("properties", "required", "items", "anyOf", "type"):
            continue
        before, after = old.get(keyword, _MISSING), new.get(keyword, _MISSING)
        if before != after:
            yield Difference(at, keyword, "", path or "(top level)", before, after)


def _node(schema: Schema, at: Pointer) -> Any:
    for part in at:
        schema = schema[part]  # type: ignore[index]
    return schema


def apply(old: Schema, difference: Difference) -> Schema:
    """The released schema with this one difference made."""
    changed = copy.deepcopy(old)
    node = _node(changed, difference.at)
    if difference.keyword == "node":
        if not difference.at:
            return copy.deepcopy(difference.new)
        parent = _node(changed, difference.at[:-1])
        parent[difference.at[-1]] = copy.deepcopy(difference.new)
    elif difference.keyword in ("property", "required"):
        properties, required = node.setdefault("properties", {}), node.setdefault("required", [])
        if difference.keyword == "property" and difference.new is _MISSING:
            properties.pop(difference.name)
        elif difference.keyword == "property":
            properties[difference.name] = copy.deepcopy(difference.new)
        wanted = difference.required if difference.keyword == "property" else difference.new
        if difference.name in required and not wanted:
            required.remove(difference.name)
        elif wanted and difference.name not in required:
            required.append(difference.name)
    elif difference.new is _MISSING:
        node.pop(difference.keyword)
    else:
        node[difference.keyword] = copy.deepcopy(difference.new)
    return changed


def _show(value: Any) -> str:
    return "(none)" if value is _MISSING else json.dumps(value)


def _multiple_of_allows(outer: Any, inner: Any) -> bool:
    """Every multiple of ``inner`` is a multiple of ``outer`` (missing: any number)."""
    if outer is _MISSING:
        return True
    if inner is _MISSING:
        return False
    return Decimal(str(inner)) % Decimal(str(outer)) == 0


@dataclass(frozen=True)
class Verdict:
    """For one direction: does the new schema allow more (widened), less (narrowed), or both?"""

    widened: bool
    narrowed: bool


def _by_hand(difference: Difference) -> Verdict:
    old, new = difference.old, difference.new
    if difference.keyword == "multipleOf":
        return Verdict(
            widened=not _multiple_of_allows(old, new), narrowed=not _multiple_of_allows(new, old)
        )
    if difference.keyword == "additionalProperties":
        opened, closed = new is not False, old is not False
        return Verdict(widened=opened and not closed, narrowed=closed and not opened)
    # pattern, format: added narrows, removed widens, changed cannot be proven either way
    return Verdict(widened=new is _MISSING or old is not _MISSING, narrowed=new is not _MISSING)


def _by_jsoncompat(old: Schema, changed: Schema, tolerant: bool) -> Verdict:
    reading = _closed(old) if tolerant else old
    return Verdict(widened=not _subset(changed, old), narrowed=not _subset(reading, changed))


def _kind(difference: Difference, verdict: Verdict) -> str:
    if difference.keyword == "property" and difference.new is _MISSING:
        return "removed (or renamed)"
    if difference.keyword == "property":
        return "added as required" if difference.required else "added"
    if difference.keyword == "required":
        return "optional -> required" if difference.new else "required -> optional"
    if difference.keyword == "additionalProperties" and verdict.narrowed:
        return "closed an open object"
    if difference.keyword in ("pattern", "format") and verdict.narrowed and verdict.widened:
        return f"{difference.keyword} changed (compatibility cannot be proven)"
    return "narrowed" if verdict.narrowed else "widened"


def _detail(difference: Difference) -> str:
    if difference.keyword == "node" and isinstance(difference.old, dict):
        if _nullable_branch(difference.old) == difference.new:
            return "null no longer allowed"
        if isinstance(difference.new, dict) and _nullable_branch(difference.new) == difference.old:
            return "null now allowed"
    if difference.keyword == "node":
        return f"type {_show(difference.old)} -> {_show(difference.new)}"[:300]
    if difference.keyword == "property":
        return f"{_show(difference.old)} -> {_show(difference.new)}"[:300]
    if difference.keyword == "required":
        return "now " + ("required" if difference.new else "optional")
    return f"{difference.keyword} {_show(difference.old)} -> {_show(difference.new)}"


def breaks(released: Schema, current: Schema, role: Role, tolerant: bool = False) -> list[Break]:
    """What in ``current`` breaks readers or writers of ``released``, under ``role``.

    ``serializer``: readers of the released schema must accept all ``current`` allows (no
    widening). ``deserializer``: ``current`` must accept all the released one allowed (no
    narrowing). ``both``: neither. ``tolerant``: readers ignore unknown fields (see above).
    """
    old, new = inline(released), inline(current)
    found = []
    for difference in differences(old, new):
        if difference.keyword in BY_HAND or (
            tolerant and difference.keyword == "additionalProperties"
        ):
            verdict = _by_hand(difference)
        else:
            verdict = _by_jsoncompat(old, apply(old, difference), tolerant)
        if (verdict.widened and role != "deserializer") or (
            verdict.narrowed and role != "serializer"
        ):
            found.append(Break(difference.field, _kind(difference, verdict), _detail(difference)))
    if not found:
        whole = _by_jsoncompat(old, new, tolerant)
        if (whole.widened and role != "deserializer") or (whole.narrowed and role != "serializer"):
            found.append(Break("(top level)", "incompatible", "a combination of the changes above"))
    return found
