"""libespeak-ng driven through ``ctypes``: :class:`ESpeakSynthesizer`.

The library and its data come from the ``espeakng-loader`` wheel (no system package).
Values below are those of espeak-ng's ``speak_lib.h``, API revision 12.

Alignments: the library is initialized with ``espeakINITIALIZE_PHONEME_EVENTS``, so the
synth callback also receives word events (type 1: ``text_position``, ``length``) and
phoneme events (type 7: the mnemonic in ``id``), each with ``sample``, its start in
samples at :attr:`ESpeakSynthesizer.native_rate` from the start of the utterance;
:meth:`ESpeakSynthesizer.synthesize_native_aligned` returns them as :class:`SpeechEvent`.
The events do not change the audio.

Determinism: libespeak-ng keeps pitch-flutter phase, gain control and filter states in
static variables that survive re-initialization, so the same text synthesized twice in
one process differs. :meth:`ESpeakSynthesizer.synthesize_native` therefore speaks in a
freshly forked child by default, and seeds eSpeak's noise generators per utterance.

No TensorFlow here.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import json
import os
import signal
import struct
import threading
from typing import NamedTuple

import numpy as np
import soxr

from ..infra.errors import ESpeakError
from ..speech.frames import SAMPLE_RATE

__all__ = ["ESpeakError", "ESpeakSynthesizer", "RATE_MAX", "RATE_MIN", "SpeechEvent", "installed_paths"]

AUDIO_OUTPUT_SYNCHRONOUS = 2  # espeak_AUDIO_OUTPUT: like RETRIEVAL, but Synth returns when done
POS_CHARACTER = 1  # espeak_POSITION_TYPE
espeakCHARS_UTF8 = 1
espeakINITIALIZE_PHONEME_EVENTS = 0x0001
EVENT_LIST_TERMINATED, EVENT_WORD, EVENT_PHONEME = 0, 1, 7  # espeak_EVENT_TYPE
EE_OK = 0
espeakRATE, espeakVOLUME, espeakPITCH, espeakRANGE, espeakWORDGAP = 1, 2, 3, 4, 7
RATE_MIN, RATE_MAX = 80, 450  # espeakRATE_MINIMUM / _MAXIMUM, words per minute

# int SynthCallback(short *wav, int numsamples, espeak_EVENT *events); 0 = continue
_SYNTH_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    """``espeak_EVENT`` of speak_lib.h."""

    _fields_ = [("type", ctypes.c_int), ("unique_identifier", ctypes.c_uint), ("text_position", ctypes.c_int),
                ("length", ctypes.c_int), ("audio_position", ctypes.c_int), ("sample", ctypes.c_int),
                ("user_data", ctypes.c_void_p), ("id", _EventId)]


class SpeechEvent(NamedTuple):
    """A word or phoneme that eSpeak started speaking.

    ``kind`` is ``"word"`` or ``"phoneme"``; ``sample`` its start in samples at the native
    rate from the start of the utterance. A word has ``text_start`` (0-based character
    index into the text) and ``text_length``; a phoneme has ``name``, eSpeak's mnemonic
    with its stress mark (``"'E"``, ``"@2"``, ``"_:"``).
    """

    kind: str
    sample: int
    text_start: int = 0
    text_length: int = 0
    name: str = ""




def installed_paths() -> tuple[str, str]:
    """``(libespeak-ng path, espeak-ng-data folder)`` of the ``espeakng-loader`` wheel."""
    import espeakng_loader  # imported here: only processes that synthesize need it

    return espeakng_loader.get_library_path(), espeakng_loader.get_data_path()


class ESpeakSynthesizer:
    """libespeak-ng driven through ``ctypes``; one instance per process.

    The library keeps global state, so constructing this class again in the same
    process returns the same object (a forked child gets its own copy of the state).
    Calls are serialized with a lock.

    Attributes:
        native_rate: the rate eSpeak synthesizes at, in Hz (22050 for these voices).
        version: the libespeak-ng version string, e.g. ``"1.52.0"``.
        data_path: the ``espeak-ng-data`` folder in use.
    """

    _instance: "ESpeakSynthesizer | None" = None
    _instance_pid: int | None = None
    _instance_lock = threading.Lock()

    def __new__(cls, library_path: str | None = None, data_path: str | None = None):
        with cls._instance_lock:
            if cls._instance is None or cls._instance_pid != os.getpid():
                obj = super().__new__(cls)
                obj._initialize(library_path, data_path)
                cls._instance, cls._instance_pid = obj, os.getpid()
            elif data_path is not None and os.path.abspath(data_path) != cls._instance.data_path:
                raise ESpeakError(
                    f"libespeak-ng is already initialized with {cls._instance.data_path} in this process"
                )
            return cls._instance

    def _initialize(self, library_path: str | None, data_path: str | None) -> None:
        if library_path is None or data_path is None:
            default_lib, default_data = installed_paths()
            library_path, data_path = library_path or default_lib, data_path or default_data
        self.data_path = os.path.abspath(data_path)
        try:
            lib = ctypes.CDLL(library_path)
        except OSError as err:
            raise ESpeakError(f"cannot load libespeak-ng from {library_path}: {err}") from None
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_SetSynthCallback.argtypes = [_SYNTH_CALLBACK]
        lib.espeak_SetSynthCallback.restype = None
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_SetParameter.restype = ctypes.c_int
        lib.espeak_Synth.argtypes = [
            ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
            ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p,
        ]
        lib.espeak_Synth.restype = ctypes.c_int
        lib.espeak_Synchronize.argtypes = []
        lib.espeak_Synchronize.restype = ctypes.c_int
        lib.espeak_TextToPhonemes.argtypes = [ctypes.POINTER(ctypes.c_char_p), ctypes.c_int, ctypes.c_int]
        lib.espeak_TextToPhonemes.restype = ctypes.c_char_p
        lib.espeak_Info.argtypes = [ctypes.POINTER(ctypes.c_char_p)]
        lib.espeak_Info.restype = ctypes.c_char_p
        # Breath and consonant noise use eSpeak's own generator and libc rand(): both are
        # seeded before every utterance so a seed fixes the audio.
        self._set_rand_seed = getattr(lib, "espeak_ng_SetRandSeed", None)
        if self._set_rand_seed is not None:
            self._set_rand_seed.argtypes = [ctypes.c_long]
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None)
        self._srand = libc.srand
        self._srand.argtypes = [ctypes.c_uint]
        self._srand.restype = None

        rate = lib.espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, self.data_path.encode(), espeakINITIALIZE_PHONEME_EVENTS)
        if rate <= 0:
            raise ESpeakError(f"espeak_Initialize failed with data at {self.data_path}")
        self.native_rate: int = rate
        self.version: str = lib.espeak_Info(None).decode()
        self._lib = lib
        self._chunks: list[bytes] = []
        self._events: list[SpeechEvent] = []
        self._callback = _SYNTH_CALLBACK(self._on_audio)  # kept alive: the library holds the pointer
        lib.espeak_SetSynthCallback(self._callback)
        self._lock = threading.Lock()
        self._voice: str | None = None

    def _on_audio(self, wav, numsamples, events) -> int:
        if wav and numsamples > 0:
            self._chunks.append(ctypes.string_at(wav, numsamples * 2))
        if events:
            array = ctypes.cast(events, ctypes.POINTER(_Event))
            i = 0
            while array[i].type != EVENT_LIST_TERMINATED:
                event = array[i]
                if event.type == EVENT_WORD:  # text_position counts characters from 1
                    self._events.append(SpeechEvent("word", event.sample, event.text_position - 1, event.length))
                elif event.type == EVENT_PHONEME:
                    name = event.id.string.split(b"\0", 1)[0].decode("utf-8", "replace")
                    self._events.append(SpeechEvent("phoneme", event.sample, name=name))
                i += 1
        return 0

    def _set_voice(self, voice: str) -> None:
        if voice != self._voice:
            if self._lib.espeak_SetVoiceByName(voice.encode()) != EE_OK:
                raise ESpeakError(f"eSpeak has no voice {voice!r}")
            self._voice = voice

    def phonemes(self, text: str, voice: str = "en-us") -> str:
        """eSpeak's phoneme mnemonics for ``text`` (clauses joined by spaces), without speaking it."""
        with self._lock:
            self._set_voice(voice)
            ptr = ctypes.c_char_p(text.encode())
            out = []
            while ptr.value:  # the library advances ptr clause by clause, NULL at the end
                out.append(self._lib.espeak_TextToPhonemes(ctypes.byref(ptr), espeakCHARS_UTF8, 0).decode())
            return " ".join(out)

    def _speak(self, text: str, voice: str, rate: int, pitch: int, pitch_range: int,
               word_gap: int, volume: int, seed: int) -> tuple[bytes, list[SpeechEvent]]:
        lib = self._lib
        self._voice = None  # a voice change resets parameters: always select it again
        self._set_voice(voice)
        for param, value in ((espeakRATE, rate), (espeakVOLUME, volume), (espeakPITCH, pitch),
                             (espeakRANGE, pitch_range), (espeakWORDGAP, word_gap)):
            if lib.espeak_SetParameter(param, int(value), 0) != EE_OK:
                raise ESpeakError(f"espeak_SetParameter({param}, {value}) failed")
        if self._set_rand_seed is not None:
            self._set_rand_seed(int(seed))
        self._srand(int(seed) & 0xFFFFFFFF)
        data = text.encode("utf-8") + b"\0"
        self._chunks, self._events = [], []
        err = lib.espeak_Synth(data, len(data), 0, POS_CHARACTER, 0, espeakCHARS_UTF8, None, None)
        if err != EE_OK:
            raise ESpeakError(f"espeak_Synth failed with code {err} for {text!r}")
        lib.espeak_Synchronize()
        audio, events, self._chunks, self._events = b"".join(self._chunks), self._events, [], []
        return audio, events

    def _speak_isolated(self, *args) -> tuple[bytes, list[SpeechEvent]]:
        # A forked child starts from this process's state, so its output does not depend
        # on what was synthesized before (eSpeak's static pitch-flutter phase, AGC, ...).
        # Reply on the pipe: b"A" + audio bytes (8-byte count) + int16 samples + the events
        # as JSON, or b"E" + an error message.
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:  # child: speak, reply, leave without running Python cleanup
            try:
                os.close(read_fd)
                try:
                    audio, events = self._speak(*args)
                    reply = b"A" + struct.pack("<Q", len(audio)) + audio + json.dumps(events).encode()
                except BaseException as err:  # noqa: BLE001 - any failure goes back to the parent
                    reply = b"E" + f"{type(err).__name__}: {err}".encode("utf-8", "replace")
                with os.fdopen(write_fd, "wb") as pipe:
                    pipe.write(reply)
            finally:
                os._exit(0)
        os.close(write_fd)
        with os.fdopen(read_fd, "rb") as pipe:
            reply = pipe.read()
        _, status = os.waitpid(pid, 0)
        if reply[:1] == b"E":
            raise ESpeakError(reply[1:].decode("utf-8", "replace"))
        if status != 0 or reply[:1] != b"A":
            how = (f"crashed ({signal.Signals(os.WTERMSIG(status)).name})" if os.WIFSIGNALED(status)
                   else f"exited with status {os.WEXITSTATUS(status)}" if status else "gave no audio")
            raise ESpeakError(f"eSpeak {how} for {args[0]!r}")
        (n,) = struct.unpack("<Q", reply[1:9])
        return reply[9:9 + n], [SpeechEvent(*e) for e in json.loads(reply[9 + n:])]

    def synthesize_native(self, text: str, voice: str = "en-us", rate: int = 175, pitch: int = 50,
                          pitch_range: int = 50, word_gap: int = 0, volume: int = 100, seed: int = 0,
                          isolated: bool = True) -> np.ndarray:
        """Speak ``text``; returns int16 samples ``[N]`` at :attr:`native_rate`.

        The arguments are those of :meth:`synthesize_native_aligned`.
        """
        return self.synthesize_native_aligned(text, voice, rate, pitch, pitch_range, word_gap, volume, seed,
                                              isolated)[0]

    def synthesize_native_aligned(self, text: str, voice: str = "en-us", rate: int = 175, pitch: int = 50,
                                  pitch_range: int = 50, word_gap: int = 0, volume: int = 100, seed: int = 0,
                                  isolated: bool = True) -> tuple[np.ndarray, list[SpeechEvent]]:
        """Speak ``text``; returns int16 samples ``[N]`` at :attr:`native_rate` and the word and
        phoneme events in the order spoken (:class:`SpeechEvent`, samples at the native rate).

        Args:
            text: UTF-8 text (plain, no SSML).
            voice: an eSpeak voice name, optionally with a variant: ``"en-us+m3"``.
            rate: words per minute, 80-450 (175 normal).
            pitch: base pitch 0-100 (50 normal).
            pitch_range: pitch range 0-100 (0 monotone, 50 normal).
            word_gap: extra pause between words in units of 10 ms.
            volume: 0-200 (100 normal; eSpeak's own gain control avoids overflow).
            seed: seeds eSpeak's noise generators for this utterance.
            isolated: synthesize in a forked child (POSIX), so the result depends only on
                the arguments and not on earlier calls in this process. Without fork
                support it falls back to in-process synthesis.
        """
        args = (text, voice, int(np.clip(rate, RATE_MIN, RATE_MAX)), int(pitch), int(pitch_range),
                int(word_gap), int(volume), int(seed))
        with self._lock:
            raw, events = self._speak_isolated(*args) if isolated and hasattr(os, "fork") else self._speak(*args)
        return np.frombuffer(raw, dtype=np.int16).copy(), events

    def synthesize(self, text: str, voice: str = "en-us", rate: int = 175, pitch: int = 50,
                   pitch_range: int = 50, word_gap: int = 0, volume: int = 100, seed: int = 0,
                   speed: float = 1.0, isolated: bool = True) -> np.ndarray:
        """Speak ``text``; returns float32 samples ``[N]`` in [-1, 1) at 16 kHz.

        ``speed`` > 1 makes the speech faster and higher (resampling, like Kaldi's speed
        perturbation): the native audio is treated as if recorded at ``native_rate * speed``.
        The other arguments are those of :meth:`synthesize_native`.
        """
        pcm = self.synthesize_native(text, voice, rate, pitch, pitch_range, word_gap, volume, seed, isolated)
        return self.resample(pcm, speed)

    def resample(self, pcm: np.ndarray, speed: float = 1.0) -> np.ndarray:
        """int16 samples ``[N]`` at :attr:`native_rate` -> float32 ``[M]`` at 16 kHz, ``speed`` times
        faster (see :meth:`synthesize`): native sample ``n`` lands at ``n / (native_rate * speed)`` s."""
        audio = np.asarray(pcm).astype(np.float32) / 32768.0
        if audio.size == 0:
            return audio
        return soxr.resample(audio, self.native_rate * float(speed), SAMPLE_RATE, quality="HQ").astype(np.float32)
