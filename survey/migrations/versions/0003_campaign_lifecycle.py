"""campaign lifecycle: draft / open / closed with who, when and why; late tablet forms

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 16:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.add_column(sa.Column("opened_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("closed_by", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("close_reason", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("reopened_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("reopened_by", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("reopen_reason", sa.Text(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_campaigns_closed_by_users"), "users", ["closed_by"], ["id"]
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_campaigns_reopened_by_users"), "users", ["reopened_by"], ["id"]
        )
    with op.batch_alter_table("responses", schema=None) as batch_op:
        batch_op.add_column(sa.Column("late", sa.Boolean(), server_default=sa.false(), nullable=False))
    # "active" was the old name of "open". A campaign closed before this revision has no close time:
    # nothing arrives late for it (every form sent after the change is refused, as it was before).
    op.execute("UPDATE campaigns SET status = 'open' WHERE status = 'active'")
    op.execute("UPDATE campaigns SET opened_at = created_at WHERE status IN ('open', 'closed')")


def downgrade() -> None:
    # The old code knows "active" and "closed" only; a draft did not collect, so it goes back as closed.
    op.execute("UPDATE campaigns SET status = 'active' WHERE status = 'open'")
    op.execute("UPDATE campaigns SET status = 'closed' WHERE status = 'draft'")
    with op.batch_alter_table("responses", schema=None) as batch_op:
        batch_op.drop_column("late")
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_campaigns_reopened_by_users"), type_="foreignkey")
        batch_op.drop_constraint(batch_op.f("fk_campaigns_closed_by_users"), type_="foreignkey")
        batch_op.drop_column("reopen_reason")
        batch_op.drop_column("reopened_by")
        batch_op.drop_column("reopened_at")
        batch_op.drop_column("close_reason")
        batch_op.drop_column("closed_by")
        batch_op.drop_column("closed_at")
        batch_op.drop_column("opened_at")
