import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(__file__))  # for tests/reference.py

import numpy as np
import pytest


@pytest.fixture
def speechlike():
    """2 s of a 16 kHz harmonic tone with vibrato and noise, float32 in [-1, 1]."""
    rng = np.random.default_rng(0)
    t = np.arange(32000) / 16000
    f0 = 140 + 20 * np.sin(2 * np.pi * 3 * t)
    phase = 2 * np.pi * np.cumsum(f0) / 16000
    x = sum(0.2 / k * np.sin(k * phase) for k in range(1, 12)) * (0.6 + 0.4 * np.sin(2 * np.pi * 2 * t))
    return (x + 0.01 * rng.standard_normal(t.shape)).astype(np.float32)


def require_flite() -> None:
    """Skip without flite, except on CI (which installs it: make engines) where a skip would hide a break."""
    import shutil

    if not (shutil.which("flite") and shutil.which("t2p")):
        if os.environ.get("CI"):
            pytest.fail("flite is not installed on the CI machine (make engines installs it)")
        pytest.skip("flite is not installed (make engines, or apt-get install -y flite)")
