"""the language a response was shown in (responses.language, a BCP-47 tag)

Kiosk and paper forms stored before this revision were all in Vietnamese (the kiosk showed nothing
else, the paper forms are printed in Vietnamese): they get ``vi``. Forms imported from files or sent
through the API keep no language (NULL): nothing says which language their respondents read.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 00:10:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("responses", schema=None) as batch_op:
        batch_op.add_column(sa.Column("language", sa.String(length=35), nullable=True))
    op.execute("UPDATE responses SET language = 'vi' WHERE source IN ('kiosk', 'paper')")


def downgrade() -> None:
    with op.batch_alter_table("responses", schema=None) as batch_op:
        batch_op.drop_column("language")
