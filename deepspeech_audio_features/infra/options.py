"""Options dataclasses: each method's settings, with their defaults written once.

A method's options class (masks, feature visualization, search, training) derives from
:class:`Options`. The same object is what the Python API takes, what an experiment's JSON
file is read into (:meth:`Options.from_dict`), what the command line builds
(:meth:`Options.add_arguments` / :meth:`Options.from_args`) and what the batch and Dask
paths send to workers (:meth:`Options.to_dict`). Values are checked when the object is
made, so a bad value fails at once with :class:`ParameterError` naming the option.

Fields carry their help text as ``field(default=..., metadata={"help": "..."})``; a field
with help is offered on the command line as ``--field-name``.
"""
from __future__ import annotations

import argparse
import dataclasses
import functools
import math
import types
import typing
from typing import Any, Mapping, Sequence, TypeVar

from .errors import ParameterError

T = TypeVar("T", bound="Options")


def option(default: Any, help: str | None = None, **metadata: Any) -> Any:
    """A dataclass field with its help text (shown by ``--help``, with the default)."""
    if isinstance(default, (list, dict, set)):
        raise TypeError("use a tuple (immutable) as an option's default")
    return dataclasses.field(default=default, metadata={"help": help, **metadata})


def check_range(name: str, value: float, low: float | None = None, high: float | None = None,
                low_open: bool = False, high_open: bool = False) -> None:
    """ParameterError unless ``value`` is a finite number within the bounds."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ParameterError(f"{name}: expected a finite number, got {value!r}")
    if low is not None and (value < low or (low_open and value == low)):
        raise ParameterError(f"{name}: must be {'>' if low_open else '>='} {low}, got {value!r}")
    if high is not None and (value > high or (high_open and value == high)):
        raise ParameterError(f"{name}: must be {'<' if high_open else '<='} {high}, got {value!r}")


def check_int(name: str, value: Any, low: int | None = None) -> None:
    """ParameterError unless ``value`` is an integer (not a bool) and ``>= low``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ParameterError(f"{name}: expected an integer, got {value!r}")
    if low is not None and value < low:
        raise ParameterError(f"{name}: must be >= {low}, got {value!r}")


def check_choice(name: str, value: Any, choices: Sequence[Any]) -> None:
    """ParameterError unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise ParameterError(f"{name}: must be one of {', '.join(map(str, choices))}; got {value!r}")


@dataclasses.dataclass(frozen=True)
class Options:
    """Base class: defaults once, validation on creation, JSON and command-line forms."""

    def __post_init__(self) -> None:
        for name, optional in _bool_fields(type(self)):  # a truthy string is not True
            value = getattr(self, name)
            if not isinstance(value, bool) and not (optional and value is None):
                raise ParameterError(f"{name}: expected True or False, got {value!r}")
        self.validate()

    def validate(self) -> None:
        """Raise :class:`ParameterError` for a bad value (subclasses check their fields)."""

    @classmethod
    def resolve(cls: type[T], options: T | None, overrides: Mapping[str, Any]) -> T:
        """What a method runs with: ``options`` (default: the class defaults) with
        ``overrides`` (field names given as keywords) applied; anything else is an error."""
        if options is not None and not isinstance(options, cls):
            raise ParameterError(f"options: expected {cls.__name__}, got {type(options).__name__} "
                                 "(pass single options as keywords, e.g. steps=100)")
        options = options if options is not None else cls()
        return options.replace(**overrides) if overrides else options

    # ------------------------------------------------------------------ dict / JSON
    @classmethod
    def from_dict(cls: type[T], values: Mapping[str, Any], source: str = "options",
                  ignore: Sequence[str] = ()) -> T:
        """Options from a mapping such as an experiment's JSON; keys in ``ignore`` are
        skipped, any other unknown key is an error (a typo must not pass silently)."""
        if not isinstance(values, Mapping):
            raise ParameterError(f"{source}: expected an object of options, got {type(values).__name__}")
        hints = typing.get_type_hints(cls)
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(values) - set(names) - set(ignore))
        if unknown:
            raise ParameterError(f"{source}: unknown option(s) {', '.join(unknown)} (known: {', '.join(names)})")
        return cls(**{name: _coerce(f"{source}: {name}", values[name], hints[name]) for name in names
                      if name in values})

    def to_dict(self) -> dict[str, Any]:
        """The options as JSON-ready values (tuples become lists)."""
        return {f.name: _jsonable(getattr(self, f.name)) for f in dataclasses.fields(self)}

    def replace(self: T, **changes: Any) -> T:
        """A copy with ``changes`` (checked like a new object)."""
        hints = typing.get_type_hints(type(self))
        unknown = sorted(set(changes) - set(hints))
        if unknown:
            raise ParameterError(f"unknown option(s) {', '.join(unknown)} for {type(self).__name__}")
        return dataclasses.replace(self, **{k: _coerce(k, v, hints[k]) for k, v in changes.items()})

    # ------------------------------------------------------------------ command line
    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser, exclude: Sequence[str] = ()) -> None:
        """Add ``--field-name`` for every field with help text (not in ``exclude``).

        Arguments default to None ("not given"), so :meth:`from_args` keeps the values
        of the options it starts from; the help shows the class's default.
        """
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            help_text = f.metadata.get("help")
            if help_text is None or f.name in exclude:
                continue
            flag = "--" + f.name.replace("_", "-")
            base, optional = _unwrap(hints[f.name])
            default = _jsonable(f.default) if f.default is not None else "none"
            text = f"{help_text} (default: {default if not isinstance(default, list) else ' '.join(map(str, default))})"
            if base is bool:
                parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=text)
            elif typing.get_origin(base) is tuple:
                item = typing.get_args(base)[0]
                count = len(typing.get_args(base)) if Ellipsis not in typing.get_args(base) else "+"
                parser.add_argument(flag, type=item, nargs=count, default=None, metavar=f.name.upper(), help=text)
            elif typing.get_origin(base) is typing.Literal:
                choices = typing.get_args(base)
                parser.add_argument(flag, choices=choices, default=None, help=text)
            else:
                parser.add_argument(flag, type=_cli_type(base, optional), default=None, help=text)

    @classmethod
    def from_args(cls: type[T], args: argparse.Namespace, base: T | None = None) -> T:
        """``base`` (default: the class defaults) with the options given on the command line."""
        base = base if base is not None else cls()
        given = {f.name: getattr(args, f.name) for f in dataclasses.fields(cls)
                 if getattr(args, f.name, None) is not None}
        return base.replace(**given)


@functools.cache
def _bool_fields(cls: type) -> tuple[tuple[str, bool], ...]:
    """``(name, optional)`` of the fields of ``cls`` typed ``bool`` or ``bool | None`` (hints resolved once per class)."""
    hints = typing.get_type_hints(cls)
    return tuple((f.name, optional) for f in dataclasses.fields(cls)
                 for base, optional in [_unwrap(hints[f.name])] if base is bool)


def _unwrap(hint: Any) -> tuple[Any, bool]:
    """``(X, True)`` for ``X | None``, else ``(hint, False)``."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return hint, False


def _cli_type(base: Any, optional: bool):
    def parse(text: str):
        if optional and text.lower() in ("none", "off"):
            return "none"
        return base(text)
    parse.__name__ = getattr(base, "__name__", "value")
    return parse


def _coerce(name: str, value: Any, hint: Any) -> Any:
    """``value`` as the field's type; JSON lists become tuples. Wrong types are errors."""
    base, optional = _unwrap(hint)
    if value is None or (optional and value == "none"):
        if optional:
            return None
        raise ParameterError(f"{name}: a value is required, got None")
    origin = typing.get_origin(base)
    if origin is tuple:
        args = typing.get_args(base)
        if not isinstance(value, (list, tuple)):
            raise ParameterError(f"{name}: expected a list, got {value!r}")
        if Ellipsis not in args and len(value) != len(args):
            raise ParameterError(f"{name}: expected {len(args)} values, got {len(value)}")
        item = args[0]
        return tuple(_coerce(name, v, item) for v in value)
    if origin is typing.Literal:
        check_choice(name, value, typing.get_args(base))
        return value
    if base is bool:
        if not isinstance(value, bool):
            raise ParameterError(f"{name}: expected true or false, got {value!r}")
        return value
    if base is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise ParameterError(f"{name}: expected an integer, got {value!r}")
        return value
    if base is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ParameterError(f"{name}: expected a number, got {value!r}")
        return float(value)
    if base is str:
        if not isinstance(value, str):
            raise ParameterError(f"{name}: expected a string, got {value!r}")
        return value
    return value


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    return value
