"""The lifecycle's table itself: what each status allows, and the rules written once for every page."""

from __future__ import annotations

import pytest

from addon.lifecycle import FLAG_NAMES, INITIAL, MONEY_TAKEN, Status, Trigger, after_refund, flags, status_check


def test_flags_follow_the_triggers() -> None:
    allowed = {status: [name for name, on in flags(status, 8000, 0).items() if on] for status in Status}
    assert allowed == {
        Status.REQUESTED: ["payable", "cancelable"],
        Status.FAILED: ["payable", "cancelable"],
        Status.PROCESSING: [],
        Status.AUTHORIZED: [],
        Status.CANCELED: [],
        Status.PAID: ["refundable", "receipt_available"],
        Status.PARTIALLY_REFUNDED: ["refundable", "receipt_available"],
        Status.REFUNDED: ["receipt_available"],
    }
    assert set(FLAG_NAMES) == {"payable", "cancelable", "refundable", "receipt_available"}
    # Nothing left to refund: not refundable, whatever the status says.
    assert flags(Status.PARTIALLY_REFUNDED, 8000, 8000)["refundable"] is False
    # A refund still pending at Stripe holds its amount back.
    assert flags(Status.PAID, 8000, 0, refund_reserved=8000)["refundable"] is False
    assert flags(Status.PAID, 8000, 0, refund_reserved=7999)["refundable"] is True


def test_every_status_is_reachable_from_a_new_request() -> None:
    reached, frontier = {INITIAL}, [INITIAL]
    while frontier:
        status = frontier.pop()
        for trigger in Trigger:
            for target in trigger.targets if trigger.may_start(status) else ():
                if target not in reached:
                    reached.add(target)
                    frontier.append(target)
    assert reached == set(Status)


def test_money_once_taken_stays_taken() -> None:
    for trigger in Trigger:
        if trigger.sources & MONEY_TAKEN and not trigger.keeps_status:
            assert set(trigger.targets) <= MONEY_TAKEN - {Status.PAID}, trigger


def test_a_trigger_with_several_targets_needs_one_named() -> None:
    assert Trigger.DECLINED.target() is Status.FAILED
    with pytest.raises(ValueError, match="say which"):
        Trigger.SUCCEEDED.target()
    with pytest.raises(ValueError, match="can't lead"):
        Trigger.SUCCEEDED.target(Status.CANCELED)
    assert Trigger.SUCCEEDED.target(after_refund(8000, 500)) is Status.PARTIALLY_REFUNDED


def test_the_check_constraint_lists_every_status() -> None:
    sql = status_check()
    assert sql.startswith("status IN (")
    assert all(f"'{status}'" in sql for status in Status)
