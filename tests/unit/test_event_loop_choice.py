"""The long-running commands run on uvloop's event loop unless told otherwise (cli/loop.py); a choice
they do not know stops them at once with a clear error."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import pytest
import uvloop

from callrec_ari.cli.loop import EventLoopChoiceError, loop_factory, run


def test_uvloop_by_default_and_asyncio_when_asked() -> None:
    assert loop_factory({}) is uvloop.new_event_loop
    assert loop_factory({"CALLREC_EVENT_LOOP": "uvloop"}) is uvloop.new_event_loop
    assert loop_factory({"CALLREC_EVENT_LOOP": "asyncio"}) is None


def test_a_choice_it_does_not_know_is_refused() -> None:
    with pytest.raises(EventLoopChoiceError, match="'tokio': expected 'uvloop' or 'asyncio'"):
        loop_factory({"CALLREC_EVENT_LOOP": "tokio"})


def test_the_coroutine_runs_on_the_chosen_loop() -> None:
    async def which() -> str:
        return type(asyncio.get_running_loop()).__module__

    assert run(which(), loop_factory({})).startswith("uvloop")
    assert run(which(), loop_factory({"CALLREC_EVENT_LOOP": "asyncio"})).startswith("asyncio")


@pytest.mark.parametrize("command", [["run"], ["deliver", "--no-migrate", "--once"]])
def test_the_commands_stop_with_a_clear_error_on_a_choice_they_do_not_know(command: list[str]) -> None:
    done = subprocess.run([sys.executable, "-m", "callrec_ari", *command], capture_output=True, text=True,
                          env={**os.environ, "CALLREC_EVENT_LOOP": "tokio"}, timeout=60)
    assert done.returncode == 2
    assert "CALLREC_EVENT_LOOP = 'tokio': expected 'uvloop' or 'asyncio'" in done.stderr
