import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # normalise.py, importable by the tests here


import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def _no_heartbeat(monkeypatch: pytest.MonkeyPatch) -> None:
    # A slow machine would add heartbeat lines (stresskit/report/heartbeat.py) to the console
    # goldens: their timing is not part of the recorded output.
    monkeypatch.setenv("STRESSKIT_HEARTBEAT_S", "0")
