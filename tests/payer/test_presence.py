"""The clinician's "who pays" picker follows who is in the call: people joining and leaving, live."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from addon.appkeys import DB
from addon.models import Call, SocketPresence, utcnow
from addon.services import presence
from addon.wire.common import Person
from tests.support.payflow import PayStack

SAM = {"id": "patient-1", "name": "Sam Patient"}
ALEX = {"id": "carer-1", "name": "Alex Carer"}


async def test_the_picker_hears_people_join_and_leave(connected: PayStack) -> None:
    stack = connected
    doctor = await stack.socket(await stack.clinician())
    assert (await doctor.wait_count("participants", 1))[-1] == []
    patient = await stack.socket(await stack.patient(sub="patient-1", name="Sam Patient"))
    await doctor.wait_for(lambda u: u.of("participants")[-1] == [SAM])
    carer_session = await stack.patient(sub="carer-1", name="Alex Carer")
    carer = await stack.socket(carer_session)
    await doctor.wait_for(lambda u: u.of("participants")[-1] == [SAM, ALEX])

    await carer.close()
    await doctor.wait_for(lambda u: u.of("participants")[-1] == [SAM])
    # The carer's page comes back (a reload): they are in the call again, in the place they first joined.
    await patient.close()
    await doctor.wait_for(lambda u: u.of("participants")[-1] == [])
    await stack.socket(carer_session)
    await stack.socket(await stack.patient(sub="patient-1", name="Sam Patient"))
    await doctor.wait_for(lambda u: u.of("participants")[-1] == [SAM, ALEX])
    # Only the call's clinicians hear it, never the patients.
    assert {e.room for e in stack.published.of("participants")} == {"call:1:staff"}


async def test_two_windows_of_one_person_are_one_participant(connected: PayStack) -> None:
    stack = connected
    doctor = await stack.socket(await stack.clinician())
    first = await stack.socket(await stack.patient(sub="patient-1", name="Sam Patient"))
    await stack.socket(await stack.patient(sub="patient-1", name="Sam Patient"))
    await doctor.wait_for(lambda u: len(u.of("participants")) >= 3)
    assert doctor.of("participants")[-1] == [SAM]
    await first.close()  # one window closed, the other still open: Sam is still in the call
    await doctor.wait_for(lambda u: len(u.of("participants")) >= 4)
    assert doctor.of("participants")[-1] == [SAM]


async def test_a_request_may_name_someone_whose_connection_just_dropped(connected: PayStack) -> None:
    stack = connected
    doctor = await stack.socket(await stack.clinician())
    carer = await stack.socket(await stack.patient(sub="carer-1", name="Alex Carer"))
    await doctor.wait_for(lambda u: u.of("participants")[-1] == [ALEX])
    await carer.close()
    await doctor.wait_for(lambda u: u.of("participants")[-1] == [])
    pr = await stack.request_payment(doctor, payer={"id": "carer-1"})
    assert pr["payer"] == ALEX


async def test_rows_nobody_renews_lapse_and_a_stopping_worker_removes_its_own(connected: PayStack) -> None:
    """A worker that died leaves rows no one renews: after LAPSE they no longer count."""
    stack = connected
    doctor = await stack.socket(await stack.clinician())
    await stack.socket(await stack.patient(sub="patient-1", name="Sam Patient"))
    await doctor.wait_for(lambda u: u.of("participants")[-1] == [SAM])
    async with stack.app[DB].begin() as db:
        call_id = await db.scalar(select(Call.id))
        assert call_id is not None
        assert await presence.present(db, call_id) == [Person(**SAM)]
        later = utcnow() + presence.LAPSE + timedelta(seconds=1)
        assert await presence.present(db, call_id, now=later) == []
        [worker] = (await db.scalars(select(SocketPresence.worker).distinct())).all()
        await presence.renew(db, worker)
        assert await presence.present(db, call_id) == [Person(**SAM)]
        await presence.forget_worker(db, worker)
        assert await db.scalar(select(func.count()).select_from(SocketPresence)) == 0
