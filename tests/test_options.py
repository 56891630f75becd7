"""The options base class: one place for defaults, checked values, JSON and CLI forms."""
from __future__ import annotations

import argparse
import dataclasses  # noqa: E402
from typing import Literal

import pytest

from deepspeech_audio_features import ParameterError
from deepspeech_audio_features.infra.options import Options, check_range, option


@dataclasses.dataclass(frozen=True)
class Toy(Options):
    steps: int = option(300, "optimization steps")
    rate: float = option(0.1, "learning rate")
    lam: tuple[float, float] = option((0.3, 3.0), "sparsity weight (start, end)")
    variant: Literal["time", "time-frequency"] = option("time-frequency", "mask shape")
    passes: int | None = option(None, "prune passes (none: until 1-minimal)")
    verbose: bool = option(False, "print more")
    internal: int = 7  # no help text: not on the command line

    def validate(self) -> None:
        check_range("steps", self.steps, 0)
        check_range("rate", self.rate, 0, low_open=True)


def test_json_round_trip_and_tuples():
    toy = Toy.from_dict({"steps": 20, "lam": [1, 2], "passes": None})
    assert toy.lam == (1.0, 2.0) and toy.steps == 20 and toy.passes is None
    assert Toy.from_dict(toy.to_dict()) == toy
    assert toy.to_dict()["lam"] == [1.0, 2.0]


@pytest.mark.parametrize("values, word", [
    ({"stepz": 3}, "stepz"), ({"steps": -1}, "steps"), ({"steps": "3"}, "steps"), ({"steps": 2.5}, "steps"),
    ({"rate": float("nan")}, "rate"), ({"rate": 0}, "rate"), ({"lam": [1]}, "lam"), ({"variant": "freq"}, "variant"),
    ({"verbose": 1}, "verbose"), ({"steps": True}, "steps"),
])
def test_bad_values_name_the_option(values, word):
    with pytest.raises(ParameterError, match=word):
        Toy.from_dict(values, source="mask.json")


@pytest.mark.parametrize("value", ["no", 1, None, 0.0])
def test_a_flag_made_in_python_must_be_a_bool(value):
    """Toy(verbose="no") would otherwise be truthy and silently mean True."""
    with pytest.raises(ParameterError, match="verbose: expected True or False"):
        Toy(verbose=value)
    assert Toy(verbose=True).verbose is True and Toy().replace(verbose=True).verbose is True


def test_command_line_keeps_the_base_and_shows_defaults():
    parser = argparse.ArgumentParser()
    Toy.add_arguments(parser)
    assert "--internal" not in parser.format_help()
    assert "(default: 300)" in parser.format_help() and "(default: 0.3 3.0)" in parser.format_help()
    base = Toy.from_dict({"steps": 50})
    args = parser.parse_args(["--rate", "0.5", "--lam", "1", "4", "--verbose", "--passes", "none"])
    toy = Toy.from_args(args, base)
    assert (toy.steps, toy.rate, toy.lam, toy.verbose, toy.passes) == (50, 0.5, (1.0, 4.0), True, None)
    with pytest.raises(SystemExit):
        parser.parse_args(["--variant", "freq"])


def test_replace_checks_again():
    with pytest.raises(ParameterError, match="steps"):
        Toy().replace(steps=-5)
    with pytest.raises(ParameterError, match="nope"):
        Toy().replace(nope=1)


def test_resolve_applies_keywords_and_refuses_other_objects():
    assert Toy.resolve(None, {}) == Toy()
    assert Toy.resolve(Toy(steps=5), {"rate": 0.5}) == Toy(steps=5, rate=0.5)
    with pytest.raises(ParameterError, match="expected Toy"):
        Toy.resolve(300, {})  # e.g. steps passed positionally where options go
    with pytest.raises(ParameterError, match="stepz"):
        Toy.resolve(None, {"stepz": 1})
