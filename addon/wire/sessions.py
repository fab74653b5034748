"""``POST /api/v1/sessions``: a launch in, a session token out."""

from __future__ import annotations

from typing import Literal

from addon.wire.base import Incoming, Outgoing, Timestamp

Role = Literal["org_admin", "team_admin", "team_member", "patient"]


class SessionBody(Incoming):
    messages = {"launch": 'Send the launch token as {"launch": "…"}.'}

    launch: str


class SessionUser(Outgoing):
    id: str
    name: str | None


class Session(Outgoing):
    token: str
    expires_at: Timestamp
    role: Role
    user: SessionUser
    org: str
    clinic: str | None
    call: str | None
