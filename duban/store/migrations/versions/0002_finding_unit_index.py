"""finding: an index on (period, unit, kind)

The notice stage re-checks each unit's invalid values right before its message leaves: one
query per unit. With only (period, kind) to go by, each of those read every invalid value of
the period (quadratic in units at province scale); with this index it reads the unit's own.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 07:35:00

"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("finding", schema=None) as batch_op:
        batch_op.create_index("ix_finding_period_unit_kind", ["period", "unit", "kind"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("finding", schema=None) as batch_op:
        batch_op.drop_index("ix_finding_period_unit_kind")
