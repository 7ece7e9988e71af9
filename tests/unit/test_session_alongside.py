"""On answer, the recording's recorder starts while the parties are being connected, not after
(calls/actions.py ``StartMedia.alongside``): the notice waits for the longer of the two, not their
sum (issue 15, answer to notice). The executor's order against an HTTP ARI that answers slowly."""

from __future__ import annotations

from callrec_ari.ari.client import AriClient, AriSettings
from callrec_ari.calls.actions import ActionFailed, AddToBridge, Answer, Mute, Note, StartMedia
from callrec_ari.calls.session import CallSession
from callrec_ari.media import parts_for_call
from tests.support.fake_ari import FakeAri
from tests.support.flow import recorded_outgoing

CALL = "20261202T090000-0a1a0a1a"
SEGMENT = f"callrec/{CALL}/{CALL}-001"


def batch(setup, alongside: bool = True) -> tuple:  # type: ignore[no-untyped-def]
    legs = setup.legs
    return (Mute(legs.callee), Answer(legs.caller), AddToBridge(legs.bridge, (legs.caller, legs.callee)),
            StartMedia("recording", SEGMENT, alongside=alongside), Note.info("after both"))


async def perform(fake: FakeAri, alongside: bool = True) -> tuple[ActionFailed | None, list[str]]:
    setup = recorded_outgoing(CALL, "caller-1")
    ari = AriClient(AriSettings(fake.url, "callrec", "callrec"))
    try:
        parts = parts_for_call(ari, setup.plan, setup.legs, "wav", None, engine="bridge")
        session = CallSession(setup.plan, "caller-1", ari, parts, claim=lambda _id: None)
        failed = await session._perform(batch(setup, alongside), tolerant=False)
    finally:
        await ari.close()
    return failed, [f"{r.method} {r.decoded_path}" for r in fake.requests]


def connect_replies(fake: FakeAri, answer: int = 204, record: int = 201) -> None:
    setup = recorded_outgoing(CALL, "caller-1")
    legs = setup.legs
    fake.reply("POST", f"/channels/{legs.callee}/mute", 204, delay=0.2)
    fake.reply("POST", f"/channels/{legs.caller}/answer", answer, delay=0.2)
    fake.reply("POST", f"/bridges/{legs.bridge}/addChannel", 204, delay=0.2)
    fake.reply("POST", f"/bridges/{legs.bridge}/record", record,
               json={"name": SEGMENT} if record < 300 else None)


async def test_the_recorder_starts_while_the_parties_are_connected() -> None:
    async with FakeAri() as fake:
        connect_replies(fake)
        failed, sent = await perform(fake)
    assert failed is None
    legs = recorded_outgoing(CALL, "caller-1").legs
    # The recording was asked for before the answer (which waits for the mute's reply), and every
    # connecting request was still made, in order.
    recorded = sent.index(f"POST /bridges/{legs.bridge}/record")
    assert recorded < sent.index(f"POST /channels/{legs.caller}/answer")
    connecting = [s for s in sent if "/record" not in s]
    assert connecting == [f"POST /channels/{legs.callee}/mute", f"POST /channels/{legs.caller}/answer",
                          f"POST /bridges/{legs.bridge}/addChannel"]


async def test_without_alongside_the_batch_runs_in_order() -> None:
    async with FakeAri() as fake:
        connect_replies(fake)
        failed, sent = await perform(fake, alongside=False)
    assert failed is None
    assert sent[-1].endswith("/record")


async def test_a_recorder_that_fails_skips_only_the_rest_of_the_batch() -> None:
    async with FakeAri() as fake:
        connect_replies(fake, record=500)
        failed, sent = await perform(fake)
    assert failed is not None and isinstance(failed.action, StartMedia) and not failed.not_found
    assert [type(a) for a in failed.skipped] == [Note]  # the parties were connected all the same
    assert sum(1 for s in sent if "/record" not in s) == 3


async def test_a_caller_gone_at_answer_skips_the_rest_of_its_branch_and_the_batch() -> None:
    async with FakeAri() as fake:
        connect_replies(fake, answer=404)
        failed, sent = await perform(fake)
    assert failed is not None and isinstance(failed.action, Answer) and failed.not_found
    # The recorder did start (it is not among the skipped: the flow must not forget it).
    assert [type(a) for a in failed.skipped] == [AddToBridge, Note]
    assert any(s.endswith("/record") for s in sent) and not any(s.endswith("/addChannel") for s in sent)
