"""Generate the Avro schemas from the pydantic models (one generator, no hand-written copy).

Mapping (documented in ``docs/schema-reference.md`` too):

=================================  ==========================================================
pydantic                           Avro
=================================  ==========================================================
``str``, ``Literal[...]`` of str   ``string`` (allowed values are listed in the ``doc``)
``int``                            ``int``
``date``                           ``{"type": "int", "logicalType": "date"}``
aware ``datetime``                 ``{"type": "long", "logicalType": "timestamp-micros"}``
``Decimal`` + :class:`AvroDecimal` ``{"type": "bytes", "logicalType": "decimal", ...}``
``list[T]``                        ``{"type": "array", "items": T}``
``dict[str, T]``                   ``{"type": "map", "values": T}``
``T | None``                       ``["null", T]`` (default ``null``)
a model class                      a named record in :data:`~hub.contract.models.NAMESPACE`
=================================  ==========================================================

Every field carries a ``doc`` (the field description; missing descriptions are a bug and
raise), and, where set, the extra attributes ``euElement`` and ``elm``.
"""

from __future__ import annotations

import types
import typing
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import AwareDatetime, BaseModel

from hub.contract.models import EVENT_CLASSES, NAMESPACE, AvroDecimal


def model_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The self-contained Avro schema of a top-level model (named types inlined once)."""
    return _record(model, set())


def current_schemas() -> dict[str, dict[str, Any]]:
    """The Avro schemas of the current models, by record name (without namespace)."""
    return {name: model_schema(cls) for name, cls in EVENT_CLASSES.items()}


def _record(model: type[BaseModel], defined: set[str]) -> dict[str, Any]:
    full_name = f"{NAMESPACE}.{model.__name__}"
    defined.add(full_name)
    doc = (model.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")
    fields: list[dict[str, Any]] = []
    for name, info in model.model_fields.items():
        if not info.description:
            raise ValueError(f"{model.__name__}.{name} has no description (Avro doc)")
        annotation = info.annotation
        avro_type = _type(annotation, info.metadata, defined)
        field_doc = info.description
        values = _literal_values(annotation)
        if values:
            field_doc += " Values: " + ", ".join(values) + "."
        entry: dict[str, Any] = {"name": info.alias or name, "type": avro_type, "doc": field_doc}
        if not info.is_required():
            default = info.get_default(call_default_factory=True)
            if default is not None and not isinstance(default, list | dict):
                raise ValueError(f"{model.__name__}.{name}: unsupported default {default!r}")
            entry["default"] = default
        extra = info.json_schema_extra
        if isinstance(extra, dict):
            for key in ("euElement", "elm"):
                if key in extra:
                    entry[key] = extra[key]
        fields.append(entry)
    return {"type": "record", "name": full_name, "doc": doc, "fields": fields}


def _literal_values(annotation: Any) -> list[str]:
    """The allowed values when ``annotation`` is a Literal (optionally ``| None``)."""
    for arg in (annotation, *get_args(annotation)):
        if get_origin(arg) is Literal:
            return [str(v) for v in get_args(arg)]
    return []


def _type(annotation: Any, metadata: list[Any], defined: set[str]) -> Any:
    origin = get_origin(annotation)
    if origin is typing.Annotated:
        base, *extra = get_args(annotation)
        return _type(base, [*metadata, *extra], defined)
    if origin in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) != 1 or len(get_args(annotation)) != 2:
            raise ValueError(f"only T | None unions are supported, got {annotation}")
        return ["null", _type(args[0], metadata, defined)]
    if origin is Literal:
        return "string"
    if origin is list:
        (item,) = get_args(annotation)
        return {"type": "array", "items": _type(item, [], defined)}
    if origin is dict:
        key, value = get_args(annotation)
        if key is not str:
            raise ValueError("map keys must be str")
        return {"type": "map", "values": _type(value, [], defined)}
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        full_name = f"{NAMESPACE}.{annotation.__name__}"
        return full_name if full_name in defined else _record(annotation, defined)
    if annotation is str:
        return "string"
    if annotation is bool:
        return "boolean"
    if annotation is int:
        return "int"
    if annotation is datetime or annotation is AwareDatetime:
        return {"type": "long", "logicalType": "timestamp-micros"}
    if annotation is date:
        return {"type": "int", "logicalType": "date"}
    if annotation is Decimal:
        marker = next((m for m in metadata if isinstance(m, AvroDecimal)), None)
        if marker is None:
            raise ValueError("a Decimal needs an AvroDecimal(precision, scale) marker")
        return {"type": "bytes", "logicalType": "decimal", "precision": marker.precision,
                "scale": marker.scale}
    raise ValueError(f"no Avro mapping for {annotation!r}")
