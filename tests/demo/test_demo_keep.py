"""``--keep`` cannot keep the sandbox up without a terminal: it says so and names the value in effect."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from connector.demo import KEEP_ENV, _keep_running


@pytest.mark.parametrize("flag,env", [(30.0, None), (None, "45")])
def test_keep_without_a_terminal_warns_with_the_effective_value(monkeypatch: pytest.MonkeyPatch,
                                                                flag: float | None, env: str | None) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO())  # not a terminal, as in CI or a pipe
    if env is None:
        monkeypatch.delenv(KEEP_ENV, raising=False)
    else:
        monkeypatch.setenv(KEEP_ENV, env)
    console = Console(record=True, width=200)
    _keep_running(console, flag)
    text = console.export_text()
    assert f"--keep {flag or float(env or 0):g} has no effect without a terminal" in text
    assert "effective --keep 0" in text


def test_default_keep_without_a_terminal_is_silent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO())
    monkeypatch.delenv(KEEP_ENV, raising=False)
    console = Console(record=True)
    _keep_running(console, None)
    assert console.export_text() == ""
