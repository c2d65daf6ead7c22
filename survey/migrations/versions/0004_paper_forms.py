"""paper forms: items marked blank or illegible, paper serial numbers, double entry

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 17:00:00
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("double_entry", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    # NULL serials are distinct on SQLite and PostgreSQL alike: the constraint binds only real serials.
    with op.batch_alter_table("responses", schema=None) as batch_op:
        batch_op.add_column(sa.Column("paper_serial", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("blank_items", JSON_TYPE, nullable=True))
        batch_op.create_unique_constraint(
            "uq_responses_paper_serial", ["campaign_id", "unit_code", "paper_serial"]
        )
    op.create_table(
        "paper_keyings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("unit_code", sa.String(length=64), nullable=False),
        sa.Column("paper_serial", sa.String(length=32), nullable=False),
        sa.Column("instance_id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("stratum", sa.String(length=64), nullable=True),
        sa.Column("respondent_group", sa.String(length=64), nullable=True),
        sa.Column("answers", JSON_TYPE, nullable=False),
        sa.Column("blank_items", JSON_TYPE, nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("response_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_paper_keyings_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["response_id"],
            ["responses.id"],
            name=op.f("fk_paper_keyings_response_id_responses"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_paper_keyings_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_paper_keyings")),
        sa.UniqueConstraint("instance_id", name=op.f("uq_paper_keyings_instance_id")),
        sa.UniqueConstraint(
            "campaign_id", "unit_code", "paper_serial", "user_id", name="uq_paper_keyings_user"
        ),
    )


def downgrade() -> None:
    op.drop_table("paper_keyings")
    with op.batch_alter_table("responses", schema=None) as batch_op:
        batch_op.drop_constraint("uq_responses_paper_serial", type_="unique")
        batch_op.drop_column("blank_items")
        batch_op.drop_column("paper_serial")
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.drop_column("double_entry")
