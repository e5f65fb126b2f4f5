"""Typed, frozen configs from YAML recipes, flags and ``--set key=value`` overrides.

A config is a frozen dataclass. :func:`load_config` merges, in order of precedence,
``defaults < recipe file < named flags < --set overrides``, then checks every field against its
type and reports **all** problems in one :class:`UserError` (unknown keys with a suggestion,
wrong types, bad choices). Recipes are data: names select components from closed registries in
the library; nothing in a recipe is imported or executed.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import difflib
import math
import types
import typing
from pathlib import Path
from typing import Any, Literal, Mapping, Union

import yaml

from eval.core import safe_yaml
from eval.core.errors import UserError
from eval.core.text_files import check_text_file, decode_error


MAX_SEED = 2**32 - 1  # numpy's seeds are 32-bit: a larger or negative one fails deep inside a run


def seed_problem(name: str, seed: int) -> str | None:
    """Why a seed setting is out of range (0 to 2**32 - 1), or ``None``."""
    if not 0 <= seed <= MAX_SEED:
        return f"{name} must be between 0 and {MAX_SEED} (2**32 - 1), got {seed}"
    return None


def load_config(cls: type, recipe: str | Path | None = None, flags: Mapping[str, Any] | None = None,
                overrides: list[str] | None = None) -> Any:
    """Build ``cls`` from a recipe file, named flags (``None`` means not given) and ``--set`` items.

    Raises:
        UserError: listing every problem found (file missing or not YAML, unknown keys, bad types).
    """
    data: dict[str, Any] = read_yaml(recipe) if recipe else {}
    for key, value in (flags or {}).items():
        if value is not None:
            assign(data, key.split("."), value)
    apply_overrides(data, overrides)
    return from_dict(cls, data, f"config in {recipe}" if recipe else "config")


def apply_overrides(data: dict[str, Any], overrides: list[str] | None) -> dict[str, Any]:
    """Apply ``--set key.sub=value`` items to a recipe's data in place; values are read as YAML.

    Raises:
        UserError: an item that is not ``key=value``, or a value that is not valid YAML.
    """
    for item in overrides or []:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise UserError(f"--set {item!r} is not key=value (e.g. --set train.lr=3e-5)")
        value = read_value(raw, f"--set {item!r}: the value")
        assign(data, key.strip().split("."), value)
    return data


def read_value(raw: str, where: str) -> Any:
    """A ``--set`` value read as YAML (``3e-5``, ``[1, 2]``, ``{lr: 1}``); empty means ``None``.

    Raises:
        UserError: not valid YAML (with the fix), or an unsafe document (see :mod:`eval.core.safe_yaml`).
    """
    if not raw.strip():
        return None
    try:
        return safe_yaml.load(raw, where)
    except UserError as err:
        raise UserError(f"{err}; quote the value or fix its brackets") from None


def from_dict(cls: type, data: Mapping[str, Any], where: str = "config") -> Any:
    """Build ``cls`` from a plain mapping (a saved ``run_config.yaml``, a pipeline stage's settings).

    Raises:
        UserError: listing every problem found, prefixed with ``where``.
    """
    errors: list[str] = []
    config = _build(cls, data, "", errors)
    if errors:
        raise UserError(f"invalid {where}: " + "; ".join(errors))
    return config


def read_yaml(path: str | Path, text_keys: tuple[str, ...] = ()) -> dict[str, Any]:
    """A recipe (or task spec) file as a mapping; ``text_keys`` are read as written (see :func:`safe_yaml.load`)."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"recipe {path} is a folder; pass a YAML file (see `distill list` for the shipped recipes)")
    if not path.is_file():
        raise UserError(f"recipe {path} does not exist; see `distill list` for the shipped recipes")
    check_text_file(path, "recipe")  # UTF-16 (some editors' default) or binary: one line, not a traceback
    try:
        data = safe_yaml.load(path.read_text(), f"recipe {path}", text_keys=text_keys) or {}
    except UnicodeDecodeError as err:  # past the part check_text_file reads
        raise decode_error(path, "recipe", err) from None
    if not isinstance(data, dict):
        raise UserError(f"recipe {path} must be a mapping of keys to values, not {type(data).__name__}")
    return data


def to_dict(config: Any) -> Any:
    """A plain, YAML/JSON-ready view of a config (tuples become lists)."""
    if dataclasses.is_dataclass(config):
        return {f.name: to_dict(getattr(config, f.name)) for f in dataclasses.fields(config)}
    if isinstance(config, (list, tuple)):
        return [to_dict(v) for v in config]
    if isinstance(config, Mapping):
        return {k: to_dict(v) for k, v in config.items()}
    if isinstance(config, Path):
        return str(config)
    return config


def dump_yaml(config: Any) -> str:
    return yaml.safe_dump(to_dict(config), sort_keys=False)


def assign(data: dict, keys: list[str], value: Any) -> None:
    """Set ``data[k1][k2]... = value``, creating the mappings on the way."""
    for key in keys[:-1]:
        node = data.get(key)
        if not isinstance(node, dict):
            node = data[key] = {}
        data = node
    data[keys[-1]] = value


def _build(cls: type, data: Any, where: str, errors: list[str]) -> Any:
    if not isinstance(data, Mapping):
        errors.append(f"{where or 'config'}: expected a mapping, got {data!r}")
        return None
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    errors_before = len(errors)
    for key in data:
        if key not in fields:
            close = difflib.get_close_matches(str(key), fields, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else f" (valid keys: {', '.join(fields)})"
            errors.append(f"unknown key {_join(where, key)!r}{hint}")
    values = {}
    for name, field in fields.items():
        path = _join(where, name)
        if name in data:
            values[name] = _convert(hints[name], data[name], path, errors)
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            errors.append(f"missing required key {path!r}")
    if len(errors) > errors_before:
        return None
    try:
        return cls(**values)
    except (TypeError, ValueError, UserError) as err:  # __post_init__ checks across fields
        errors.append(f"{where or 'config'}: {err}")
        return None


def _convert(hint: Any, value: Any, path: str, errors: list[str]) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return value
    if _accepts_float(hint) and _non_finite(value):  # NaN passes every range check (nan <= 0 is False)
        errors.append(f"{path}: {value!r} is not a finite number; give a finite value")
        return None
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        # try each alternative quietly; report once if none fits
        for alternative in (a for a in args if a is not type(None)):
            trial: list[str] = []
            converted = _convert(alternative, value, path, trial)
            if not trial:
                return converted
        errors.append(f"{path}: {value!r} is not {_describe(hint)}")
        return None
    if origin is Literal:
        if value not in args:
            errors.append(f"{path}: {value!r} is not one of {', '.join(map(str, args))}")
        return value
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, path, errors)
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            errors.append(f"{path}: expected a list, got {value!r}")
            return None
        if origin is tuple and len(args) != 2 or (origin is tuple and args[1] is not Ellipsis):
            if len(args) != len(value):
                errors.append(f"{path}: expected {len(args)} items, got {len(value)}")
                return None
            return tuple(_convert(a, v, f"{path}[{i}]", errors) for i, (a, v) in enumerate(zip(args, value)))
        item = args[0] if args else Any
        return tuple(_convert(item, v, f"{path}[{i}]", errors) for i, v in enumerate(value))
    if origin in (dict, Mapping, typing.Mapping, collections.abc.Mapping) or hint is dict:
        if not isinstance(value, Mapping):
            errors.append(f"{path}: expected a mapping, got {value!r}")
            return None
        item = args[1] if len(args) == 2 else Any
        return types.MappingProxyType({k: _convert(item, v, f"{path}.{k}", errors) for k, v in value.items()})
    if hint is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if hint is float and isinstance(value, str):  # YAML 1.1 reads 3e-5 (no dot) as a string
        try:
            return float(value)
        except ValueError:
            pass
    if hint is Path and isinstance(value, (str, Path)):
        return Path(value)
    if isinstance(hint, type) and isinstance(value, hint) and not (hint is int and isinstance(value, bool)):
        return value
    errors.append(f"{path}: expected {_describe(hint)}, got {value!r}")
    return None


def _accepts_float(hint: Any) -> bool:
    """Whether a field's type takes a float: ``float``, or a union with ``float`` among its members."""
    if typing.get_origin(hint) in (Union, types.UnionType):
        return any(_accepts_float(a) for a in typing.get_args(hint))
    return hint is float


def _non_finite(value: Any) -> bool:
    """NaN or an infinity, as a number or as text a float field would read (``nan``, ``-inf``, ``.inf``)."""
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return False
    return isinstance(value, float) and not math.isfinite(value)


def _describe(hint: Any) -> str:
    if typing.get_origin(hint) in (Union, types.UnionType):
        return " or ".join(_describe(a) for a in typing.get_args(hint))
    if dataclasses.is_dataclass(hint):
        return "a mapping"
    return getattr(hint, "__name__", str(hint))


def _join(where: str, key: Any) -> str:
    return f"{where}.{key}" if where else str(key)
