"""instalment plans: the clinic's threshold, plans and their instalments

Revision ID: 0015_instalment_plans
Revises: 0014_paying
Create Date: 2026-12-02 14:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015_instalment_plans"
down_revision: str | None = "0014_paying"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("clinics") as batch:
        batch.add_column(sa.Column("plan_min_amount", sa.BigInteger(), nullable=True))
    op.create_table(
        "instalment_plans",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("clinic_id", sa.Integer(), nullable=False),
        sa.Column("call_id", sa.Integer(), nullable=False),
        sa.Column("payment_request_id", sa.String(length=40), nullable=False),
        sa.Column("clinician_id", sa.Integer(), nullable=False),
        sa.Column("created_by_user_id", sa.Integer(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("interval", sa.String(length=20), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("patient_email", sa.String(length=320), nullable=True),
        sa.Column("patient_name", sa.String(length=200), nullable=True),
        sa.Column("payer_sub", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("canceled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("canceled_by_user_id", sa.Integer(), nullable=True),
        sa.CheckConstraint("status IN ('active', 'completed', 'canceled')", name=op.f("ck_instalment_plans_status")),
        sa.CheckConstraint(
            "interval IN ('weekly', 'fortnightly', 'monthly')", name=op.f("ck_instalment_plans_interval")
        ),
        sa.CheckConstraint("count >= 2 AND count <= 12", name=op.f("ck_instalment_plans_count")),
        sa.ForeignKeyConstraint(
            ["clinic_id"], ["clinics.id"], name=op.f("fk_instalment_plans_clinic_id_clinics"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["call_id"], ["calls.id"], name=op.f("fk_instalment_plans_call_id_calls"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["payment_request_id"],
            ["payment_requests.id"],
            name=op.f("fk_instalment_plans_payment_request_id_payment_requests"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["clinician_id"], ["users.id"], name=op.f("fk_instalment_plans_clinician_id_users")),
        sa.ForeignKeyConstraint(
            ["created_by_user_id"], ["users.id"], name=op.f("fk_instalment_plans_created_by_user_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["canceled_by_user_id"], ["users.id"], name=op.f("fk_instalment_plans_canceled_by_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_instalment_plans")),
        sa.UniqueConstraint("payment_request_id", name=op.f("uq_instalment_plans_payment_request_id")),
    )
    op.create_index("ix_instalment_plans_clinic_created", "instalment_plans", ["clinic_id", "created_at"])
    op.create_table(
        "instalments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.String(length=40), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("payment_request_id", sa.String(length=40), nullable=True),
        sa.Column("payment_link_id", sa.String(length=40), nullable=True),
        sa.Column("outcome", sa.String(length=20), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("late", sa.Boolean(), nullable=False),
        sa.Column("claim_token", sa.String(length=40), nullable=True),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("reminded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('scheduled', 'charging', 'sent', 'canceled')", name=op.f("ck_instalments_status")
        ),
        sa.CheckConstraint("amount > 0", name=op.f("ck_instalments_amount")),
        sa.ForeignKeyConstraint(
            ["plan_id"],
            ["instalment_plans.id"],
            name=op.f("fk_instalments_plan_id_instalment_plans"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["payment_request_id"],
            ["payment_requests.id"],
            name=op.f("fk_instalments_payment_request_id_payment_requests"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["payment_link_id"],
            ["payment_links.id"],
            name=op.f("fk_instalments_payment_link_id_payment_links"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_instalments")),
        sa.UniqueConstraint("plan_id", "number", name=op.f("uq_instalments_plan_id_number")),
        sa.UniqueConstraint("payment_request_id", name=op.f("uq_instalments_payment_request_id")),
    )
    op.create_index("ix_instalments_due", "instalments", ["status", "due_at"])


def downgrade() -> None:
    op.drop_index("ix_instalments_due", table_name="instalments")
    op.drop_table("instalments")
    op.drop_index("ix_instalment_plans_clinic_created", table_name="instalment_plans")
    op.drop_table("instalment_plans")
    with op.batch_alter_table("clinics") as batch:
        batch.drop_column("plan_min_amount")
