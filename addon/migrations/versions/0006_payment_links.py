"""pay-later links, the clinic's pay-later settings, a call's end and a patient's launch email

Revision ID: 0006_payment_links
Revises: 0005_amount_settings
Create Date: 2026-12-02 04:55:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_payment_links"
down_revision: str | None = "0005_amount_settings"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("clinics") as batch:
        batch.add_column(
            sa.Column("call_ended_action", sa.String(length=20), nullable=False, server_default="send_link")
        )
        batch.add_column(sa.Column("link_min_amount", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("link_max_amount", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("link_reminder_hours", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("link_notice_email", sa.String(length=320), nullable=True))
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("email", sa.String(length=320), nullable=True))
    with op.batch_alter_table("calls") as batch:
        batch.add_column(sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "payment_links",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("url", sa.String(length=400), nullable=False),
        sa.Column("clinic_id", sa.Integer(), nullable=False),
        sa.Column("clinician_id", sa.Integer(), nullable=False),
        sa.Column("client_ref", sa.String(length=100), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=True),
        sa.Column("min_amount", sa.BigInteger(), nullable=True),
        sa.Column("max_amount", sa.BigInteger(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("payment_request_id", sa.String(length=40), nullable=True),
        sa.Column("origin", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("canceled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_reminded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reminders_sent", sa.Integer(), nullable=False),
        sa.Column("auto_reminded_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('active', 'paid', 'expired', 'canceled')", name=op.f("ck_payment_links_status")),
        sa.ForeignKeyConstraint(
            ["clinic_id"], ["clinics.id"], name=op.f("fk_payment_links_clinic_id_clinics"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["clinician_id"], ["users.id"], name=op.f("fk_payment_links_clinician_id_users")),
        sa.ForeignKeyConstraint(
            ["payment_request_id"],
            ["payment_requests.id"],
            name=op.f("fk_payment_links_payment_request_id_payment_requests"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_links")),
        sa.UniqueConstraint("clinician_id", "client_ref", name=op.f("uq_payment_links_clinician_id_client_ref")),
        sa.UniqueConstraint("token", name=op.f("uq_payment_links_token")),
    )
    op.create_index("ix_payment_links_clinic_created", "payment_links", ["clinic_id", "created_at"])
    op.create_index("ix_payment_links_due", "payment_links", ["status", "expires_at"])
    op.create_index("ix_payment_links_payment_request_id", "payment_links", ["payment_request_id"])


def downgrade() -> None:
    op.drop_index("ix_payment_links_payment_request_id", table_name="payment_links")
    op.drop_index("ix_payment_links_due", table_name="payment_links")
    op.drop_index("ix_payment_links_clinic_created", table_name="payment_links")
    op.drop_table("payment_links")
    with op.batch_alter_table("calls") as batch:
        batch.drop_column("ended_at")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("email")
    with op.batch_alter_table("clinics") as batch:
        batch.drop_column("link_notice_email")
        batch.drop_column("link_reminder_hours")
        batch.drop_column("link_max_amount")
        batch.drop_column("link_min_amount")
        batch.drop_column("call_ended_action")
