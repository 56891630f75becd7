"""eSpeak NG's voices: the English accents, the voice variants (``!v``), new variants
recombined from them, and a private data folder that holds those.

A speaker of the corpus is an accent plus a variant: ``"en-us+m3"``.

No TensorFlow here.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Sequence

import numpy as np

from ..infra.atomic import replace_folder
from ..infra.errors import ParameterError
from .espeak import installed_paths

__all__ = ["VARIANT_GROUPS", "espeak_data_with_variants", "list_english_voices", "list_voice_variants",
           "mix_voice_variants"]

#: Tag of the random stream ``(seed, tag, index)`` that makes mixed voice ``index``.
_TAG_MIXED_VOICE = 7003


def _data_folder(data_path: str | os.PathLike | None) -> Path:
    return Path(data_path or installed_paths()[1])


def list_voice_variants(data_path: str | os.PathLike | None = None) -> list[str]:
    """Names of the voice variants in ``espeak-ng-data/voices/!v`` (sorted), e.g. ``["Alex", ..., "m3", ...]``.

    A variant is appended to a language voice with ``+``: ``"en-us+m3"``.
    """
    data_path = _data_folder(data_path)
    folder = data_path / "voices" / "!v"
    return sorted(p.name for p in folder.iterdir() if p.is_file() and "+" not in p.name)


def list_english_voices(data_path: str | os.PathLike | None = None) -> list[str]:
    """English voice (accent) names found in ``espeak-ng-data/lang/gmw``, lower-cased and sorted.

    Typically ``en`` (British), ``en-029``, ``en-gb-scotland``, ``en-gb-x-gbclan``,
    ``en-gb-x-gbcwmd``, ``en-gb-x-rp``, ``en-us``, ``en-us-nyc``. ``en-Shaw`` (Shavian
    script) is left out: it expects another writing system.
    """
    data_path = _data_folder(data_path)
    names = [p.name.lower() for p in (data_path / "lang" / "gmw").iterdir() if p.is_file()]
    return sorted(n for n in names if (n == "en" or n.startswith("en-")) and n != "en-shaw")


#: Lines of a voice variant file (by first word) that a mixed voice takes from one donor, per
#: group. Pitch and gender travel with the formants, so a voice keeps a plausible pitch for
#: its vocal tract.
VARIANT_GROUPS = {
    "formants": ("formant", "pitch", "gender"),
    "tone": ("tone",),
    "echo": ("echo",),
    "source": ("voicing", "consonants", "klatt"),
    "noise": ("flutter", "roughness", "breath", "breathw"),
}


def _variant_lines(data_path: Path, variant: str) -> dict[str, list[str]]:
    """The lines of ``voices/!v/<variant>`` per group of :data:`VARIANT_GROUPS` (comments dropped)."""
    groups: dict[str, list[str]] = {g: [] for g in VARIANT_GROUPS}
    for line in (data_path / "voices" / "!v" / variant).read_text(encoding="utf-8", errors="replace").splitlines():
        words = line.split("//")[0].split()
        for group, keys in VARIANT_GROUPS.items():
            if words and words[0] in keys:
                groups[group].append(" ".join(words))
    return groups


def mix_voice_variants(donors: Sequence[str], n: int, seed: int,
                       data_path: str | os.PathLike | None = None) -> dict[str, str]:
    """New eSpeak voice variants recombined from ``donors`` (more speakers for training).

    Each mixed voice takes its formants (with pitch and gender), equalizer (``tone``),
    ``echo``, voice source (voicing, consonants, Klatt) and source noise (flutter,
    roughness, breath) from independently drawn donors, then scales every formant
    frequency by one factor in 0.92-1.08 (vocal tract length) times its own in 0.96-1.04.
    Only ``donors`` are read, so held-out variants stay unheard.

    Args:
        donors: variant names in ``voices/!v`` (e.g. the train split's).
        n: voices to make, named ``mix0000``, ``mix0001``, ...
        seed: with the donors, fixes every voice.
    Returns:
        ``{name: variant file text}``; see :func:`espeak_data_with_variants`.
    """
    data_path = _data_folder(data_path)
    donors = sorted(donors)
    if not donors:
        raise ParameterError("donors: mixing voices needs at least one donor variant")
    if n <= 0:
        return {}
    lines = {d: _variant_lines(data_path, d) for d in donors}
    voices = {}
    for i in range(n):
        rng = np.random.default_rng([seed, _TAG_MIXED_VOICE, i])
        name = f"mix{i:04d}"
        out = ["language variant", f"name {name}"]
        tract = rng.uniform(0.92, 1.08)
        for group in VARIANT_GROUPS:
            donor = donors[int(rng.integers(len(donors)))]
            for line in lines[donor][group]:
                words = line.split()
                if words[0] == "formant" and len(words) >= 3:
                    words[2] = str(max(1, round(float(words[2]) * tract * rng.uniform(0.96, 1.04))))
                out.append(" ".join(words))
        voices[name] = "\n".join(out) + "\n"
    return voices


_ESPEAK_MAX_VOICES = 349  # N_VOICES_LIST - 1 in libespeak-ng 1.52: voices beyond it are dropped silently


def espeak_data_with_variants(target: str | os.PathLike, variants: dict[str, str],
                              data_path: str | os.PathLike | None = None) -> Path:
    """An ``espeak-ng-data`` folder at ``target`` that also holds ``variants`` in ``voices/!v``.

    Everything else links to the installed data (a few kB on disk), except that ``lang``
    keeps only ``gmw`` (West Germanic, which holds the English voices): eSpeak lists at
    most 349 voices and silently drops the rest, and the other languages' 128 files would
    leave room for only about 100 mixed voices. Rebuilt when its variants differ from
    ``variants``; returns the folder, for :class:`ESpeakSynthesizer`.

    Raises:
        ParameterError: more voices than eSpeak can list, or a name of an installed variant.
    """
    source, target = _data_folder(data_path).resolve(), Path(target)
    manifest = json.dumps({"source": str(source), "variants": variants}, sort_keys=True)
    if (target / "mixed_voices.json").exists() and (target / "mixed_voices.json").read_text() == manifest:
        return target
    staging = target.with_name(target.name + f".tmp{os.getpid()}")
    if staging.exists():
        shutil.rmtree(staging)
    listed = sum(1 for _ in (source / "lang" / "gmw").rglob("*") if _.is_file())
    listed += sum(1 for _ in (source / "voices").rglob("*") if _.is_file()) + len(variants)
    if listed > _ESPEAK_MAX_VOICES:
        raise ParameterError(f"mixed_voices: {len(variants)} mixed voices make {listed} eSpeak voices; it lists at most "
                         f"{_ESPEAK_MAX_VOICES} (use at most {len(variants) - listed + _ESPEAK_MAX_VOICES})")
    clash = sorted(set(variants) & {p.name for p in (source / "voices" / "!v").iterdir()})
    if clash:
        raise ParameterError(f"variants: mixed voice {clash[0]!r} would replace an installed variant")
    (staging / "voices" / "!v").mkdir(parents=True)
    (staging / "lang").mkdir()
    (staging / "lang" / "gmw").symlink_to(source / "lang" / "gmw")
    for entry in source.iterdir():
        if entry.name not in ("voices", "lang"):
            (staging / entry.name).symlink_to(entry)
    for entry in (source / "voices").iterdir():
        if entry.name != "!v":
            (staging / "voices" / entry.name).symlink_to(entry)
    for entry in (source / "voices" / "!v").iterdir():
        (staging / "voices" / "!v" / entry.name).symlink_to(entry)
    for name, text in variants.items():
        (staging / "voices" / "!v" / name).write_text(text, encoding="utf-8")
    (staging / "mixed_voices.json").write_text(manifest)
    return replace_folder(staging, target)  # the old folder stays whole until the new one is in place
