"""The four roles the host platform gives, and what each may do."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    ORG_ADMIN = "org_admin"
    TEAM_ADMIN = "team_admin"
    TEAM_MEMBER = "team_member"
    PATIENT = "patient"


STAFF = frozenset({Role.ORG_ADMIN, Role.TEAM_ADMIN, Role.TEAM_MEMBER})
CLINICIANS = frozenset({Role.TEAM_ADMIN, Role.TEAM_MEMBER})
CLINIC_ADMINS = frozenset({Role.ORG_ADMIN, Role.TEAM_ADMIN})
