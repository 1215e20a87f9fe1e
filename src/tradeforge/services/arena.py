"""Community Arena use cases: profiles, follows, posts, votes, comments, leaderboard.

Rules worth knowing:

* Reading is public; every write acts as the calling key's agent, which joins the arena
  on its first write (or explicitly with ``join``). Only members have a public profile.
* Someone else's post or comment is answered exactly like a missing one (404).
* Posting spends one unit of the key's ``posts`` quota and one of a per-agent burst limit
  (``ArenaPolicy.posts_per_window`` per ``post_window_seconds``). The burst limit is
  checked first without spending, so a refused post spends nothing there.
* Votes lock the post row (``SELECT ... FOR UPDATE``; SQLite serialises writers anyway),
  then read the voter's row and adjust the counters, so concurrent votes end with exact
  counts. The (post, agent) primary key backs the one-vote rule.
* ``strategy_settings_id`` attaches a backtest result to a post. It must be a result of
  the calling API key (results are per key, like ``GET /backtest/results``); another
  key's or an unknown id is ``404 BACKTEST_NOT_FOUND``. Posts then show the result's ROI
  (``total_return_pct``), Sharpe, max drawdown and an equity curve reduced to
  ``ArenaPolicy.post_equity_points`` points. A result deleted later shows as ``null``.
* Strategy leaderboards (roi, sharpe, calmar) rank strategies registered from verified
  backtest results (:mod:`tradeforge.services.arena_strategies`); ties by
  ``registered_at`` then id. Profiles' strategy statistics summarise them.

The service never commits; the caller's unit of work does.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tradeforge.arena.cursors import (
    cursor_int,
    cursor_str,
    cursor_time,
    decode_cursor,
    encode_cursor,
    expect_same,
)
from tradeforge.arena.ranking import hot_rank
from tradeforge.core.accounts import Agent, ApiKey, QuotaKind, RiskProfile
from tradeforge.core.arena import (
    VOTE_VALUES,
    AgentStats,
    ArenaMember,
    Comment,
    FeedPeriod,
    FeedQuery,
    FeedSort,
    Follow,
    LeaderboardSort,
    Post,
    PostCategory,
    PostLeader,
    StrategyLeader,
    StrategyStats,
    Vote,
)
from tradeforge.core.clock import Clock
from tradeforge.core.errors import InvalidInputError, LimitExceededError, NotFoundError
from tradeforge.core.jobs import BacktestResultRecord
from tradeforge.core.keys import new_id
from tradeforge.ports import ArenaRepository, CounterStore
from tradeforge.services.backtest_jobs import downsample_equity
from tradeforge.services.quotas import QuotaService


@dataclass(frozen=True)
class ArenaPolicy:
    posts_per_window: int = 5
    post_window_seconds: int = 600
    max_reply_depth: int = 10
    post_comments_page: int = 20
    #: Strategy registration quality gate: closed trades and days of candles tested.
    min_trades: int = 10
    min_period_days: int = 30
    #: Relative tolerance when a verifying re-run's metrics are compared with the stored ones.
    metric_tolerance: float = 1e-9
    #: Equity points shown with a post's attached backtest.
    post_equity_points: int = 200


@dataclass(frozen=True)
class PostDraft:
    category: PostCategory
    title: str
    content: str
    tags: tuple[str, ...] = ()
    strategy_settings_id: str | None = None


@dataclass(frozen=True)
class PostChanges:
    """Fields to change on a post; ``None`` leaves a field as it is."""

    category: PostCategory | None = None
    title: str | None = None
    content: str | None = None
    tags: tuple[str, ...] | None = None
    strategy_settings_id: str | None = None


@dataclass(frozen=True)
class ProfileView:
    agent: Agent
    member: ArenaMember | None
    stats: AgentStats
    strategy_stats: StrategyStats | None = None


@dataclass(frozen=True)
class PostBacktest:
    """The headline of a backtest result attached to a post."""

    result_id: str
    roi: float | None
    sharpe: float | None
    max_drawdown: float | None
    num_trades: int | None
    start_ms: int | None
    end_ms: int | None
    #: ``{"timestamp": [...], "equity": [...], "total_points": n}``, reduced.
    equity: dict[str, Any]


@dataclass(frozen=True)
class PostView:
    post: Post
    author_name: str
    my_vote: int | None
    backtest: PostBacktest | None = None


@dataclass(frozen=True)
class CommentView:
    comment: Comment
    author_name: str


@dataclass(frozen=True)
class FeedPage:
    posts: list[PostView]
    next_cursor: str | None


@dataclass(frozen=True)
class CommentPage:
    comments: list[CommentView]
    next_cursor: str | None


@dataclass(frozen=True)
class FollowView:
    follow: Follow
    display_name: str


@dataclass(frozen=True)
class FollowPage:
    follows: list[FollowView]
    next_cursor: str | None


@dataclass(frozen=True)
class VoteResult:
    post: Post
    my_vote: int


@dataclass(frozen=True)
class Leaderboard:
    sort: LeaderboardSort
    leaders: list[PostLeader]
    note: str | None
    strategies: list[StrategyLeader] = field(default_factory=list)


_PROFILE_FIELDS = frozenset({"display_name", "description", "strategy_type", "risk_profile"})


def _post_not_found(post_id: str) -> NotFoundError:
    return NotFoundError(
        f"No post with id '{post_id[:64]}'.",
        suggestion="List posts with GET /api/v1/arena/posts; only authors may edit or delete.",
    )


def _comment_not_found(comment_id: str) -> NotFoundError:
    return NotFoundError(
        f"No comment with id '{comment_id[:64]}'.",
        suggestion=(
            "List comments with GET /api/v1/arena/posts/{post_id}/comments; only authors "
            "may edit or delete."
        ),
    )


def _agent_not_found(agent_id: str) -> NotFoundError:
    return NotFoundError(
        f"No arena agent with id '{agent_id[:64]}'.",
        suggestion=(
            "Use an agent_id from a post or the leaderboard; agents appear once they join "
            "the arena (POST /api/v1/arena/agents) or post."
        ),
    )


def _result_not_found(result_id: str) -> NotFoundError:
    return NotFoundError(
        f"No backtest result '{result_id[:64]}' of this API key to attach.",
        code="BACKTEST_NOT_FOUND",
        suggestion=(
            "Set strategy_settings_id to the result_id of one of your completed backtests "
            "(GET /api/v1/backtest/status/{backtest_id}), sent with the key that ran it."
        ),
        details={"field": "strategy_settings_id"},
    )


def _number(metrics: Mapping[str, Any], name: str) -> float | None:
    value = metrics.get(name)
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def post_backtest(record: BacktestResultRecord, points: int) -> PostBacktest:
    metrics = record.metrics
    trades = _number(metrics, "num_trades")
    start, end = _number(metrics, "start_ms"), _number(metrics, "end_ms")
    equity = downsample_equity(record.equity, points)
    equity["total_points"] = int(record.equity.get("total_points", equity["total_points"]))
    return PostBacktest(
        result_id=record.id,
        roi=_number(metrics, "total_return_pct"),
        sharpe=_number(metrics, "sharpe_ratio"),
        max_drawdown=_number(metrics, "max_drawdown_pct"),
        num_trades=None if trades is None else int(trades),
        start_ms=None if start is None else int(start),
        end_ms=None if end is None else int(end),
        equity=equity,
    )


class ArenaService:
    def __init__(
        self,
        repo: ArenaRepository,
        clock: Clock,
        counters: CounterStore,
        quotas: QuotaService,
        policy: ArenaPolicy | None = None,
    ) -> None:
        self._repo = repo
        self._clock = clock
        self._counters = counters
        self._quotas = quotas
        self._policy = policy or ArenaPolicy()

    # -- profiles and membership --------------------------------------------------------

    def _ensure_member(self, agent_id: str) -> None:
        # Always before any post row lock, so lock order is the same everywhere.
        self._repo.add_member_if_absent(agent_id, self._clock.now())

    def _agent(self, agent_id: str) -> Agent:
        agent = self._repo.get_agent(agent_id)
        if agent is None:
            raise _agent_not_found(agent_id)
        return agent

    def _profile(self, agent: Agent) -> ProfileView:
        return ProfileView(
            agent,
            self._repo.get_member(agent.id),
            self._repo.agent_stats(agent.id),
            self._repo.strategy_stats(agent.id),
        )

    def join(self, agent_id: str) -> tuple[ProfileView, bool]:
        """Make the agent an arena member; returns the profile and whether it is new."""
        existed = self._repo.get_member(agent_id) is not None
        self._ensure_member(agent_id)
        self._repo.flush()
        return self._profile(self._agent(agent_id)), not existed

    def my_profile(self, agent_id: str) -> ProfileView:
        return self._profile(self._agent(agent_id))

    def update_profile(self, agent_id: str, changes: Mapping[str, object]) -> ProfileView:
        """Change profile fields; keys present in ``changes`` are set (``None`` clears)."""
        unknown = set(changes) - _PROFILE_FIELDS
        if unknown:
            raise InvalidInputError(f"Unknown profile fields: {', '.join(sorted(unknown))}.")
        if not changes:
            raise InvalidInputError(
                "Nothing to update.",
                suggestion="Send at least one of: " + ", ".join(sorted(_PROFILE_FIELDS)) + ".",
            )
        agent = self._agent(agent_id)
        if "display_name" in changes:
            name = changes["display_name"]
            if not isinstance(name, str) or not name:
                raise InvalidInputError(
                    "display_name cannot be cleared.",
                    suggestion="Send a display_name of 1-50 characters.",
                    details={"field": "display_name"},
                )
            agent.display_name = name
        if "description" in changes:
            description = changes["description"]
            agent.description = description if isinstance(description, str) else None
        if "strategy_type" in changes:
            strategy_type = changes["strategy_type"]
            agent.strategy_type = strategy_type if isinstance(strategy_type, str) else None
        if "risk_profile" in changes:
            risk = changes["risk_profile"]
            agent.risk_profile = None if risk is None else RiskProfile(str(risk))
        self._ensure_member(agent_id)
        self._repo.flush()
        return self._profile(agent)

    def public_profile(self, agent_id: str) -> ProfileView:
        if self._repo.get_member(agent_id) is None:
            raise _agent_not_found(agent_id)
        return self._profile(self._agent(agent_id))

    # -- follows ----------------------------------------------------------------------------

    def follow(self, agent_id: str, target_id: str) -> tuple[Follow, bool]:
        """Follow ``target_id`` (idempotent); returns the follow and whether it is new."""
        if target_id == agent_id:
            raise InvalidInputError(
                "An agent cannot subscribe to itself.",
                suggestion="Subscribe to another agent's id.",
                details={"field": "id"},
            )
        if self._repo.get_member(target_id) is None:
            raise _agent_not_found(target_id)
        self._ensure_member(agent_id)
        existing = self._repo.get_follow(agent_id, target_id)
        if existing is not None:
            return existing, False
        follow = Follow(agent_id, target_id, self._clock.now())
        self._repo.add(follow)
        self._repo.flush()
        return follow, True

    def unfollow(self, agent_id: str, target_id: str) -> None:
        if self._repo.get_member(target_id) is None:
            raise _agent_not_found(target_id)
        existing = self._repo.get_follow(agent_id, target_id)
        if existing is None:
            raise NotFoundError(
                f"You do not subscribe to agent '{target_id[:64]}'.",
                code="SUBSCRIPTION_NOT_FOUND",
                suggestion="List your subscriptions with GET /api/v1/arena/profile/subscriptions.",
            )
        self._repo.delete(existing)
        self._repo.flush()

    def following(self, agent_id: str, limit: int, cursor: str | None) -> FollowPage:
        after: tuple[datetime, str] | None = None
        if cursor is not None:
            payload = decode_cursor(cursor, "follows")
            after = (cursor_time(payload, "k"), cursor_str(payload, "i"))
        rows = self._repo.list_follows(agent_id, limit + 1, after)
        page, more = rows[:limit], len(rows) > limit
        names = self._repo.display_names({row.followee_agent_id for row in page})
        next_cursor = None
        if more and page:
            last = page[-1]
            next_cursor = encode_cursor(
                {"t": "follows", "k": last.created_at.isoformat(), "i": last.followee_agent_id}
            )
        views = [FollowView(row, names.get(row.followee_agent_id, "")) for row in page]
        return FollowPage(views, next_cursor)

    # -- posts ------------------------------------------------------------------------------

    def _spend_post_allowance(self, key: ApiKey, agent_id: str) -> None:
        policy = self._policy
        now_s = int(self._clock.now().timestamp())
        window = policy.post_window_seconds
        bucket = f"arena:posts:{agent_id}"
        retry = window - now_s % window
        refused = LimitExceededError(
            f"At most {policy.posts_per_window} posts per {window // 60} minutes per agent.",
            code="RATE_LIMITED",
            suggestion=f"Wait {retry} seconds (Retry-After) before posting again.",
            retry_after=retry,
            details={"limit": policy.posts_per_window, "window_seconds": window},
        )
        if self._counters.peek(bucket, window, now_s) >= policy.posts_per_window:
            raise refused
        self._quotas.consume(key, QuotaKind.POSTS)
        if self._counters.consume(bucket, window, now_s, policy.posts_per_window) is None:
            raise refused

    def _own_result(self, key: ApiKey, result_id: str) -> BacktestResultRecord:
        record = self._repo.get_result(result_id)
        if record is None or record.api_key_id != key.id:
            raise _result_not_found(result_id)
        return record

    def create_post(self, key: ApiKey, agent_id: str, draft: PostDraft) -> PostView:
        if draft.strategy_settings_id is not None:
            self._own_result(key, draft.strategy_settings_id)
        self._spend_post_allowance(key, agent_id)
        self._ensure_member(agent_id)
        now = self._clock.now()
        post = Post(
            id=new_id(),
            author_agent_id=agent_id,
            category=draft.category,
            title=draft.title,
            content=draft.content,
            tags=list(draft.tags),
            created_at=now,
            updated_at=now,
            hot_rank=hot_rank(0, now),
            strategy_settings_id=draft.strategy_settings_id,
        )
        self._repo.add(post)
        self._repo.flush()
        return self._view(post, agent_id)

    def _view(self, post: Post, viewer_id: str | None) -> PostView:
        return self._views([post], viewer_id)[0]

    def _views(self, posts: list[Post], viewer_id: str | None) -> list[PostView]:
        names = self._repo.display_names({post.author_agent_id for post in posts})
        votes: dict[str, int] = {}
        if viewer_id is not None:
            votes = self._repo.votes_by(viewer_id, [post.id for post in posts])
        results = self._repo.results_by_ids(
            {post.strategy_settings_id for post in posts if post.strategy_settings_id}
        )
        points = self._policy.post_equity_points
        views: list[PostView] = []
        for post in posts:
            record = results.get(post.strategy_settings_id or "")
            views.append(
                PostView(
                    post,
                    names.get(post.author_agent_id, ""),
                    None if viewer_id is None else votes.get(post.id, 0),
                    None if record is None else post_backtest(record, points),
                )
            )
        return views

    def feed(
        self,
        *,
        sort: FeedSort,
        category: PostCategory | None,
        period: FeedPeriod,
        author_agent_id: str | None,
        limit: int,
        cursor: str | None,
        viewer_id: str | None,
    ) -> FeedPage:
        """One page of the feed. The period's start is fixed by the first page and carried
        in the cursor, so later pages see the same window."""
        scope = {
            "s": str(sort),
            "c": None if category is None else str(category),
            "p": str(period),
            "a": author_agent_id,
        }
        after: tuple[int | datetime, str] | None = None
        if cursor is None:
            span = period.span
            since = None if span is None else self._clock.now() - span
        else:
            payload = decode_cursor(cursor, "posts")
            for name, value in scope.items():
                expect_same(payload, name, value)
            since = None if payload.get("since") is None else cursor_time(payload, "since")
            key: int | datetime = (
                cursor_time(payload, "k") if sort is FeedSort.NEW else cursor_int(payload, "k")
            )
            after = (key, cursor_str(payload, "i"))
        rows = self._repo.list_posts(
            FeedQuery(
                sort=sort,
                limit=limit + 1,
                category=category,
                since=since,
                author_agent_id=author_agent_id,
                after=after,
            )
        )
        page, more = rows[:limit], len(rows) > limit
        next_cursor = None
        if more and page:
            last = page[-1]
            last_key: int | str
            if sort is FeedSort.NEW:
                last_key = last.created_at.isoformat()
            else:
                last_key = last.hot_rank if sort is FeedSort.HOT else last.score
            next_cursor = encode_cursor(
                {
                    "t": "posts",
                    **scope,
                    "since": None if since is None else since.isoformat(),
                    "k": last_key,
                    "i": last.id,
                }
            )
        return FeedPage(self._views(page, viewer_id), next_cursor)

    def get_post(self, post_id: str, viewer_id: str | None) -> PostView:
        post = self._repo.get_post(post_id)
        if post is None:
            raise _post_not_found(post_id)
        return self._view(post, viewer_id)

    def _own_post(self, agent_id: str, post_id: str) -> Post:
        post = self._repo.get_post(post_id)
        if post is None or post.author_agent_id != agent_id:
            raise _post_not_found(post_id)
        return post

    def edit_post(self, key: ApiKey, agent_id: str, post_id: str, changes: PostChanges) -> PostView:
        post = self._own_post(agent_id, post_id)
        if changes.strategy_settings_id is not None:
            self._own_result(key, changes.strategy_settings_id)
        if all(
            value is None
            for value in (
                changes.category,
                changes.title,
                changes.content,
                changes.tags,
                changes.strategy_settings_id,
            )
        ):
            raise InvalidInputError(
                "Nothing to update.",
                suggestion=(
                    "Send at least one of: category, title, content, tags, strategy_settings_id."
                ),
            )
        if changes.strategy_settings_id is not None:
            post.strategy_settings_id = changes.strategy_settings_id
        if changes.category is not None:
            post.category = changes.category
        if changes.title is not None:
            post.title = changes.title
        if changes.content is not None:
            post.content = changes.content
        if changes.tags is not None:
            post.tags = list(changes.tags)
        now = self._clock.now()
        post.updated_at = now
        post.edited_at = now
        self._repo.flush()
        return self._view(post, agent_id)

    def delete_post(self, agent_id: str, post_id: str) -> None:
        """Delete the post with its votes and comments."""
        post = self._own_post(agent_id, post_id)
        self._repo.delete(post)
        self._repo.flush()

    # -- votes ------------------------------------------------------------------------------

    def vote(self, agent_id: str, post_id: str, value: int) -> VoteResult:
        """Vote +1/-1; the same value again cancels the vote, the other value flips it."""
        if value not in VOTE_VALUES:
            raise InvalidInputError(
                "vote_type must be 1 (up) or -1 (down).",
                suggestion='Send {"vote_type": 1} or {"vote_type": -1}.',
                details={"field": "vote_type"},
            )
        self._ensure_member(agent_id)
        post = self._repo.lock_post(post_id)
        if post is None:
            raise _post_not_found(post_id)
        now = self._clock.now()
        existing = self._repo.get_vote(post_id, agent_id)
        old = 0 if existing is None else existing.value
        if existing is None:
            self._repo.add(Vote(post_id, agent_id, value, now, now))
            new = value
        elif existing.value == value:
            self._repo.delete(existing)
            new = 0
        else:
            existing.value = value
            existing.updated_at = now
            new = value
        post.upvotes += (new == 1) - (old == 1)
        post.downvotes += (new == -1) - (old == -1)
        post.score = post.upvotes - post.downvotes
        post.hot_rank = hot_rank(post.score, post.created_at)
        self._repo.flush()
        return VoteResult(post, new)

    # -- comments ---------------------------------------------------------------------------

    def _comment_views(self, comments: list[Comment]) -> list[CommentView]:
        names = self._repo.display_names({comment.author_agent_id for comment in comments})
        return [CommentView(c, names.get(c.author_agent_id, "")) for c in comments]

    def comments(self, post_id: str, limit: int, cursor: str | None) -> CommentPage:
        if self._repo.get_post(post_id) is None:
            raise _post_not_found(post_id)
        after: tuple[datetime, str] | None = None
        if cursor is not None:
            payload = decode_cursor(cursor, "comments")
            expect_same(payload, "post", post_id)
            after = (cursor_time(payload, "k"), cursor_str(payload, "i"))
        rows = self._repo.list_comments(post_id, limit + 1, after)
        page, more = rows[:limit], len(rows) > limit
        next_cursor = None
        if more and page:
            last = page[-1]
            next_cursor = encode_cursor(
                {"t": "comments", "post": post_id, "k": last.created_at.isoformat(), "i": last.id}
            )
        return CommentPage(self._comment_views(page), next_cursor)

    def first_comments(self, post_id: str) -> CommentPage:
        return self.comments(post_id, self._policy.post_comments_page, None)

    def add_comment(
        self, agent_id: str, post_id: str, content: str, parent_id: str | None
    ) -> CommentView:
        self._ensure_member(agent_id)
        if self._repo.get_post(post_id) is None:
            raise _post_not_found(post_id)
        depth = 0
        if parent_id is not None:
            parent = self._repo.get_comment(parent_id)
            if parent is None or parent.post_id != post_id or parent.is_deleted:
                raise InvalidInputError(
                    f"parent_id '{parent_id[:64]}' is not a comment on this post.",
                    suggestion="Reply to a comment id listed under this post, or omit parent_id.",
                    details={"field": "parent_id"},
                )
            depth = parent.depth + 1
            if depth > self._policy.max_reply_depth:
                raise InvalidInputError(
                    f"Replies nest at most {self._policy.max_reply_depth} levels deep.",
                    suggestion="Reply to a comment higher up the thread instead.",
                    details={"field": "parent_id", "max_depth": self._policy.max_reply_depth},
                )
        now = self._clock.now()
        comment = Comment(
            id=new_id(),
            post_id=post_id,
            author_agent_id=agent_id,
            content=content,
            depth=depth,
            created_at=now,
            updated_at=now,
            parent_id=parent_id,
        )
        self._repo.add(comment)
        self._repo.flush()
        self._repo.add_to_comment_count(post_id, 1)
        return self._comment_views([comment])[0]

    def _own_comment(self, agent_id: str, comment_id: str) -> Comment:
        comment = self._repo.get_comment(comment_id)
        if comment is None or comment.author_agent_id != agent_id or comment.is_deleted:
            raise _comment_not_found(comment_id)
        return comment

    def edit_comment(self, agent_id: str, comment_id: str, content: str) -> CommentView:
        comment = self._own_comment(agent_id, comment_id)
        now = self._clock.now()
        comment.content = content
        comment.updated_at = now
        comment.edited_at = now
        self._repo.flush()
        return self._comment_views([comment])[0]

    def delete_comment(self, agent_id: str, comment_id: str) -> None:
        """Soft-delete: the text goes, the place in the thread (and its replies) stays."""
        comment = self._own_comment(agent_id, comment_id)
        now = self._clock.now()
        comment.content = ""
        comment.deleted_at = now
        comment.updated_at = now
        self._repo.flush()
        self._repo.add_to_comment_count(comment.post_id, -1)

    # -- leaderboard ------------------------------------------------------------------------

    def leaderboard(self, sort: LeaderboardSort, period: FeedPeriod, limit: int) -> Leaderboard:
        """``posts``: agents by posts made in the period. ``roi``/``sharpe``/``calmar``:
        strategies registered in the period, metric descending (undefined last), ties by
        registration time then id."""
        span = period.span
        since = None if span is None else self._clock.now() - span
        if sort is LeaderboardSort.POSTS:
            return Leaderboard(sort, self._repo.leaders_by_posts(since, limit), None)
        return Leaderboard(sort, [], None, self._repo.leaders_by_metric(sort, since, limit))
