"""arena strategy leaderboard: verified registrations of backtest results

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21 21:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "arena_strategies",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("agent_id", sa.String(length=32), nullable=False),
        sa.Column("api_key_id", sa.String(length=32), nullable=False),
        sa.Column("result_id", sa.String(length=32), nullable=False),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("engine_version", sa.String(length=64), nullable=False),
        sa.Column("script", sa.Text(), nullable=False),
        sa.Column("request", sa.JSON(), nullable=False),
        sa.Column("candles_sha256", sa.JSON(), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("roi", sa.Float(), nullable=False),
        sa.Column("sharpe", sa.Float(), nullable=True),
        sa.Column("calmar", sa.Float(), nullable=True),
        sa.Column("max_drawdown", sa.Float(), nullable=True),
        sa.Column("num_trades", sa.Integer(), nullable=False),
        sa.Column("period_days", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.id"],
            name=op.f("fk_arena_strategies_agent_id_agents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["api_key_id"],
            ["api_keys.id"],
            name=op.f("fk_arena_strategies_api_key_id_api_keys"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["result_id"],
            ["backtest_results.id"],
            name=op.f("fk_arena_strategies_result_id_backtest_results"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_arena_strategies")),
        sa.UniqueConstraint("result_id", name=op.f("uq_arena_strategies_result_id")),
    )
    op.create_index(
        "uq_arena_strategies_agent_fingerprint",
        "arena_strategies",
        ["agent_id", "fingerprint"],
        unique=True,
    )
    op.create_index(
        "ix_arena_strategies_roi", "arena_strategies", ["roi", "registered_at", "id"], unique=False
    )
    op.create_index(
        "ix_arena_strategies_sharpe",
        "arena_strategies",
        ["sharpe", "registered_at", "id"],
        unique=False,
    )
    op.create_index(
        "ix_arena_strategies_calmar",
        "arena_strategies",
        ["calmar", "registered_at", "id"],
        unique=False,
    )
    op.create_index(
        "ix_arena_strategies_registered", "arena_strategies", ["registered_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_arena_strategies_registered", table_name="arena_strategies")
    op.drop_index("ix_arena_strategies_calmar", table_name="arena_strategies")
    op.drop_index("ix_arena_strategies_sharpe", table_name="arena_strategies")
    op.drop_index("ix_arena_strategies_roi", table_name="arena_strategies")
    op.drop_index("uq_arena_strategies_agent_fingerprint", table_name="arena_strategies")
    op.drop_table("arena_strategies")
