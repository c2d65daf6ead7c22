"""integrity checks: a campaign's integrity settings and a response's kiosk paradata

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 17:30:00
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

JSON_TYPE = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    # NULL: every documented default (analysis.integrity.IntegritySettings); no paradata sent.
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.add_column(sa.Column("integrity_settings", JSON_TYPE, nullable=True))
    with op.batch_alter_table("responses", schema=None) as batch_op:
        batch_op.add_column(sa.Column("paradata", JSON_TYPE, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("responses", schema=None) as batch_op:
        batch_op.drop_column("paradata")
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.drop_column("integrity_settings")
