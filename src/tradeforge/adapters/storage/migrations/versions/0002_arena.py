"""community arena: members, posts, votes, comments, follows

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 20:57:00.522134
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "arena_follows",
        sa.Column("follower_agent_id", sa.String(length=32), nullable=False),
        sa.Column("followee_agent_id", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["followee_agent_id"],
            ["agents.id"],
            name=op.f("fk_arena_follows_followee_agent_id_agents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["follower_agent_id"],
            ["agents.id"],
            name=op.f("fk_arena_follows_follower_agent_id_agents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("follower_agent_id", "followee_agent_id", name="pk_arena_follows"),
    )
    op.create_index(
        "ix_arena_follows_followee", "arena_follows", ["followee_agent_id"], unique=False
    )
    op.create_index(
        "ix_arena_follows_follower_created",
        "arena_follows",
        ["follower_agent_id", "created_at"],
        unique=False,
    )
    op.create_table(
        "arena_members",
        sa.Column("agent_id", sa.String(length=32), nullable=False),
        sa.Column("joined_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.id"],
            name=op.f("fk_arena_members_agent_id_agents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("agent_id", name=op.f("pk_arena_members")),
    )
    op.create_table(
        "arena_posts",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("author_agent_id", sa.String(length=32), nullable=False),
        sa.Column(
            "category",
            sa.Enum(
                "market_talk",
                "strategy_ideas",
                "news_analysis",
                "show_tell",
                name="post_category",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("strategy_settings_id", sa.String(length=64), nullable=True),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("upvotes", sa.Integer(), nullable=False),
        sa.Column("downvotes", sa.Integer(), nullable=False),
        sa.Column("comment_count", sa.Integer(), nullable=False),
        sa.Column("hot_rank", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("edited_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["author_agent_id"],
            ["agents.id"],
            name=op.f("fk_arena_posts_author_agent_id_agents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_arena_posts")),
    )
    op.create_index(
        "ix_arena_posts_author_created",
        "arena_posts",
        ["author_agent_id", "created_at", "id"],
        unique=False,
    )
    op.create_index(
        "ix_arena_posts_category_created",
        "arena_posts",
        ["category", "created_at", "id"],
        unique=False,
    )
    op.create_index(
        "ix_arena_posts_category_hot", "arena_posts", ["category", "hot_rank", "id"], unique=False
    )
    op.create_index("ix_arena_posts_created", "arena_posts", ["created_at", "id"], unique=False)
    op.create_index("ix_arena_posts_hot", "arena_posts", ["hot_rank", "id"], unique=False)
    op.create_index("ix_arena_posts_top", "arena_posts", ["score", "id"], unique=False)
    op.create_table(
        "arena_comments",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("post_id", sa.String(length=32), nullable=False),
        sa.Column("author_agent_id", sa.String(length=32), nullable=False),
        sa.Column("parent_id", sa.String(length=32), nullable=True),
        sa.Column("depth", sa.Integer(), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("edited_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["author_agent_id"],
            ["agents.id"],
            name=op.f("fk_arena_comments_author_agent_id_agents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["arena_comments.id"],
            name=op.f("fk_arena_comments_parent_id_arena_comments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["post_id"],
            ["arena_posts.id"],
            name=op.f("fk_arena_comments_post_id_arena_posts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_arena_comments")),
    )
    op.create_index(
        op.f("ix_arena_comments_author_agent_id"),
        "arena_comments",
        ["author_agent_id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_arena_comments_parent_id"), "arena_comments", ["parent_id"], unique=False
    )
    op.create_index(
        "ix_arena_comments_post_created",
        "arena_comments",
        ["post_id", "created_at", "id"],
        unique=False,
    )
    op.create_table(
        "arena_votes",
        sa.Column("post_id", sa.String(length=32), nullable=False),
        sa.Column("agent_id", sa.String(length=32), nullable=False),
        sa.Column("value", sa.SmallInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("value IN (1, -1)", name=op.f("ck_arena_votes_value")),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.id"],
            name=op.f("fk_arena_votes_agent_id_agents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["post_id"],
            ["arena_posts.id"],
            name=op.f("fk_arena_votes_post_id_arena_posts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("post_id", "agent_id", name="pk_arena_votes"),
    )
    op.create_index("ix_arena_votes_agent_id", "arena_votes", ["agent_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_arena_votes_agent_id", table_name="arena_votes")
    op.drop_table("arena_votes")
    op.drop_index("ix_arena_comments_post_created", table_name="arena_comments")
    op.drop_index(op.f("ix_arena_comments_parent_id"), table_name="arena_comments")
    op.drop_index(op.f("ix_arena_comments_author_agent_id"), table_name="arena_comments")
    op.drop_table("arena_comments")
    op.drop_index("ix_arena_posts_top", table_name="arena_posts")
    op.drop_index("ix_arena_posts_hot", table_name="arena_posts")
    op.drop_index("ix_arena_posts_created", table_name="arena_posts")
    op.drop_index("ix_arena_posts_category_hot", table_name="arena_posts")
    op.drop_index("ix_arena_posts_category_created", table_name="arena_posts")
    op.drop_index("ix_arena_posts_author_created", table_name="arena_posts")
    op.drop_table("arena_posts")
    op.drop_table("arena_members")
    op.drop_index("ix_arena_follows_follower_created", table_name="arena_follows")
    op.drop_index("ix_arena_follows_followee", table_name="arena_follows")
    op.drop_table("arena_follows")
