"""index arena posts by attached backtest result (the dashboard's "is it public?" check)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-21 23:50:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_arena_posts_strategy_settings", "arena_posts", ["strategy_settings_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_arena_posts_strategy_settings", table_name="arena_posts")
