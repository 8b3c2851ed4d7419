"""moto's JSON request parser with each structure's members looked up once: installed in the
emulator.

moto reads every JSON-protocol request (DynamoDB, SQS, DynamoDB Streams) by walking the
operation's input shape over the decoded body. For every structure it visits, for every member
of the shape, it looks up the member's shape and wire name and asks the body for it; for every
value it builds a method name to find the value's parser. An item's every attribute is such a
structure (DynamoDB's ``AttributeValue``, ten members, one of them present). Measured with
py-spy in the emulator (moto 5.2.5, sequential PutItems of an order): the walk was 6 % of its
busy time, the largest single step of moto's request set-up.

Here each structure shape's members (name, wire name, shape, and whether the value is taken as
it is, as for strings and booleans) are worked out once and remembered; a body with a single
key (an ``AttributeValue``) looks that key up instead of trying all ten. The result is the dict
moto builds, key for key, in the same order. Only ``JSONParser`` itself is served so (the REST
parsers that derive from it read strings and booleans differently); values that are not plain
dicts go through moto's own walk, so an ill-formed body fails as it did.

Written against moto 5.2.5 (``local.aws.sqs_indexes.check_moto_version`` guards every fix module).
"""

from typing import Any, NamedTuple

from moto.core.parse import BaseJSONParser, JSONParser

MAX_SHAPES = 4096


class Member(NamedTuple):
    name: str
    wire_name: str
    shape: Any
    as_is: bool  # no parser of its type: the value is kept as it came (strings, booleans)


_moto_own: Any = BaseJSONParser._parse_structure
_members: dict[Any, tuple[tuple[Member, ...], dict[str, Member]]] = {}


def _members_of(shape: Any) -> tuple[tuple[Member, ...], dict[str, Member]]:
    found = _members.get(shape)
    if found is None:
        members = tuple(
            Member(
                name,
                member.serialization.get("name", name),
                member,
                getattr(JSONParser, f"_parse_{member.type_name}", None) is None,
            )
            for name, member in shape.members.items()
        )
        found = members, {member.wire_name: member for member in members}
        if len(_members) < MAX_SHAPES:  # shapes live as long as their service model
            _members[shape] = found
    return found


def _parse_structure(self: BaseJSONParser, shape: Any, value: Any) -> Any:
    if type(self) is not JSONParser or type(value) is not dict or shape.is_document_type:
        return _moto_own(self, shape, value)
    members, by_wire_name = _members_of(shape)
    parse_shape: Any = self._parse_shape  # moto's parsers are untyped
    parsed = self.MAP_TYPE()
    if len(value) == 1:
        ((wire_name, raw),) = value.items()
        member = by_wire_name.get(wire_name)
        if member is not None and raw is not None:
            parsed[member.name] = raw if member.as_is else parse_shape(member.shape, raw)
        return parsed
    for member in members:
        raw = value.get(member.wire_name)
        if raw is not None:
            parsed[member.name] = raw if member.as_is else parse_shape(member.shape, raw)
    return parsed


def install(on: bool = True) -> None:
    """``on=False`` puts moto's own back (a benchmark's baseline)."""
    BaseJSONParser._parse_structure = _parse_structure if on else _moto_own  # type: ignore[method-assign]
