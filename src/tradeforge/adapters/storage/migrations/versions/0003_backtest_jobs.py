"""backtest jobs, results and trades

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21 21:15:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "backtest_jobs",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("api_key_id", sa.String(length=32), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "queued",
                "running",
                "completed",
                "failed",
                "cancelled",
                name="job_status",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("request", sa.JSON(), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("enqueued_ns", sa.BigInteger(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("progress", sa.Integer(), nullable=False),
        sa.Column("stage", sa.String(length=32), nullable=True),
        sa.Column("claimed_by", sa.String(length=100), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("result_id", sa.String(length=32), nullable=True),
        sa.Column("error_code", sa.String(length=64), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("error_suggestion", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["api_key_id"],
            ["api_keys.id"],
            name=op.f("fk_backtest_jobs_api_key_id_api_keys"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_backtest_jobs")),
    )
    op.create_index(
        "ix_backtest_jobs_status_enqueued", "backtest_jobs", ["status", "enqueued_ns"], unique=False
    )
    op.create_index(
        "ix_backtest_jobs_key_status", "backtest_jobs", ["api_key_id", "status"], unique=False
    )
    op.create_index(
        "ix_backtest_jobs_status_heartbeat",
        "backtest_jobs",
        ["status", "heartbeat_at"],
        unique=False,
    )
    op.create_table(
        "backtest_results",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("job_id", sa.String(length=32), nullable=False),
        sa.Column("api_key_id", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("script", sa.Text(), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column("request", sa.JSON(), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.Column("equity", sa.JSON(), nullable=False),
        sa.Column("num_trades", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["api_key_id"],
            ["api_keys.id"],
            name=op.f("fk_backtest_results_api_key_id_api_keys"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["backtest_jobs.id"],
            name=op.f("fk_backtest_results_job_id_backtest_jobs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_backtest_results")),
        sa.UniqueConstraint("job_id", name=op.f("uq_backtest_results_job_id")),
    )
    op.create_index(
        op.f("ix_backtest_results_api_key_id"), "backtest_results", ["api_key_id"], unique=False
    )
    op.create_table(
        "backtest_trades",
        sa.Column("result_id", sa.String(length=32), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["result_id"],
            ["backtest_results.id"],
            name=op.f("fk_backtest_trades_result_id_backtest_results"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("result_id", "seq", name="pk_backtest_trades"),
    )


def downgrade() -> None:
    op.drop_table("backtest_trades")
    op.drop_index(op.f("ix_backtest_results_api_key_id"), table_name="backtest_results")
    op.drop_table("backtest_results")
    op.drop_index("ix_backtest_jobs_status_heartbeat", table_name="backtest_jobs")
    op.drop_index("ix_backtest_jobs_key_status", table_name="backtest_jobs")
    op.drop_index("ix_backtest_jobs_status_enqueued", table_name="backtest_jobs")
    op.drop_table("backtest_jobs")
