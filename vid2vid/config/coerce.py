"""Settings from YAML, dicts and ``section.key=value`` overrides, checked against the field types.

Every way of changing a :class:`~vid2vid.config.schema.Config` goes through
:func:`apply_overrides`: a value is checked (and where harmless converted) to its field's type,
unknown keys get close matches suggested, and the result is validated
(:func:`vid2vid.config.validate.validate`). Messages start with where the value came from (a file
name, "override")::

    cfg = get_preset("synthetic").override(["model.ngf=32", "train.lr=1e-4"])
"""

from __future__ import annotations

import copy
import difflib
import os
import types
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

import yaml

from vid2vid.config.presets import PRESETS, get_preset, unknown_preset_message
from vid2vid.config.schema import SECTIONS, Config, ConfigError

__all__ = ["apply_overrides", "config_from_dict", "config_from_yaml", "config_to_yaml", "override"]


# ---------------------------------------------------------------------------- dicts and YAML


def config_from_dict(d: Mapping[str, Any], where: str = "config") -> Config:
    """:meth:`Config.from_dict <vid2vid.config.schema.Config.from_dict>`: the preset named by
    ``d["preset"]`` (the defaults without one) with the rest of ``d`` applied."""
    if not isinstance(d, Mapping):
        raise ConfigError(f"{where}: expected a mapping of sections, got {type(d).__name__}")
    # A present but empty ``preset:`` line is refused too: falling back to the defaults (the
    # Cityscapes recipe) would silently train something other than what the file meant.
    name = d.get("preset", None)
    if "preset" in d and not (isinstance(name, str) and name in PRESETS):
        raise ConfigError(f"{where}: {unknown_preset_message(name)}")
    base = Config() if name is None else get_preset(name)
    flat = dict(_flatten(d))
    return apply_overrides(base, flat, where=where)


def config_from_yaml(path: str | os.PathLike) -> Config:
    """:meth:`Config.from_yaml <vid2vid.config.schema.Config.from_yaml>`: errors name the file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: config file not found")
    with open(path, encoding="utf-8") as f:
        try:
            d = yaml.safe_load(f) or {}
        except yaml.YAMLError as err:
            raise ConfigError(f"{path}: not valid YAML ({err})") from None
    return config_from_dict(d, where=str(path))


def config_to_yaml(cfg: Config, path: str | os.PathLike | None = None) -> str:
    """The YAML text of ``cfg``; also written to ``path`` when given."""
    text = yaml.safe_dump(cfg.to_dict(), sort_keys=False)
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(text, encoding="utf-8")
    return text


def _flatten(d: Mapping[str, Any], prefix: str = "") -> Iterable[tuple[str, Any]]:
    """``("section.key", value)`` pairs of a nested dict (only the four sections are nested)."""
    for key, value in d.items():
        full = f"{prefix}{key}"
        if isinstance(value, Mapping) and (not prefix and key in SECTIONS):
            yield from _flatten(value, full + ".")
        else:
            yield full, value


# ---------------------------------------------------------------------------- overrides, typed


class _RawText(str):
    """An override value as typed on a command line (parsed as YAML against the field's type)."""


def override(cfg: Config, items: Iterable[str] | Mapping[str, Any]) -> Config:
    """:meth:`Config.override <vid2vid.config.schema.Config.override>`: a validated copy of ``cfg``
    with ``["section.key=value", ...]`` (values parsed as YAML) or ``{"section.key": value}`` applied."""
    if isinstance(items, Mapping):
        return apply_overrides(cfg, items)
    pairs: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"override {item!r}: expected 'section.key=value', e.g. 'model.ngf=64'")
        key, raw = item.split("=", 1)
        pairs[key.strip()] = _RawText(raw.strip())
    return apply_overrides(cfg, pairs, where="override")


def _field_types() -> dict[str, Any]:
    """``{"model.ngf": int, ...}`` for every settable key."""
    out: dict[str, Any] = {"preset": str}
    hints = typing.get_type_hints(Config)
    for section in SECTIONS:
        for name, tp in typing.get_type_hints(hints[section]).items():
            out[f"{section}.{name}"] = tp
    return out


def _type_name(tp: Any) -> str:
    if typing.get_origin(tp) is Literal:
        return " | ".join(repr(a) for a in typing.get_args(tp))
    return getattr(tp, "__name__", None) or str(tp)


def _coerce(key: str, value: Any, tp: Any) -> Any:
    """``value`` checked (and where harmless converted) to the field type ``tp``; ConfigError otherwise."""
    raw = value if isinstance(value, _RawText) else None
    if raw is not None:
        try:
            value = yaml.safe_load(raw) if raw != "" else ""
        except yaml.YAMLError as err:
            raise ConfigError(f"{key}: cannot parse {str(raw)!r} as YAML ({err})") from None
    origin, args = typing.get_origin(tp), typing.get_args(tp)

    def wrong() -> ConfigError:
        found = f"{type(value).__name__} {value!r}"
        return ConfigError(f"config key {key!r} expects {_type_name(tp)}, got {found}")

    if origin in (typing.Union, types.UnionType):  # X | None
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _coerce(key, raw if raw is not None else value, inner)
    if origin is Literal:
        if raw is not None and not isinstance(value, str):
            value = str(raw)  # e.g. "no" is read by YAML as a bool; the choices are strings
        if value not in args:
            raise ConfigError(f"config key {key!r} expects one of {list(args)}, got {value!r}")
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise wrong()
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise wrong()
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads "2e-4" (no dot) as a string
            try:
                return float(value)
            except ValueError:
                pass
        raise wrong()
    if tp is str:
        if isinstance(value, str):
            return value
        if raw is not None:
            return str(raw)  # a path such as 2024 typed on a command line
        raise wrong()
    if origin is list:
        (inner,) = args
        if isinstance(value, (list, tuple)):
            return [_coerce(f"{key}[{i}]", v, inner) for i, v in enumerate(value)]
        raise wrong()
    raise ConfigError(f"config key {key!r}: unsupported field type {tp}")


def apply_overrides(cfg: Config, overrides: Mapping[str, Any], where: str = "override") -> Config:
    """A validated copy of ``cfg`` with ``{"section.key": value}`` applied.

    Unknown keys raise :class:`ConfigError` naming close matches; values of the wrong type or out
    of range raise :class:`ConfigError` naming the key, what is expected and the value (an int is
    accepted for a float field). Every message starts with ``where`` (a file name, "override").
    """
    types_ = _field_types()
    out = copy.deepcopy(cfg)
    try:
        for key, value in overrides.items():
            if key not in types_:
                raise ConfigError(f"unknown config key {key!r}{_suggest(key, types_)}")
            value = _coerce(key, value, types_[key])
            if key == "preset":
                out.preset = value
                continue
            section, name = key.split(".", 1)
            setattr(getattr(out, section), name, value)
        return out.validate()
    except ConfigError as err:
        raise ConfigError(f"{where}: {err}") from None


def _suggest(key: str, known: Iterable[str]) -> str:
    """``"; did you mean 'model.ngf'?"``: close full keys, then keys whose last part is close."""
    known = list(known)
    close = difflib.get_close_matches(key, known, n=3, cutoff=0.6)
    leaf = key.rsplit(".", 1)[-1]
    for k in known:
        if k not in close and difflib.SequenceMatcher(None, leaf, k.rsplit(".", 1)[-1]).ratio() >= 0.8:
            close.append(k)
    if not close:
        return f"; keys are 'section.name' with sections {', '.join(SECTIONS)} (e.g. 'model.ngf')"
    return f"; did you mean {', '.join(repr(c) for c in close[:4])}?"
