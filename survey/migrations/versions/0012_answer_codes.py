"""one-time answer codes per case file ("mỗi hồ sơ một phiếu")

``campaigns.answer_codes`` turns the rule on for a campaign; ``answer_codes`` holds, per issued code, its
keyed hash (HMAC-SHA256, key from the server's configuration, never stored here), the unit and stratum
the code fixes, and whether it has been used: no response id, no time of use, no case code.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 00:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.add_column(sa.Column("answer_codes", sa.Boolean(), server_default=sa.false(), nullable=False))
    op.create_table(
        "answer_codes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("unit_code", sa.String(length=64), nullable=False),
        sa.Column("stratum", sa.String(length=64), nullable=True),
        sa.Column("used", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_answer_codes_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_answer_codes")),
        sa.UniqueConstraint("code_hash", name=op.f("uq_answer_codes_code_hash")),
    )
    with op.batch_alter_table("answer_codes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_answer_codes_campaign_id"), ["campaign_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("answer_codes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_answer_codes_campaign_id"))
    op.drop_table("answer_codes")
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.drop_column("answer_codes")
