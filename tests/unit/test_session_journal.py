"""When the call's executor writes the journal (calls/session.py ``_observe``): at every change a
restarted app needs, not at a notice playback's end. A restarted app asks Asterisk which of the
playbacks the journal names still play (calls/reconcile.py), so a finished one left in the entry costs
one question then, where writing it away cost a journal write per sound on every call."""

from __future__ import annotations

from dataclasses import replace

from callrec_ari.ari.client import AriClient, AriSettings
from callrec_ari.calls.flow_state import Flow
from callrec_ari.calls.journal import JournalEntry
from callrec_ari.calls.session import CallSession
from callrec_ari.calls.state import CallState
from tests.support.flow import recorded_outgoing

CALL = "20261203T160000-0badcafe"
SETUP = recorded_outgoing(CALL, "caller-1")


def test_a_playbacks_start_is_written_its_end_is_not() -> None:
    written: list[JournalEntry] = []
    ari = AriClient(AriSettings("http://127.0.0.1:9/ari", "callrec", "callrec"))
    call = CallSession(SETUP.plan, "caller-1", ari, {}, claim=lambda _id: None, journal=written.append)
    connecting = Flow(phase=CallState.CONNECTING)
    notice = replace(connecting, phase=CallState.NOTICE, playbacks=frozenset({"n-1", "n-2"}))
    call.flow = notice
    call._observe(connecting, notice)
    assert [e.playbacks for e in written] == [("n-1", "n-2")]
    one_done = replace(notice, playbacks=frozenset({"n-2"}))
    call.flow = one_done
    call._observe(notice, one_done)
    assert len(written) == 1  # a playback's end: nothing written
    another = replace(one_done, playbacks=frozenset({"n-2", "n-3"}))  # the tone after (an adopted call)
    call.flow = another
    call._observe(one_done, another)
    assert [e.playbacks for e in written][-1] == ("n-2", "n-3")
    talking = replace(another, phase=CallState.TALKING, playbacks=frozenset())
    call.flow = talking
    call._observe(another, talking)
    assert written[-1].state == "talking" and written[-1].playbacks == ()


def test_ringing_and_ended_alone_are_not_written_anything_new_with_them_is() -> None:
    """A restarted app takes RINGING as DIALING and ENDED as ENDING (calls/recovery.py, reconcile.py):
    moving there with nothing else new writes nothing; a change of anything else still does."""
    written: list[JournalEntry] = []
    ari = AriClient(AriSettings("http://127.0.0.1:9/ari", "callrec", "callrec"))
    call = CallSession(SETUP.plan, "caller-1", ari, {}, claim=lambda _id: None, journal=written.append)
    dialing = Flow(phase=CallState.DIALING)
    ringing = replace(dialing, phase=CallState.RINGING)
    call.flow = ringing
    call._observe(dialing, ringing)
    assert written == []
    ending = replace(ringing, phase=CallState.ENDING,
                     times=replace(ringing.times, ended=ringing.times.started))
    call.flow = ending
    call._observe(ringing, ending)
    assert [e.state for e in written] == ["ending"]
    ended = replace(ending, phase=CallState.ENDED)
    call.flow = ended
    call._observe(ending, ended)
    assert [e.state for e in written] == ["ending"]
    # RINGING reached with something new (an adopted call's times): written.
    stamped = replace(dialing, phase=CallState.RINGING,
                      times=replace(dialing.times, answered=dialing.times.started))
    call.flow = stamped
    call._observe(dialing, stamped)
    assert [e.state for e in written] == ["ending", "ringing"]
