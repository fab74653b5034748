"""a card on file: the clinic's saved-card settings and fees, saved cards with their consent, off-session charges

Revision ID: 0012_saved_cards
Revises: 0011_checkout_claim
Create Date: 2026-12-02 10:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_saved_cards"
down_revision: str | None = "0011_checkout_claim"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("clinics") as batch:
        batch.add_column(sa.Column("saved_cards_enabled", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("saved_card_policy", sa.String(length=2000), nullable=True))
        batch.add_column(sa.Column("no_show_fee", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("late_cancellation_fee", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("clinician_fees", sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table("clinics") as batch:
        batch.alter_column("saved_cards_enabled", server_default=None)
        batch.alter_column("clinician_fees", server_default=None)
    op.create_table(
        "saved_cards",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("offer_key", sa.String(length=40), nullable=True),
        sa.Column("clinic_id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("call_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("stripe_account_id", sa.String(length=100), nullable=True),
        sa.Column("stripe_customer_id", sa.String(length=100), nullable=True),
        sa.Column("stripe_setup_intent_id", sa.String(length=100), nullable=True),
        sa.Column("stripe_client_secret", sa.String(length=200), nullable=True),
        sa.Column("stripe_payment_method_id", sa.String(length=100), nullable=True),
        sa.Column("card_brand", sa.String(length=30), nullable=True),
        sa.Column("card_last4", sa.String(length=4), nullable=True),
        sa.Column("card_exp_month", sa.Integer(), nullable=True),
        sa.Column("card_exp_year", sa.Integer(), nullable=True),
        sa.Column("consent_text", sa.Text(), nullable=True),
        sa.Column("consent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failure_message", sa.String(length=500), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("saved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('declined', 'pending', 'active', 'removed')", name=op.f("ck_saved_cards_status")
        ),
        sa.ForeignKeyConstraint(
            ["call_id"], ["calls.id"], name=op.f("fk_saved_cards_call_id_calls"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["clinic_id"], ["clinics.id"], name=op.f("fk_saved_cards_clinic_id_clinics"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["users.id"], name=op.f("fk_saved_cards_patient_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_saved_cards")),
        sa.UniqueConstraint("offer_key", name=op.f("uq_saved_cards_offer_key")),
        sa.UniqueConstraint("stripe_setup_intent_id", name=op.f("uq_saved_cards_stripe_setup_intent_id")),
    )
    op.create_index("ix_saved_cards_clinic_patient", "saved_cards", ["clinic_id", "patient_id"])
    op.create_table(
        "off_session_charges",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("clinic_id", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=False),
        sa.Column("payment_request_id", sa.String(length=40), nullable=False),
        sa.Column("saved_card_id", sa.String(length=40), nullable=False),
        sa.Column("purpose", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("failure_code", sa.String(length=100), nullable=True),
        sa.Column("stripe_payment_intent_id", sa.String(length=100), nullable=True),
        sa.Column("payment_link_id", sa.String(length=40), nullable=True),
        sa.Column("requested_by_user_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('pending', 'paid', 'needs_patient')", name=op.f("ck_off_session_charges_status")
        ),
        sa.ForeignKeyConstraint(
            ["clinic_id"], ["clinics.id"], name=op.f("fk_off_session_charges_clinic_id_clinics"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["payment_request_id"],
            ["payment_requests.id"],
            name=op.f("fk_off_session_charges_payment_request_id_payment_requests"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["saved_card_id"],
            ["saved_cards.id"],
            name=op.f("fk_off_session_charges_saved_card_id_saved_cards"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["payment_link_id"],
            ["payment_links.id"],
            name=op.f("fk_off_session_charges_payment_link_id_payment_links"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["requested_by_user_id"], ["users.id"], name=op.f("fk_off_session_charges_requested_by_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_off_session_charges")),
        sa.UniqueConstraint(
            "clinic_id", "idempotency_key", name=op.f("uq_off_session_charges_clinic_id_idempotency_key")
        ),
        sa.UniqueConstraint("payment_request_id", name=op.f("uq_off_session_charges_payment_request_id")),
    )
    op.create_index(
        op.f("ix_off_session_charges_saved_card_id"), "off_session_charges", ["saved_card_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_off_session_charges_saved_card_id"), table_name="off_session_charges")
    op.drop_table("off_session_charges")
    op.drop_index("ix_saved_cards_clinic_patient", table_name="saved_cards")
    op.drop_table("saved_cards")
    with op.batch_alter_table("clinics") as batch:
        for column in (
            "clinician_fees",
            "late_cancellation_fee",
            "no_show_fee",
            "saved_card_policy",
            "saved_cards_enabled",
        ):
            batch.drop_column(column)
