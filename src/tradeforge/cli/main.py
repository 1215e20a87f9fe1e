"""``tradeforge``: serve the API, migrate the database, manage users, keys and data."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from tradeforge.buildinfo import VERSION, git_commit
from tradeforge.config import Settings, get_settings
from tradeforge.core.accounts import Scope
from tradeforge.core.errors import TradeforgeError
from tradeforge.observability import configure_logging

if TYPE_CHECKING:
    from tradeforge.services.accounts import AccountService

app = typer.Typer(
    name="tradeforge",
    help="Self-hosted trading research and automation platform.",
    no_args_is_help=True,
    add_completion=False,
)
db_app = typer.Typer(help="Database schema management.", no_args_is_help=True)
users_app = typer.Typer(help="Human user accounts.", no_args_is_help=True)
keys_app = typer.Typer(
    help="API keys (shown once at creation, stored only as hashes).", no_args_is_help=True
)
app.add_typer(db_app, name="db")
app.add_typer(users_app, name="users")
app.add_typer(keys_app, name="keys")

# Piped output (scripts, CI) gets wide tables so ids and key prefixes are never cut off.
console = Console(width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 200)

# Feature CLIs live next to their code and are mounted here when present: a module exposes
# either ``app`` (a Typer group, mounted as a sub-command) or ``command`` (one function).
for _name, _module in (
    ("data", "tradeforge.cli.data"),
    ("backtest", "tradeforge.cli.backtest"),
    ("worker", "tradeforge.cli.worker"),
):
    try:
        _sub = importlib.import_module(_module)
    except ModuleNotFoundError as _missing:  # pragma: no cover - feature not installed
        if _missing.name != _module:
            raise
        continue
    if isinstance(getattr(_sub, "app", None), typer.Typer):
        app.add_typer(_sub.app, name=_name)
    elif callable(getattr(_sub, "command", None)):
        app.command(_name)(_sub.command)


@contextmanager
def _errors() -> Iterator[None]:
    """Print our errors as code, message and suggestion instead of a traceback."""
    try:
        yield
    except TradeforgeError as e:
        err.print(f"[bold red]{e.code}[/]: {e.message}")
        err.print(f"[yellow]suggestion[/]: {e.suggestion}")
        raise typer.Exit(2) from None


def _upgrade(settings: Settings) -> str | None:
    from tradeforge.adapters.storage.db import create_db_engine
    from tradeforge.adapters.storage.migrate import current_revision, upgrade

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = create_db_engine(settings.effective_database_url)
    try:
        upgrade(engine)
        return current_revision(engine)
    finally:
        engine.dispose()


@app.command()
def version() -> None:
    """Print the version and source commit."""
    commit = git_commit()
    console.print(f"tradeforge {VERSION}" + (f" ({commit[:12]})" if commit else ""))


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply all pending migrations to the configured database."""
    settings = get_settings()
    with _errors():
        revision = _upgrade(settings)
    console.print(f"database at revision [bold]{revision}[/] ({_safe_url(settings)})")


def _safe_url(settings: Settings) -> str:
    from sqlalchemy.engine import make_url

    return make_url(settings.effective_database_url).render_as_string(hide_password=True)


@app.command()
def serve(
    host: Annotated[
        str | None, typer.Option(help="Interface to bind (default from settings).")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port (default 8000).")] = None,
    workers: Annotated[int, typer.Option(min=1, max=32, help="Server processes.")] = 1,
    migrate: Annotated[bool, typer.Option(help="Apply migrations before starting.")] = True,
) -> None:
    """Run the HTTP API (migrating the database first)."""
    import uvicorn

    overrides = {k: v for k, v in (("host", host), ("port", port)) if v is not None}
    settings = Settings(**overrides) if overrides else get_settings()  # type: ignore[arg-type]  # validated by pydantic
    configure_logging(settings.log_level, settings.log_json)
    with _errors():
        if migrate:
            _upgrade(settings)
    base = f"http://{settings.host}:{settings.port}"
    console.print(f"[bold green]tradeforge {VERSION}[/] serving on {base}")
    console.print(f"  API:          {base}/api/v1   (health: {base}/api/v1/meta/health)")
    console.print(f"  Docs:         {base}/docs  ·  {base}/api/v1/docs  ·  {base}/openapi.json")
    console.print(f"  Data dir:     {settings.data_dir}")
    console.print(f"  Database:     {_safe_url(settings)}")
    sys.stdout.flush()
    if workers > 1:
        uvicorn.run(
            "tradeforge.api.app:create_app",
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=workers,
            log_config=None,
            proxy_headers=False,
        )
        return
    from tradeforge.api.app import create_app

    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,
        proxy_headers=False,
    )


@contextmanager
def _account_service() -> Iterator[AccountService]:
    """An account service in one unit of work (commit on success), for operator commands."""
    from tradeforge.adapters.storage.repositories.accounts import SqlAccountRepository
    from tradeforge.api.deps import build_container
    from tradeforge.services.accounts import AccountService

    settings = get_settings()
    _upgrade(settings)
    container = build_container(settings)
    with container.session_factory() as session:
        service = AccountService(
            SqlAccountRepository(session),
            container.clock,
            container.counters,
            container.account_policy,
        )
        try:
            yield service
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            container.engine.dispose()


@users_app.command("create")
def users_create(
    email: Annotated[str, typer.Option(help="Login email.")],
    password: Annotated[
        str | None,
        typer.Option(help="Password (omit to be prompted; prefer --password-stdin in scripts)."),
    ] = None,
    password_stdin: Annotated[bool, typer.Option(help="Read the password from stdin.")] = False,
) -> None:
    """Create a human user who can log in and claim agents."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    elif password is None:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    with _errors(), _account_service() as service:
        user = service.create_user(email, password)
        console.print(f"created user [bold]{user.email}[/] (id {user.id})")


@users_app.command("list")
def users_list() -> None:
    """List users."""
    with _errors(), _account_service() as service:
        table = Table("id", "email", "created (UTC)", "active")
        for user in service.list_users():
            table.add_row(
                user.id,
                user.email,
                user.created_at.isoformat(timespec="seconds"),
                str(user.is_active),
            )
        console.print(table)


def _parse_scopes(text: str) -> frozenset[Scope]:
    from tradeforge.core.errors import InvalidInputError

    scopes = set()
    for part in filter(None, (p.strip() for p in text.split(","))):
        if part not in {s.value for s in Scope}:
            raise InvalidInputError(
                f"Unknown scope '{part}'.",
                code="INVALID_PERMISSIONS",
                suggestion="Use research, read, trade.",
            )
        scopes.add(Scope(part))
    return frozenset(scopes)


@keys_app.command("create")
def keys_create(
    email: Annotated[str, typer.Option(help="Owner's email (see 'tradeforge users create').")],
    scopes: Annotated[
        str, typer.Option(help="Comma-separated: research,read,trade.")
    ] = "research,read",
    name: Annotated[str | None, typer.Option(help="A label for the key.")] = None,
    agent_id: Annotated[
        str | None, typer.Option(help="Add the key to this existing agent.")
    ] = None,
) -> None:
    """Issue a full (tf_live_) API key. The key is printed once; store it safely."""
    with _errors(), _account_service() as service:
        user = service.get_user_by_email(email)
        issued = service.issue_key_for_user(
            user, _parse_scopes(scopes), name=name, agent_id=agent_id
        )
        console.print(f"key id:   {issued.key.id}")
        console.print(f"agent id: {issued.agent.id}")
        console.print(f"scopes:   {','.join(sorted(issued.key.scopes))}")
        console.print("api key (shown once):")
        typer.echo(issued.plaintext)


@keys_app.command("list")
def keys_list(
    email: Annotated[str | None, typer.Option(help="Only this user's keys.")] = None,
) -> None:
    """List keys (prefixes only; the secret part is never stored)."""
    with _errors(), _account_service() as service:
        user = service.get_user_by_email(email) if email else None
        table = Table("key id", "prefix", "agent", "scopes", "created (UTC)", "expires", "revoked")
        for key in service.list_keys(user):
            table.add_row(
                key.id,
                key.display_prefix,
                key.agent_id,
                ",".join(sorted(key.scopes)),
                key.created_at.isoformat(timespec="seconds"),
                key.expires_at.isoformat(timespec="seconds") if key.expires_at else "-",
                key.revoked_at.isoformat(timespec="seconds") if key.revoked_at else "-",
            )
        console.print(table)


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="The key id from 'keys list'.")],
) -> None:
    """Revoke a key: the next request with it gets 401 INVALID_API_KEY."""
    with _errors(), _account_service() as service:
        key = service.revoke_key(key_id)
        console.print(f"revoked {key.display_prefix} ({key.id})")


if __name__ == "__main__":  # pragma: no cover
    app()
