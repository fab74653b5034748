"""Pieces several messages share: the error shape and a person's id and name."""

from __future__ import annotations

from pydantic import ConfigDict, Field

from addon.wire.base import Outgoing


class Person(Outgoing):
    """Someone named in a message: their user id in the host platform (the launch's ``sub``) and name."""

    id: str
    name: str


class ErrorDetail(Outgoing):
    # ``field`` is left out, not sent as null, when no one field is at fault: so the schema must not require it.
    model_config = ConfigDict(json_schema_serialization_defaults_required=False)

    code: str
    message: str
    field: str | None = None
    errors: list[ErrorDetail] | None = Field(
        default=None, description="When several fields (or items of one) are wrong: every problem, in the form's order"
    )
    # Pay all (``POST /api/v1/calls/{call}/checkout``) refusing a set: the requests at fault, and when the set
    # changed while paying (set_changed), what is still to pay and its total.
    payment_requests: list[str] | None = Field(default=None, description="Pay all: the requests at fault")
    remaining: list[str] | None = Field(default=None, description="Pay all, set_changed: the requests still to pay")
    amount: int | None = Field(default=None, description="Pay all, set_changed: their total, in minor units")
    currency: str | None = None
    amount_display: str | None = None

    def to_json(self) -> dict[str, str]:
        body: dict[str, str] = self.model_dump(mode="json", exclude_none=True)
        return body


class Error(Outgoing):
    """``{"error": {"code", "message", "field"?}}``: every error the API answers with."""

    error: ErrorDetail
