"""moto's response serializer with each member's keys looked up once: installed in the emulator.

moto writes every answer by walking the operation's output shape, and for every member of
every structure it asks an attribute picker where the value lives: a context object, six alias
providers and botocore's ``xform_name`` per member, even for a DynamoDB ``AttributeValue`` and
its ten members, for every attribute of every item. Measured with py-spy in the emulator under
the pipeline at 50 orders/s: a fifth of its busy time was that serializer (stream records with
whole order images, received messages with their attributes).

When the value is a plain ``dict`` (what most of moto's results are), the keys a member may be
found under depend only on the service, the member, its shape and its parent structure: none of
the alias providers reads anything else of a ``dict`` (it has no ``Meta``, its class name is
always ``dict``). So they are worked out once per member and remembered, and the value is the
first of them present, as the picker would pick it. Pickers with response transformers (they
read the path being written) and values of any other type go through moto's own picker.

JSON answers go one step further: a structure's members, with their possible keys, are listed
once per structure shape, and the walk over a plain ``dict`` reads each member's keys from that
list (moto called a method and built a context key per member per value: under load, a quarter
of the emulator's busy time was the serializer, mostly the ten members of every attribute of
every stream record and message). What is written is moto's, member by member
(``tests/unit/test_response_keys.py`` compares both on generated records).

Written against moto 5.2.5 (``local.aws.sqs_indexes.check_moto_version`` guards every fix module).
"""

from typing import Any

from moto.core.constants import MISSING
from moto.core.serialize import (
    DEFAULT_ALIAS_PROVIDERS,
    AttributePicker,
    AttributePickerContext,
    BaseJSONSerializer,
    JSONSerializer,
    ResponseSerializer,
    XFormedAttributePicker,
)
from moto.core.utils import get_value

MAX_MEMBERS = 8192
MAX_STRUCTURES = 4096
_PICKERS = (AttributePicker, XFormedAttributePicker)

_moto_own = ResponseSerializer.get_value
_moto_own_structure: Any = BaseJSONSerializer._serialize_type_structure
_keys: dict[tuple[Any, ...], tuple[str, ...]] = {}
# per structure shape (and picker, service): each member's name, shape and possible keys
_structures: dict[tuple[Any, ...], tuple[tuple[str, Any, tuple[str, ...]], ...]] = {}


def _plain(self: ResponseSerializer, value: Any) -> bool:
    """Whether where a member is found in ``value`` depends on the member alone."""
    picker = self._value_picker
    return (
        type(value) is dict
        and type(picker) in _PICKERS
        and not picker.response_transformers
        and picker.alias_providers is DEFAULT_ALIAS_PROVIDERS
    )


def _get_value(self: ResponseSerializer, value: Any, key: str, shape: Any) -> Any:
    if not _plain(self, value):
        return _moto_own(self, value, key, shape)
    return _first_present(value, _possible_keys(self, value, key, shape))


def _first_present(value: dict[str, Any], keys: tuple[str, ...]) -> Any:
    """The value under the first of ``keys`` found in ``value`` (a dotted key is a path, as
    moto's ``get_value`` reads it), ``None`` when none is: what moto's picker answers."""
    for possible in keys:
        found = (
            value.get(possible, MISSING)
            if "." not in possible
            else get_value(value, possible, MISSING)
        )
        if found is not MISSING:
            return found
    return None


def _possible_keys(self: ResponseSerializer, value: Any, key: str, shape: Any) -> tuple[str, ...]:
    picker = self._value_picker
    parent = getattr(shape, "parent", None)
    member = (
        type(picker),
        self.service_model.service_name,
        getattr(parent, "name", None),
        key,
        shape.name,
    )
    keys = _keys.get(member)
    if keys is None:
        context = AttributePickerContext(
            obj=value,
            key=key,
            shape=shape,
            operation_model=self.operation_model,
            service_model=self.service_model,
            key_path=".".join(self.path),
        )
        keys = tuple(picker.get_possible_keys(context))
        if len(_keys) < MAX_MEMBERS:
            _keys[member] = keys
    return keys


def _serialize_type_structure(
    self: BaseJSONSerializer, serialized: Any, value: Any, shape: Any, key: str
) -> None:
    """moto's walk over a structure's members, with each member's possible keys looked up
    once per shape instead of once per member per value (a stream record's every attribute
    is a ten-member structure)."""
    if type(self) is not JSONSerializer or shape.is_document_type or not _plain(self, value):
        _moto_own_structure(self, serialized, value, shape, key)
        return
    table_key = (type(self._value_picker), self.service_model.service_name, shape)
    members = _structures.get(table_key)
    if members is None:
        listed = []
        for member_key, member_shape in shape.members.items():
            member_shape.parent = shape
            listed.append(
                (member_key, member_shape, _possible_keys(self, value, member_key, member_shape))
            )
        members = tuple(listed)
        if len(_structures) < MAX_STRUCTURES:  # shapes live as long as their service model
            _structures[table_key] = members
    wrapper: Any = self.MAP_TYPE() if key else serialized
    for member_key, member_shape, keys in members:
        member_shape.parent = shape  # as moto's walk leaves it
        found = _first_present(value, keys)
        if found is not None:
            self._serialize(wrapper, found, member_shape, member_key)
    if key:
        self._default_serialize(serialized, wrapper, shape, key)


def install(on: bool = True) -> None:
    """``on=False`` puts moto's own back (a benchmark's baseline)."""
    ResponseSerializer.get_value = _get_value if on else _moto_own  # type: ignore[method-assign]
    BaseJSONSerializer._serialize_type_structure = (  # type: ignore[method-assign]
        _serialize_type_structure if on else _moto_own_structure
    )
