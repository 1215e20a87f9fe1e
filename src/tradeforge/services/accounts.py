"""Accounts use cases: agent self-registration, claiming, human logins, operator keys."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from tradeforge.core.accounts import (
    CLAIM_SCOPES,
    Agent,
    ApiKey,
    ClaimCode,
    KeyKind,
    RiskProfile,
    Scope,
    User,
    UserSession,
)
from tradeforge.core.clock import Clock
from tradeforge.core.errors import (
    AuthError,
    ConflictError,
    InvalidInputError,
    LimitExceededError,
    NotFoundError,
)
from tradeforge.core.keys import (
    digest,
    digests_equal,
    is_session_token,
    issue_api_key,
    issue_claim_code,
    issue_session_token,
    new_id,
    parse_api_key,
)
from tradeforge.ports import AccountRepository, CounterStore
from tradeforge.services.passwords import (
    MAX_PASSWORD_LENGTH,
    MIN_PASSWORD_LENGTH,
    hash_password,
    verify_password,
)

_EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
_LAST_USED_RESOLUTION = timedelta(minutes=1)
_CLAIM_ATTEMPTS_PER_15_MIN = 10
_LOGIN_FAILURES_PER_15_MIN = 10
#: Failed claim-code lookups and claims from one address (several users may share one).
_CLAIM_FAILURES_PER_IP_PER_15_MIN = 30
_CLAIM_WINDOW_SECONDS = 900
_CLAIM_CODE_RE = re.compile(r"[0-9]{6}")


@dataclass(frozen=True)
class AccountPolicy:
    provisional_key_ttl: timedelta = timedelta(hours=24)
    claim_code_ttl: timedelta = timedelta(minutes=30)
    registrations_per_ip_per_hour: int = 5
    max_agents_per_user: int = 10
    session_ttl: timedelta = timedelta(hours=12)


@dataclass(frozen=True)
class AgentProfile:
    display_name: str
    description: str | None = None
    strategy_type: str | None = None
    risk_profile: RiskProfile | None = None


@dataclass(frozen=True)
class IssuedApiKey:
    """A new key: ``plaintext`` is returned to the caller once and never stored."""

    plaintext: str
    key: ApiKey
    agent: Agent


@dataclass(frozen=True)
class Principal:
    """Who is calling with an API key."""

    key: ApiKey
    agent: Agent


@dataclass(frozen=True)
class IssuedClaimCode:
    code: str
    expires_at: datetime


@dataclass(frozen=True)
class ClaimPreview:
    """The agent a claim code would claim, looked up without using the code up.

    ``claim_ref`` is the claim code's id: the confirmation must name the same one, so a
    code edited between the two steps is refused. It reveals nothing without the code.
    """

    claim_ref: str
    agent: Agent
    key: ApiKey
    code_expires_at: datetime
    already_owned: bool


@dataclass(frozen=True)
class IssuedSession:
    token: str
    session: UserSession
    user: User


def _invalid_claim_code() -> InvalidInputError:
    return InvalidInputError(
        "The claim code is invalid or has expired.",
        code="INVALID_CLAIM_CODE",
        suggestion="Codes are 6 digits and last 30 minutes: ask the agent for a new one.",
    )


def normalise_email(email: str) -> str:
    value = email.strip().lower()
    if not _EMAIL_RE.match(value) or len(value) > 320:
        raise InvalidInputError(
            f"'{email[:80]}' is not a valid email address.",
            suggestion="Use an address of the form name@example.com.",
        )
    return value


class AccountService:
    def __init__(
        self,
        repo: AccountRepository,
        clock: Clock,
        counters: CounterStore,
        policy: AccountPolicy | None = None,
    ) -> None:
        self._repo = repo
        self._clock = clock
        self._counters = counters
        self._policy = policy or AccountPolicy()

    # -- agents and keys -----------------------------------------------------------------

    def register(self, profile: AgentProfile, client_ip: str) -> IssuedApiKey:
        """Self-register an agent and issue its provisional, research-only key."""
        now = self._clock.now()
        limit = self._policy.registrations_per_ip_per_hour
        now_s = int(now.timestamp())
        if self._counters.consume(f"register:{client_ip}", 3600, now_s, limit) is None:
            retry = 3600 - now_s % 3600
            raise LimitExceededError(
                f"At most {limit} registrations per hour from one address.",
                code="REGISTRATION_LIMIT",
                suggestion=(
                    f"Reuse the key you already have, or retry in {retry} seconds. For more "
                    "agents, create a user account and issue keys from it."
                ),
                retry_after=retry,
            )
        agent = self._new_agent(profile, now)
        return self._issue(agent, KeyKind.PROVISIONAL, frozenset({Scope.RESEARCH}), None, now)

    def issue_key_for_user(
        self,
        user: User,
        scopes: frozenset[Scope],
        *,
        name: str | None = None,
        agent_id: str | None = None,
        display_name: str | None = None,
    ) -> IssuedApiKey:
        """Issue a full (``tf_live_``) key to a user, for an existing or a new agent."""
        now = self._clock.now()
        if not scopes:
            raise InvalidInputError(
                "A key needs at least one scope.",
                code="INVALID_PERMISSIONS",
                suggestion="Choose from: research, read, trade.",
            )
        if agent_id is not None:
            agent = self._repo.get_agent(agent_id)
            if agent is None or agent.owner_user_id != user.id:
                raise NotFoundError(
                    f"Agent '{agent_id}' not found.",
                    suggestion="List your agents with 'tradeforge keys list --email ...'.",
                )
        else:
            self._check_agent_limit(user)
            agent = self._new_agent(AgentProfile(display_name or name or "Agent"), now)
            agent.owner_user_id = user.id
            agent.claimed_at = now
        issued = self._issue(agent, KeyKind.LIVE, scopes, None, now, name=name)
        issued.key.claimed = True
        return issued

    def _new_agent(self, profile: AgentProfile, now: datetime) -> Agent:
        agent = Agent(
            id=new_id(),
            display_name=profile.display_name,
            description=profile.description,
            strategy_type=profile.strategy_type,
            risk_profile=profile.risk_profile,
            created_at=now,
        )
        self._repo.add(agent)
        return agent

    def _issue(
        self,
        agent: Agent,
        kind: KeyKind,
        scopes: frozenset[Scope],
        expires_at: datetime | None,
        now: datetime,
        *,
        name: str | None = None,
    ) -> IssuedApiKey:
        minted = issue_api_key(kind)
        if kind is KeyKind.PROVISIONAL:
            expires_at = now + self._policy.provisional_key_ttl
        key = ApiKey(
            id=new_id(),
            agent_id=agent.id,
            lookup_id=minted.lookup_id,
            key_hash=minted.key_hash,
            kind=kind,
            scopes=scopes,
            created_at=now,
            expires_at=expires_at,
            name=name,
        )
        self._repo.add(key)
        self._repo.flush()
        return IssuedApiKey(plaintext=minted.plaintext, key=key, agent=agent)

    def authenticate_key(self, raw: str) -> Principal:
        """Resolve a bearer API key, refusing malformed, unknown, revoked or expired ones."""
        parsed = parse_api_key(raw)
        key = None if parsed is None else self._repo.get_api_key_by_lookup(parsed.lookup_id)
        if key is None or not digests_equal(key.key_hash, digest(raw)) or key.is_revoked:
            raise AuthError(
                "The API key is invalid or has been revoked.",
                code="INVALID_API_KEY",
                suggestion=(
                    "Check that the whole key was sent as 'Authorization: Bearer <key>'. "
                    "Lost it? Register again with POST /api/v1/meta/register."
                ),
            )
        now = self._clock.now()
        if key.is_expired(now):
            raise AuthError(
                "This provisional API key expired because it was not claimed within 24 hours.",
                code="EXPIRED_API_KEY",
                suggestion=(
                    "Register again with POST /api/v1/meta/register, and claim the new key "
                    "(POST /api/v1/meta/request-claim) before it expires."
                ),
            )
        agent = self._repo.get_agent(key.agent_id)
        assert agent is not None  # foreign key guarantees it
        if key.last_used_at is None or now - key.last_used_at >= _LAST_USED_RESOLUTION:
            key.last_used_at = now
        return Principal(key=key, agent=agent)

    def reload(self, principal: Principal) -> Principal:
        """Return the principal's key and agent as loaded in this service's unit of work."""
        key = self._repo.get_api_key(principal.key.id)
        agent = self._repo.get_agent(principal.agent.id)
        assert key is not None
        assert agent is not None
        return Principal(key=key, agent=agent)

    def update_profile(self, agent: Agent, changes: dict[str, object]) -> Agent:
        for field in ("display_name", "description", "strategy_type", "risk_profile"):
            if field in changes:
                setattr(agent, field, changes[field])
        return agent

    def get_agent(self, agent_id: str) -> Agent:
        agent = self._repo.get_agent(agent_id)
        if agent is None:
            raise NotFoundError(f"Agent '{agent_id}' not found.", suggestion="Check the id.")
        return agent

    def list_keys(self, user: User | None = None) -> list[ApiKey]:
        return self._repo.list_api_keys(None if user is None else user.id)

    def revoke_key(self, key_id: str, user: User | None = None) -> ApiKey:
        """Revoke a key; with ``user``, only one of that user's keys (others look absent)."""
        key = self._repo.get_api_key(key_id)
        if key is not None and user is not None:
            agent = self._repo.get_agent(key.agent_id)
            if agent is None or agent.owner_user_id != user.id:
                key = None
        if key is None:
            raise NotFoundError(
                f"API key '{key_id}' not found.",
                code="KEY_NOT_FOUND",
                suggestion="List keys to find the id ('tradeforge keys list').",
            )
        if key.revoked_at is None:
            key.revoked_at = self._clock.now()
        return key

    # -- claiming ------------------------------------------------------------------------

    def request_claim(self, principal: Principal, profile: AgentProfile | None) -> IssuedClaimCode:
        """Issue a 6-digit code a human enters to take ownership of this agent."""
        if principal.agent.is_claimed:
            raise ConflictError(
                "This agent is already claimed.",
                code="ALREADY_CLAIMED",
                suggestion="Nothing to do: GET /api/v1/meta/agents/me shows its owner and scopes.",
            )
        if profile is not None:
            self.update_profile(principal.agent, profile.__dict__)
        now = self._clock.now()
        self._repo.expire_claim_codes(principal.key.id, now)
        for _ in range(5):
            code = issue_claim_code()
            if self._repo.find_claim_code(digest(code), now) is None:
                break
        else:  # pragma: no cover - one in 10^6 per attempt
            raise ConflictError("Could not allocate a claim code.", suggestion="Retry.")
        claim = ClaimCode(
            id=new_id(),
            api_key_id=principal.key.id,
            code_hash=digest(code),
            created_at=now,
            expires_at=now + self._policy.claim_code_ttl,
        )
        self._repo.add(claim)
        return IssuedClaimCode(code=code, expires_at=claim.expires_at)

    def claim(self, user: User, code: str, requested: list[str]) -> Principal:
        """Attach the agent behind ``code`` to ``user`` and widen its key's scopes."""
        scopes = set(CLAIM_SCOPES)
        unknown = [scope for scope in requested if scope not in Scope.__members__.values()]
        if unknown:
            raise InvalidInputError(
                f"Unknown scope(s): {', '.join(map(repr, unknown))}.",
                code="INVALID_PERMISSIONS",
                suggestion="Scopes are 'research', 'read' and 'trade'.",
            )
        scopes.update(Scope(scope) for scope in requested)
        now = self._clock.now()
        now_s = int(now.timestamp())
        if (
            self._counters.consume(f"claim:{user.id}", 900, now_s, _CLAIM_ATTEMPTS_PER_15_MIN)
            is None
        ):
            raise LimitExceededError(
                "Too many claim attempts.",
                code="RATE_LIMITED",
                suggestion="Wait 15 minutes, then enter the newest code your agent gave you.",
                retry_after=900 - now_s % 900,
            )
        claim = None
        if re.fullmatch(r"\d{6}", code):
            claim = self._repo.find_claim_code(digest(code), now)
        key = None if claim is None else self._repo.get_api_key(claim.api_key_id)
        if claim is None or key is None or key.is_revoked or key.is_expired(now):
            raise InvalidInputError(
                "The claim code is invalid or has expired.",
                code="INVALID_CLAIM_CODE",
                suggestion="Codes are 6 digits and last 30 minutes: ask the agent for a new one.",
            )
        agent = self._repo.get_agent(key.agent_id)
        assert agent is not None
        if agent.owner_user_id is not None and agent.owner_user_id != user.id:
            raise ConflictError(
                "This agent's key already belongs to another user.",
                code="KEY_OWNED_BY_OTHER_USER",
                suggestion="Ask that user to revoke it, or have the agent register a new key.",
            )
        if agent.owner_user_id is None:
            self._check_agent_limit(user)
        claim.used_at = now
        agent.owner_user_id = user.id
        agent.claimed_at = agent.claimed_at or now
        key.scopes = frozenset(scopes)
        key.expires_at = None
        key.claimed = True
        return Principal(key=key, agent=agent)

    def preview_claim(self, user: User, code: str, client_ip: str) -> ClaimPreview:
        """Show what ``code`` would claim without using it (the dashboard's first step).

        A lookup answers "is this one of the live codes?", an oracle over a million codes,
        so it is limited the way logins are: each failed lookup counts against the
        user's claim-attempt counter (the one :meth:`claim` consumes, so lookups and
        claims share it) and against a per-address counter; once either is full, lookups
        are refused with ``RATE_LIMITED`` until the 15-minute window ends. A lookup that
        finds a claimable agent costs nothing. The errors are those :meth:`claim` gives.
        """
        now = self._clock.now()
        now_s = int(now.timestamp())
        self._check_claim_failures(user, client_ip, now_s)
        try:
            return self._preview(user, code, now)
        except (InvalidInputError, ConflictError) as error:
            if error.code != "AGENT_LIMIT_REACHED":  # the code was found; nothing guessed
                self._count_claim_failure(user, client_ip, now_s)
            raise

    def confirm_claim(
        self, user: User, code: str, requested: list[str], client_ip: str, claim_ref: str
    ) -> Principal:
        """Claim after :meth:`preview_claim` (the dashboard's second step).

        The code is looked up again under the same limits, and must still lead to the
        claim code ``claim_ref`` the user saw; then :meth:`claim` does the claiming, its
        own attempt counter included. A different or stale code is ``INVALID_CLAIM_CODE``
        and counts as a failed attempt.
        """
        preview = self.preview_claim(user, code, client_ip)
        if not secrets.compare_digest(preview.claim_ref.encode(), claim_ref.encode()):
            self._count_claim_failure(user, client_ip, int(self._clock.now().timestamp()))
            raise _invalid_claim_code()
        return self.claim(user, code, requested)

    def _preview(self, user: User, code: str, now: datetime) -> ClaimPreview:
        claim = None
        if _CLAIM_CODE_RE.fullmatch(code):
            claim = self._repo.find_claim_code(digest(code), now)
        key = None if claim is None else self._repo.get_api_key(claim.api_key_id)
        if claim is None or key is None or key.is_revoked or key.is_expired(now):
            raise _invalid_claim_code()
        agent = self._repo.get_agent(key.agent_id)
        assert agent is not None
        if agent.owner_user_id is not None and agent.owner_user_id != user.id:
            raise ConflictError(
                "This agent's key already belongs to another user.",
                code="KEY_OWNED_BY_OTHER_USER",
                suggestion="Ask that user to revoke it, or have the agent register a new key.",
            )
        if agent.owner_user_id is None:
            self._check_agent_limit(user)
        return ClaimPreview(
            claim_ref=claim.id,
            agent=agent,
            key=key,
            code_expires_at=claim.expires_at,
            already_owned=agent.owner_user_id == user.id,
        )

    def _claim_buckets(self, user: User, client_ip: str) -> tuple[tuple[str, int], ...]:
        return (
            (f"claim:{user.id}", _CLAIM_ATTEMPTS_PER_15_MIN),
            (f"claim-failures:{client_ip}", _CLAIM_FAILURES_PER_IP_PER_15_MIN),
        )

    def _check_claim_failures(self, user: User, client_ip: str, now_s: int) -> None:
        for bucket, limit in self._claim_buckets(user, client_ip):
            if self._counters.peek(bucket, _CLAIM_WINDOW_SECONDS, now_s) >= limit:
                retry = _CLAIM_WINDOW_SECONDS - now_s % _CLAIM_WINDOW_SECONDS
                raise LimitExceededError(
                    "Too many claim attempts.",
                    code="RATE_LIMITED",
                    suggestion=(
                        f"Try again in {retry} seconds (about {-(-retry // 60)} min), then "
                        "enter the newest code your agent gave you."
                    ),
                    retry_after=retry,
                )

    def _count_claim_failure(self, user: User, client_ip: str, now_s: int) -> None:
        for bucket, _ in self._claim_buckets(user, client_ip):
            self._counters.hit(bucket, _CLAIM_WINDOW_SECONDS, now_s)

    def _check_agent_limit(self, user: User) -> None:
        limit = self._policy.max_agents_per_user
        if self._repo.count_agents_owned(user.id) >= limit:
            raise ConflictError(
                f"A user may own at most {limit} agents.",
                code="AGENT_LIMIT_REACHED",
                suggestion="Revoke an agent you no longer use on /dashboard/agents, then retry.",
            )

    # -- humans --------------------------------------------------------------------------

    def create_user(self, email: str, password: str) -> User:
        address = normalise_email(email)
        if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
            raise InvalidInputError(
                f"Passwords must be {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters.",
                suggestion="Use a longer passphrase (a password manager helps).",
            )
        if self._repo.get_user_by_email(address) is not None:
            raise ConflictError(
                f"A user with email '{address}' already exists.",
                code="USER_EXISTS",
                suggestion="Log in instead, or pick another email.",
            )
        user = User(
            id=new_id(),
            email=address,
            password_hash=hash_password(password),
            created_at=self._clock.now(),
        )
        self._repo.add(user)
        self._repo.flush()
        return user

    def get_user_by_email(self, email: str) -> User:
        user = self._repo.get_user_by_email(normalise_email(email))
        if user is None:
            raise NotFoundError(
                f"No user with email '{email}'.",
                code="USER_NOT_FOUND",
                suggestion="Create one with 'tradeforge users create --email ...'.",
            )
        return user

    def list_users(self) -> list[User]:
        return self._repo.list_users()

    def login(self, email: str, password: str, client_ip: str) -> IssuedSession:
        now = self._clock.now()
        now_s = int(now.timestamp())
        bucket = f"login:{client_ip}"
        if self._counters.peek(bucket, 900, now_s) >= _LOGIN_FAILURES_PER_15_MIN:
            raise LimitExceededError(
                "Too many failed logins from this address.",
                code="RATE_LIMITED",
                suggestion="Wait 15 minutes before trying again.",
                retry_after=900 - now_s % 900,
            )
        try:
            address = normalise_email(email)
        except InvalidInputError:
            address = ""
        user = self._repo.get_user_by_email(address) if address else None
        ok = verify_password(None if user is None else user.password_hash, password)
        if user is None or not ok or not user.is_active:
            self._counters.hit(bucket, 900, now_s)
            raise AuthError(
                "Email or password is wrong.",
                code="INVALID_CREDENTIALS",
                suggestion="Check both and retry; operators can reset users with the CLI.",
            )
        token, token_hash = issue_session_token()
        session = UserSession(
            id=new_id(),
            user_id=user.id,
            token_hash=token_hash,
            created_at=now,
            expires_at=now + self._policy.session_ttl,
        )
        self._repo.add(session)
        return IssuedSession(token=token, session=session, user=user)

    def authenticate_session(self, token: str) -> User:
        session = self._repo.get_session_by_hash(digest(token)) if is_session_token(token) else None
        if session is None or self._clock.now() >= session.expires_at:
            raise AuthError(
                "You are not logged in, or your session expired.",
                code="AUTHENTICATION_REQUIRED",
                suggestion="Log in with POST /api/v1/auth/login and send the returned token.",
            )
        user = self._repo.get_user(session.user_id)
        if user is None or not user.is_active:
            raise AuthError(
                "This account is disabled.",
                code="AUTHENTICATION_REQUIRED",
                suggestion="Contact the operator of this tradeforge instance.",
            )
        return user

    def logout(self, token: str) -> None:
        session = self._repo.get_session_by_hash(digest(token)) if is_session_token(token) else None
        if session is not None:
            self._repo.delete(session)

    def owner_email(self, agent: Agent) -> str | None:
        if agent.owner_user_id is None:
            return None
        user = self._repo.get_user(agent.owner_user_id)
        return None if user is None else user.email
