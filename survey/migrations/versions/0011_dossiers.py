"""case files (hồ sơ) imported from the one-stop systems: the sampling frame N per unit × procedure field

Two new tables: ``dossier_imports`` (one row per imported file) and ``dossiers`` (one row per case
file, unique by its code within a campaign); and ``campaigns.field_allocation`` (NULL for existing
campaigns: targets per unit, as before).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05 23:55:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.add_column(sa.Column("field_allocation", sa.String(length=16), nullable=True))
    op.create_table(
        "dossier_imports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("imported_by", sa.Integer(), nullable=True),
        sa.Column("rows_read", sa.Integer(), nullable=False),
        sa.Column("added", sa.Integer(), nullable=False),
        sa.Column("unchanged", sa.Integer(), nullable=False),
        sa.Column("conflicts", sa.Integer(), nullable=False),
        sa.Column("skipped", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_dossier_imports_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["imported_by"], ["users.id"], name=op.f("fk_dossier_imports_imported_by_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dossier_imports")),
    )
    op.create_table(
        "dossiers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("case_code", sa.String(length=64), nullable=False),
        sa.Column("unit_code", sa.String(length=64), nullable=False),
        sa.Column("procedure", sa.String(length=500), nullable=True),
        sa.Column("stratum", sa.String(length=64), nullable=False),
        sa.Column("received_on", sa.Date(), nullable=True),
        sa.Column("returned_on", sa.Date(), nullable=True),
        sa.Column("import_id", sa.Integer(), nullable=True),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_dossiers_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["import_id"],
            ["dossier_imports.id"],
            name=op.f("fk_dossiers_import_id_dossier_imports"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dossiers")),
        sa.UniqueConstraint("campaign_id", "case_code", name="uq_dossiers_campaign_case"),
    )
    with op.batch_alter_table("dossiers", schema=None) as batch_op:
        batch_op.create_index(
            "ix_dossiers_campaign_unit_stratum", ["campaign_id", "unit_code", "stratum"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("dossiers", schema=None) as batch_op:
        batch_op.drop_index("ix_dossiers_campaign_unit_stratum")
    op.drop_table("dossiers")
    op.drop_table("dossier_imports")
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.drop_column("field_allocation")
