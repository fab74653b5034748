"""pay all: several open requests of a call paid with one PaymentIntent; who paid, for the receipt

Revision ID: 0013_pay_all
Revises: 0012_saved_cards
Create Date: 2026-12-02 10:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_pay_all"
down_revision: str | None = "0012_saved_cards"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "pay_alls",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("call_id", sa.Integer(), nullable=False),
        sa.Column("clinic_id", sa.Integer(), nullable=False),
        sa.Column("payer_user_id", sa.Integer(), nullable=False),
        sa.Column("payer_sub", sa.String(length=200), nullable=False),
        sa.Column("payer_name", sa.String(length=200), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("patient_email", sa.String(length=320), nullable=True),
        sa.Column("stripe_account_id", sa.String(length=100), nullable=True),
        sa.Column("stripe_payment_intent_id", sa.String(length=100), nullable=True),
        sa.Column("stripe_client_secret", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('open', 'paid', 'superseded', 'canceled')", name=op.f("ck_pay_alls_status")),
        sa.ForeignKeyConstraint(["call_id"], ["calls.id"], name=op.f("fk_pay_alls_call_id_calls"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["clinic_id"], ["clinics.id"], name=op.f("fk_pay_alls_clinic_id_clinics"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["payer_user_id"], ["users.id"], name=op.f("fk_pay_alls_payer_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pay_alls")),
        sa.UniqueConstraint("stripe_payment_intent_id", name=op.f("uq_pay_alls_stripe_payment_intent_id")),
    )
    op.create_index(op.f("ix_pay_alls_call_id"), "pay_alls", ["call_id"])
    op.create_table(
        "pay_all_items",
        sa.Column("pay_all_id", sa.String(length=40), nullable=False),
        sa.Column("payment_request_id", sa.String(length=40), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("claim", sa.String(length=40), nullable=True),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["pay_all_id"], ["pay_alls.id"], name=op.f("fk_pay_all_items_pay_all_id_pay_alls"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["payment_request_id"],
            ["payment_requests.id"],
            name=op.f("fk_pay_all_items_payment_request_id_payment_requests"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("pay_all_id", "payment_request_id", name=op.f("pk_pay_all_items")),
        sa.UniqueConstraint("claim", name=op.f("uq_pay_all_items_claim")),
    )
    op.create_index(op.f("ix_pay_all_items_payment_request_id"), "pay_all_items", ["payment_request_id"])
    with op.batch_alter_table("payment_requests") as batch:
        batch.add_column(sa.Column("paid_by_sub", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("paid_by_name", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("pay_all_id", sa.String(length=40), nullable=True))
        batch.create_foreign_key(
            op.f("fk_payment_requests_pay_all_id_pay_alls"), "pay_alls", ["pay_all_id"], ["id"], ondelete="SET NULL"
        )
        batch.create_index(op.f("ix_payment_requests_pay_all_id"), ["pay_all_id"])


def downgrade() -> None:
    with op.batch_alter_table("payment_requests") as batch:
        batch.drop_index(op.f("ix_payment_requests_pay_all_id"))
        batch.drop_constraint(op.f("fk_payment_requests_pay_all_id_pay_alls"), type_="foreignkey")
        batch.drop_column("pay_all_id")
        batch.drop_column("paid_by_name")
        batch.drop_column("paid_by_sub")
    op.drop_index(op.f("ix_pay_all_items_payment_request_id"), table_name="pay_all_items")
    op.drop_table("pay_all_items")
    op.drop_index(op.f("ix_pay_alls_call_id"), table_name="pay_alls")
    op.drop_table("pay_alls")
