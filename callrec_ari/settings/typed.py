"""One table of settings as a frozen dataclass: defaults < file < environment < command line.

One set of rules for every table, driven by the dataclass fields' types:

- in the file, a value must already have its field's type (TOML is typed): a string for ``str``, an
  integer for ``int``, an integer or a decimal for ``float``, ``true``/``false`` for ``bool``, a list of
  strings for ``tuple[str, ...]``, a sub-table for a dataclass, an array of tables (``[[lines]]``) for a
  tuple of dataclasses. A boolean is never a number, a number never a string;
- from the environment (always text) the value is parsed: ``int("7")``, ``float("2.5")``, a boolean as
  1/0, true/false, yes/no, on/off, a list as comma- or space-separated words. A variable set to the
  empty string counts as unset. Arrays of tables are not read from the environment;
- from the command line (keyword overrides, ``None`` meaning "not given") the Python value must have
  the field's type, as in the file;
- a key the dataclass does not have is refused.

Every problem raises the table's error class with one message format::

    config file c.toml: [delivery] retention_days = "x": expected a number
    environment: CALLREC_DIAL_TIMEOUT (dial_timeout) = "soon": expected an integer
    config file c.toml: [stream] url: unknown key; [stream] takes control_url, rtp_host, ...
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection, Mapping
from dataclasses import MISSING, Field, fields, is_dataclass
from typing import Any, TypeVar, get_args, get_origin, get_type_hints

from callrec_ari.settings.source import SettingsError, SettingsSource, env_name

T = TypeVar("T")

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")
_EXPECTED = {str: "a string (in quotes)", int: "an integer", float: "a number", bool: "true or false"}
_HIDDEN = ("secret", "password")  # never echo these values in an error message


class _Mismatch(Exception):
    """A value that is not what its field wants; ``expected`` completes the message."""

    def __init__(self, expected: str) -> None:
        super().__init__(expected)
        self.expected = expected


def _hints(cls: type[Any]) -> dict[str, Any]:
    return get_type_hints(cls)


def _dataclass_type(kind: Any) -> bool:
    return isinstance(kind, type) and is_dataclass(kind)


def _tuple_item(kind: Any) -> Any:
    """``X`` for ``tuple[X, ...]``, else None."""
    args = get_args(kind)
    if get_origin(kind) is tuple and len(args) == 2 and args[1] is Ellipsis:
        return args[0]
    return None


def _expected(kind: Any) -> str:
    item = _tuple_item(kind)
    if item is str:
        return "a list of strings"
    if item is not None:
        return f"an array of tables ({item.__name__})"
    if _dataclass_type(kind):
        return "a table"
    return _EXPECTED.get(kind, str(kind))


def _show(key: str, value: Any) -> str:
    """The value as it would be written in TOML, unless it is a secret."""
    if any(word in key for word in _HIDDEN):
        return "(hidden)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return repr(value)


def _typed(kind: Any, value: Any) -> Any:
    """A file or command-line value checked against the field's type (never converted across types)."""
    if kind is bool:
        if isinstance(value, bool):
            return value
    elif kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif kind is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            if not math.isfinite(value):
                raise _Mismatch("a finite number")
            return float(value)
    elif kind is str:
        if isinstance(value, str):
            return value
    elif _tuple_item(kind) is str:
        if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
            return tuple(value)
    else:
        raise TypeError(f"settings: no rule for fields of type {kind!r}")
    raise _Mismatch(_expected(kind))


def _parsed(kind: Any, raw: str) -> Any:
    """An environment value (text) parsed as the field's type."""
    text = raw.strip()
    try:
        if kind is bool:
            if text.lower() in _TRUE:
                return True
            if text.lower() in _FALSE:
                return False
            raise _Mismatch("a boolean (1/0, true/false, yes/no, on/off)")
        if kind is int:
            return int(text)
        if kind is float:
            number = float(text)
            if not math.isfinite(number):
                raise _Mismatch("a finite number")
            return number
    except ValueError as exc:
        raise _Mismatch(_expected(kind)) from exc
    if kind is str:
        return raw
    if _tuple_item(kind) is str:
        return tuple(v for v in raw.replace(",", " ").split() if v)
    raise TypeError(f"settings: no rule for fields of type {kind!r}")


def _label(where: str, key: str) -> str:
    return f"{where} {key}" if where else key


def _env_var(f: Field[Any], table: tuple[str, ...]) -> str:
    return str(f.metadata.get("env") or env_name(table, f.name))


class _Table:
    """Builds one dataclass from its part of the file, its environment variables and overrides."""

    def __init__(self, source: SettingsSource, error: type[SettingsError]) -> None:
        self.source = source
        self.error = error

    def build(self, cls: type[T], table: tuple[str, ...], where: str, in_file: Mapping[str, Any],
              *, use_env: bool = True, overrides: Mapping[str, Any] | None = None,
              defaults: Mapping[str, Any] | None = None, skip: Collection[str] = ()) -> T:
        """``cls`` from its layers; ``where`` labels its keys in messages ("[delivery]", "[[lines]] #2")."""
        known = {f.name: f for f in fields(cls)}  # type: ignore[arg-type]
        hints = _hints(cls)
        given = {k: v for k, v in (overrides or {}).items() if v is not None}
        values: dict[str, Any] = dict(defaults or {})
        sub_tables = self._file_layer(values, known, hints, where, in_file, skip)
        if use_env:
            self._env_layer(values, known, hints, table, where)
        for key, kind in hints.items():
            if _dataclass_type(kind) and key not in given:
                sub = (*table, key)
                values[key] = self.build(kind, sub, f"[{'.'.join(sub)}]", sub_tables.get(key, {}),
                                         use_env=use_env)
        for key, value in given.items():
            if key not in known:
                self._unknown("command line", where, key, known)
            values[key] = self._override(hints[key], key, where, value)
        missing = [k for k, f in known.items()
                   if k not in values and f.default is MISSING and f.default_factory is MISSING]
        if missing:
            raise self.error(f"{self.source.origin}: {where or 'the top table'}: {', '.join(missing)} "
                             f"{'is' if len(missing) == 1 else 'are'} required")
        return cls(**values)

    def _file_layer(self, values: dict[str, Any], known: Mapping[str, Any], hints: Mapping[str, Any],
                    where: str, in_file: Mapping[str, Any], skip: Collection[str]) -> dict[str, Any]:
        """The file's keys into ``values``; its sub-tables returned for their own build."""
        origin = self.source.origin
        sub_tables: dict[str, Any] = {}
        for key, value in in_file.items():
            if key in skip:
                continue
            if key not in known:
                self._unknown(origin, where, key, known)
            kind = hints[key]
            if _dataclass_type(kind):
                if not isinstance(value, Mapping):
                    raise self.error(f"{origin}: {_label(where, key)} = {_show(key, value)}: "
                                     "expected a table")
                sub_tables[key] = value
            elif _dataclass_type(_tuple_item(kind)):
                values[key] = self._array(_tuple_item(kind), key, where, value)
            else:
                values[key] = self._check(kind, value, f"{origin}: {_label(where, key)}", key)
        return sub_tables

    def _env_layer(self, values: dict[str, Any], known: Mapping[str, Field[Any]],
                   hints: Mapping[str, Any], table: tuple[str, ...], where: str) -> None:
        for key, f in known.items():
            kind = hints[key]
            if _dataclass_type(kind) or _dataclass_type(_tuple_item(kind)):
                continue  # sub-tables have their own variables; arrays of tables have none
            var = _env_var(f, table)
            raw = self.source.env.get(var)
            if not raw:  # unset, or set to the empty string
                continue
            try:
                values[key] = _parsed(kind, raw)
            except _Mismatch as exc:
                raise self.error(f"environment: {var} ({_label(where, key)}) = {_show(key, raw)}: "
                                 f"expected {exc.expected}") from None

    def _check(self, kind: Any, value: Any, label: str, key: str) -> Any:
        try:
            return _typed(kind, value)
        except _Mismatch as exc:
            raise self.error(f"{label} = {_show(key, value)}: expected {exc.expected}") from None

    def _array(self, item: type[Any], key: str, where: str, value: Any) -> tuple[Any, ...]:
        if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
            raise self.error(f"{self.source.origin}: {_label(where, key)} = {_show(key, value)}: "
                             f"expected an array of tables ([[{key}]])")
        return tuple(self.build(item, (), f"[[{key}]] #{n}", entry, use_env=False)
                     for n, entry in enumerate(value, 1))

    def _override(self, kind: Any, key: str, where: str, value: Any) -> Any:
        item = _tuple_item(kind)
        if _dataclass_type(kind) and isinstance(value, kind):
            return value
        if _dataclass_type(item) and isinstance(value, list | tuple) and all(
                isinstance(v, item) for v in value):
            return tuple(value)
        if _dataclass_type(kind) or _dataclass_type(item):
            raise self.error(f"command line: {_label(where, key)}: expected {_expected(kind)}")
        return self._check(kind, value, f"command line: {_label(where, key)}", key)

    def _unknown(self, origin: str, where: str, key: str, known: Mapping[str, Any]) -> None:
        raise self.error(f"{origin}: {_label(where, key)}: unknown key; {where or 'the top table'} takes "
                         f"{', '.join(known)}")


def load_table(cls: type[T], source: SettingsSource, table: tuple[str, ...], error: type[SettingsError],
               *, overrides: Mapping[str, Any] | None = None, defaults: Mapping[str, Any] | None = None,
               skip: Collection[str] = ()) -> T:
    """``cls`` from ``[table]`` of the source's file (the top level for ``()``), its environment
    variables and ``overrides``; ``defaults`` replace the dataclass's own (computed defaults);
    ``skip``: keys of that level read by someone else (the other tables, for the top level)."""
    in_file: Any = source.document
    for depth, name in enumerate(table, 1):
        in_file = in_file.get(name, {})
        if not isinstance(in_file, Mapping):
            raise error(f"{source.origin}: [{'.'.join(table[:depth])}] must be a table")
    where = f"[{'.'.join(table)}]" if table else ""
    return _Table(source, error).build(cls, table, where, in_file, overrides=overrides, defaults=defaults,
                                       skip=skip)


def env_names(cls: type[Any], table: tuple[str, ...] = ()) -> dict[str, str]:
    """Every environment variable ``cls`` reads in ``[table]``, with the key it sets (for docs, tests)."""
    out: dict[str, str] = {}
    hints = _hints(cls)
    where = f"[{'.'.join(table)}] " if table else ""
    for f in fields(cls):
        kind = hints[f.name]
        if _dataclass_type(kind):
            out.update(env_names(kind, (*table, f.name)))
        elif not _dataclass_type(_tuple_item(kind)):
            out[_env_var(f, table)] = where + f.name
    return out


__all__ = ["env_names", "load_table"]
