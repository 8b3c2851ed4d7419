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

Written against moto 5.2.5 (``local.aws.sqs_indexes.check_moto_version`` guards every fix module).
"""

from typing import Any

from moto.core.constants import MISSING
from moto.core.serialize import (
    DEFAULT_ALIAS_PROVIDERS,
    AttributePicker,
    AttributePickerContext,
    ResponseSerializer,
    XFormedAttributePicker,
)
from moto.core.utils import get_value

MAX_MEMBERS = 8192
_PICKERS = (AttributePicker, XFormedAttributePicker)

_moto_own = ResponseSerializer.get_value
_keys: dict[tuple[Any, ...], tuple[str, ...]] = {}


def _get_value(self: ResponseSerializer, value: Any, key: str, shape: Any) -> Any:
    picker = self._value_picker
    if (
        type(value) is not dict
        or type(picker) not in _PICKERS
        or picker.response_transformers
        or picker.alias_providers is not DEFAULT_ALIAS_PROVIDERS
    ):
        return _moto_own(self, value, key, shape)
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
    for possible in keys:
        found = get_value(value, possible, MISSING)
        if found is not MISSING:
            return found
    return None


def install(on: bool = True) -> None:
    """``on=False`` puts moto's own back (a benchmark's baseline)."""
    ResponseSerializer.get_value = _get_value if on else _moto_own  # type: ignore[method-assign]
