"""SQLAlchemy implementation of :class:`tradeforge.ports.AccountRepository`."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from tradeforge.adapters.storage.tables import agents, api_keys, claim_codes, map_domain, users
from tradeforge.core.accounts import Agent, ApiKey, ClaimCode, User, UserSession


class SqlAccountRepository:
    def __init__(self, session: Session) -> None:
        map_domain()
        self._session = session

    def add(self, obj: User | Agent | ApiKey | ClaimCode | UserSession) -> None:
        self._session.add(obj)

    def flush(self) -> None:
        self._session.flush()

    def get_user(self, user_id: str) -> User | None:
        return self._session.get(User, user_id)

    def get_user_by_email(self, email: str) -> User | None:
        return self._session.scalars(select(User).filter_by(email=email)).one_or_none()

    def list_users(self) -> list[User]:
        return list(self._session.scalars(select(User).order_by(users.c.created_at)))

    def get_agent(self, agent_id: str) -> Agent | None:
        return self._session.get(Agent, agent_id)

    def count_agents_owned(self, user_id: str) -> int:
        query = select(func.count()).select_from(Agent).filter_by(owner_user_id=user_id)
        return int(self._session.scalar(query) or 0)

    def get_api_key(self, key_id: str) -> ApiKey | None:
        return self._session.get(ApiKey, key_id)

    def get_api_key_by_lookup(self, lookup_id: str) -> ApiKey | None:
        return self._session.scalars(select(ApiKey).filter_by(lookup_id=lookup_id)).one_or_none()

    def list_api_keys(self, owner_user_id: str | None = None) -> list[ApiKey]:
        query = select(ApiKey)
        if owner_user_id is not None:
            query = query.join(agents, agents.c.id == api_keys.c.agent_id).where(
                agents.c.owner_user_id == owner_user_id
            )
        return list(self._session.scalars(query.order_by(api_keys.c.created_at)))

    def keys_of_agent(self, agent_id: str) -> list[ApiKey]:
        return list(self._session.scalars(select(ApiKey).filter_by(agent_id=agent_id)))

    def find_claim_code(self, code_hash: str, now: datetime) -> ClaimCode | None:
        query = (
            select(ClaimCode)
            .filter_by(code_hash=code_hash, used_at=None)
            .where(claim_codes.c.expires_at > now)
        )
        return self._session.scalars(query).first()

    def expire_claim_codes(self, api_key_id: str, now: datetime) -> None:
        self._session.execute(
            update(claim_codes)
            .where(claim_codes.c.api_key_id == api_key_id, claim_codes.c.used_at.is_(None))
            .values(used_at=now)
        )

    def get_session_by_hash(self, token_hash: str) -> UserSession | None:
        query = select(UserSession).filter_by(token_hash=token_hash)
        return self._session.scalars(query).one_or_none()

    def delete(self, obj: UserSession) -> None:
        self._session.delete(obj)
