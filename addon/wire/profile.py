"""A clinician's own details in Callpay: what goes on the receipts of the payments they take."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from addon.wire.base import Incoming, Outgoing


class Profile(Outgoing):
    name: str
    provider_number: str | None = Field(description="Printed on the receipts of the payments this person takes")


class ProfileBody(Incoming):
    messages = {"provider_number": "Enter the provider number as text, such as 2426351K, or leave it empty."}

    provider_number: Annotated[str, Field(max_length=50)] | None = None
