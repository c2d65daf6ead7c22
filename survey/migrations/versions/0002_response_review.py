"""response review: review state on responses, corrections as revisions

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 16:00:00
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    # Every stored response starts (and every existing one is) "received".
    with op.batch_alter_table("responses", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("review_state", sa.String(length=16), server_default="received", nullable=False)
        )
        batch_op.add_column(sa.Column("reviewed_by", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("review_reason", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("current_answers", JSON_TYPE, nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_responses_reviewed_by_users"), "users", ["reviewed_by"], ["id"]
        )
    op.create_table(
        "response_revisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("response_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("username", sa.String(length=64), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("changes", JSON_TYPE, nullable=False),
        sa.Column("answers", JSON_TYPE, nullable=False),
        sa.ForeignKeyConstraint(
            ["response_id"],
            ["responses.id"],
            name=op.f("fk_response_revisions_response_id_responses"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_response_revisions_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_response_revisions")),
        sa.UniqueConstraint("response_id", "number", name="uq_response_revisions_number"),
    )


def downgrade() -> None:
    op.drop_table("response_revisions")
    with op.batch_alter_table("responses", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_responses_reviewed_by_users"), type_="foreignkey")
        batch_op.drop_column("current_answers")
        batch_op.drop_column("review_reason")
        batch_op.drop_column("reviewed_at")
        batch_op.drop_column("reviewed_by")
        batch_op.drop_column("review_state")
