"""A PostgreSQL staging store behind the surface crmsync uses of a DuckDB connection.

``execute(sql, params)`` → a result with ``fetchone``/``fetchall``/``description``; ``executemany``;
``begin``/``commit``/``rollback``; ``close``. Each statement is crmsync's DuckDB SQL, translated once
(:mod:`crmsync.store_sql`). The connection autocommits like DuckDB's, until ``BEGIN``. Values come back
as DuckDB gives them: JSON columns as text, timestamps in UTC. Postgres' errors are raised as the
DuckDB error classes callers already handle (a duplicate key as ``duckdb.ConstraintException``, …),
with Postgres' own message.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import duckdb

from crmsync.errors import UserError

from .store_sql import Statement, to_postgres

DEFAULT_DSN_ENV = "CRMSYNC_PG_DSN"


def dsn(project_root: Path, env: str) -> str:
    """The connection string from the environment, or from the project's (git-ignored) config/secrets.toml
    under the same key. Never logged: messages name the variable only."""
    from crmsync.secrets.masking import register

    value = os.environ.get(env)
    if value:
        register(value)
        return value
    secrets = project_root / "config" / "secrets.toml"
    if secrets.is_file():
        import tomllib

        try:
            found = tomllib.loads(secrets.read_text(encoding="utf-8")).get(env)
        except (tomllib.TOMLDecodeError, OSError, UnicodeDecodeError):
            found = None
        if isinstance(found, str) and found:
            register(found)
            return found
    raise UserError(f"the pipeline's staging store is postgres, but the environment variable {env} is not set",
                    hint=f"export {env}=postgresql://USER:PASSWORD@HOST:5432/DATABASE (or put {env} = \"…\" in "
                         "config/secrets.toml); staging.dsn_env in the pipeline names the variable")


def connect(project_root: Path, env: str, *, read_only: bool = False) -> PgConnection:
    try:
        import psycopg
    except ImportError:
        raise UserError("the pipeline's staging store is postgres, but its driver is not installed",
                        hint="pip install 'crmsync[postgres]'") from None

    try:
        raw = psycopg.connect(dsn(project_root, env), autocommit=True, connect_timeout=10)
    except psycopg.OperationalError as exc:
        # psycopg's message names host and port, not the password; the DSN itself is not repeated
        raise UserError(f"cannot connect to the Postgres store (${env}): {_first_line(exc)}",
                        hint=f"check that the server is up and that {env} points at it") from None
    return PgConnection(raw, read_only=read_only)


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


class PgResult:
    """A statement's rows, as DuckDB's connection hands them out after ``execute``."""

    def __init__(self, cursor: Any) -> None:
        self._cursor = cursor
        self.description = cursor.description

    def fetchone(self) -> tuple[Any, ...] | None:
        return self._cursor.fetchone() if self.description else None

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self._cursor.fetchall() if self.description else []

    def fetchmany(self, size: int = 1) -> list[tuple[Any, ...]]:
        return self._cursor.fetchmany(size) if self.description else []


class PgConnection:
    engine = "postgres"

    def __init__(self, raw: Any, *, read_only: bool = False) -> None:
        from psycopg.types.string import TextLoader

        self._raw = raw
        self._keys: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {}
        self._last: PgResult | None = None
        for name in ("json", "jsonb"):  # DuckDB returns JSON as its text; callers parse it where they need to
            raw.adapters.register_loader(name, TextLoader)
        raw.execute("SET TIME ZONE 'UTC'")
        if read_only:
            raw.execute("SET default_transaction_read_only = on")

    # -- DuckDB's surface ---------------------------------------------------------------------------
    def execute(self, sql: str, params: Any = None) -> PgResult:
        result = None
        for statement in to_postgres(sql):
            result = self._run(statement, params)
        self._last = result or self._last
        return result if result is not None else PgResult(self._raw.cursor())

    def executemany(self, sql: str, rows: Any) -> None:
        (statement,) = to_postgres(sql)
        text = self._text(statement)
        batch = [self._params(statement, row) for row in rows]
        if batch:
            text = _typed_lists(text, batch[0])
        with self._errors(), self._raw.cursor() as cur:
            cur.executemany(text, batch)

    def fetchone(self) -> tuple[Any, ...] | None:
        return self._last.fetchone() if self._last else None

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self._last.fetchall() if self._last else []

    @property
    def description(self) -> Any:
        return self._last.description if self._last else None

    def cursor(self) -> PgCursor:
        """Another result set on the same connection (and transaction): DuckDB's cursor is a second
        connection to the same database, used where statements run on ``con`` between its pages."""
        return PgCursor(self)

    def begin(self) -> None:
        self.execute("BEGIN")

    def commit(self) -> None:
        if self.in_transaction:
            self.execute("COMMIT")

    def rollback(self) -> None:
        if self.in_transaction:
            self._raw.execute("ROLLBACK")

    @property
    def in_transaction(self) -> bool:
        from psycopg.pq import TransactionStatus

        return self._raw.info.transaction_status != TransactionStatus.IDLE

    @property
    def _failed(self) -> bool:
        from psycopg.pq import TransactionStatus

        return self._raw.info.transaction_status == TransactionStatus.INERROR

    def close(self) -> None:
        self._raw.close()

    def __enter__(self) -> PgConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the translation ------------------------------------------------------------------------------
    def _run(self, statement: Statement, params: Any) -> PgResult:
        if not statement.sql:  # a DuckDB-only setting (store_sql.DUCKDB_ONLY_SETTINGS)
            return PgResult(self._raw.cursor())
        verb = statement.sql.split(None, 1)[0].upper() if statement.sql.strip() else ""
        if verb in ("BEGIN", "START") and self.in_transaction:
            raise NestedTransaction("cannot start a transaction within a transaction")
        if verb in ("COMMIT", "ROLLBACK", "END", "ABORT") and not self.in_transaction:
            raise duckdb.TransactionException(f"cannot {verb.lower()} - no transaction is active")
        if verb in ("COMMIT", "END") and self._failed:
            # Postgres answers COMMIT of a failed transaction with a silent ROLLBACK; DuckDB refuses it.
            # A caller that caught the error and commits must learn that nothing was written.
            self._raw.execute("ROLLBACK")
            raise duckdb.TransactionException("the transaction was aborted by an earlier error and rolled back; "
                                              "nothing of it was committed")
        if statement.creates_if_missing:
            return self._create_if_missing(statement)
        cur = self._raw.cursor()
        with self._errors():
            if statement.slots or isinstance(params, dict):
                values = self._params(statement, params)
                cur.execute(_typed_lists(self._text(statement), values), values)
            else:
                cur.execute(self._text(statement).replace("%%", "%"))
        return PgResult(cur)

    def _create_if_missing(self, statement: Statement) -> PgResult:
        """``CREATE … IF NOT EXISTS`` while another worker creates the same object: Postgres lets both past
        the check and refuses the second with a duplicate key in its catalog. The object exists then, which
        is all the statement asks; inside a transaction a savepoint keeps the collision from aborting it."""
        from psycopg import errors as pg

        text = statement.sql.replace("%%", "%")
        inside = self.in_transaction
        cur = self._raw.cursor()
        with self._errors():
            if inside:
                cur.execute("SAVEPOINT crmsync_create")
            try:
                cur.execute(text)
            except (pg.UniqueViolation, pg.DuplicateObject, pg.DuplicateTable, pg.DuplicateSchema):
                if inside:
                    cur.execute("ROLLBACK TO SAVEPOINT crmsync_create")
            if inside:
                cur.execute("RELEASE SAVEPOINT crmsync_create")
        return PgResult(cur)

    def _text(self, statement: Statement) -> str:
        if statement.upsert_into is None:
            return statement.sql
        key, columns = self._table_keys(statement.upsert_into)
        updates = ", ".join(f'"{c}" = excluded."{c}"' for c in statement.upsert_columns or columns if c not in key)
        target = ", ".join(f'"{k}"' for k in key)
        return f"{statement.sql} ON CONFLICT ({target}) " + (f"DO UPDATE SET {updates}" if updates else "DO NOTHING")

    def _params(self, statement: Statement, params: Any) -> Any:
        if isinstance(params, dict):
            return {k: _holdable(v) for k, v in params.items()}
        given = iter(params or ())
        out = []
        for slot in statement.slots:
            out.append(_holdable(next(given)) if slot is None else _staged_rows(slot))
        return out

    def _table_keys(self, table: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """A table's primary key and its columns, from the catalog (once per connection)."""
        if table not in self._keys:
            schema, _, name = table.rpartition(".")
            regclass = f'"{schema or "public"}"."{name}"'
            key = tuple(r[0] for r in self._raw.execute(
                "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
                "AND a.attnum = ANY(i.indkey) WHERE i.indrelid = %s::regclass AND i.indisprimary", [regclass]))
            if not key:
                raise duckdb.BinderException(f"INSERT OR REPLACE INTO {table}: the table has no primary key")
            columns = tuple(r[0] for r in self._raw.execute(
                "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped "
                "ORDER BY attnum", [regclass]))
            self._keys[table] = (key, columns)
        return self._keys[table]

    def _errors(self) -> Any:
        return _translated_errors()


def _typed_lists(text: str, values: Any) -> str:
    """A list of strings goes as ``text[]``: psycopg sends strings untyped (so Postgres can read them as
    JSON, timestamps …), and ``unnest`` of an untyped array is ambiguous. It goes in binary (``%b``): the
    server then reads no array literal, whose parsing of 2,000 records' JSON took ~10x as long (the batch
    apply stages a chunk's records as such lists)."""
    if not isinstance(values, list) or not any(isinstance(v, (list, tuple)) for v in values):
        return text
    position = iter(range(len(values)))

    def typed(found: re.Match[str]) -> str:
        if found.group(0) == "%%":
            return "%%"
        value = values[next(position)]
        if isinstance(value, (list, tuple)) and value and all(isinstance(v, str) or v is None for v in value):
            return "%b::text[]"
        return "%s"

    return re.sub(r"%%|%s", typed, text)


# PostgreSQL's text and jsonb cannot hold U+0000, which DuckDB's can. A CRM's text that holds one never reaches
# canonical (the reader sets such a record aside, crmsync.read.storable), but a CRM's own words can: an error
# message kept as a refusal's reason or an outbox op's last error. Such text is kept with the NUL shown as the
# six characters \u0000, instead of failing the statement and the run with it.
NUL_SHOWN = "\\u0000"


def _holdable(value: Any) -> Any:
    """``value`` as Postgres can hold it: a NUL in text (or in a list of texts) shown as ``\\u0000``."""
    if type(value) is str:
        return value.replace("\x00", NUL_SHOWN) if "\x00" in value else value
    if type(value) is list and any(type(v) is str and "\x00" in v for v in value):
        return [_holdable(v) for v in value]
    return value


def _staged_rows(path: str) -> str:
    """A file of JSON lines (rows staged for a set operation) as one JSON array (a NUL in it shown, as above)."""
    with open(path, encoding="utf-8") as fh:
        lines = [line for line in (raw.strip() for raw in fh) if line]
    text = "[" + ",".join(lines) + "]"
    if "\\u0000" not in text:  # the common case: nothing to look at
        return text
    return json.dumps([_shown(json.loads(line)) for line in lines], ensure_ascii=False)


def _shown(value: Any) -> Any:
    """A staged value with every NUL shown as ``\\u0000``, also inside JSON text kept in a string (a JSON
    column is staged as its text)."""
    if isinstance(value, str):
        if "\x00" in value:
            return value.replace("\x00", NUL_SHOWN)
        if "\\u0000" in value and value[:1] in "[{":
            try:
                return json.dumps(_shown(json.loads(value)), ensure_ascii=False)
            except ValueError:
                return value
        return value
    if isinstance(value, list):
        return [_shown(v) for v in value]
    if isinstance(value, dict):
        return {k: _shown(v) for k, v in value.items()}
    return value


class PgCursor:
    def __init__(self, con: PgConnection) -> None:
        self._con = con
        self._last: PgResult | None = None

    def execute(self, sql: str, params: Any = None) -> PgCursor:
        result = None
        for statement in to_postgres(sql):
            result = self._con._run(statement, params)
        self._last = result
        return self

    def fetchone(self) -> tuple[Any, ...] | None:
        return self._last.fetchone() if self._last else None

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self._last.fetchall() if self._last else []

    def fetchmany(self, size: int = 1) -> list[tuple[Any, ...]]:
        return self._last.fetchmany(size) if self._last else []

    @property
    def description(self) -> Any:
        return self._last.description if self._last else None

    def close(self) -> None:
        self._last = None


class NestedTransaction(duckdb.TransactionException):
    """BEGIN inside a transaction: DuckDB refuses it, and callers rely on that (Postgres only warns)."""


class _translated_errors:  # noqa: N801 (used as a context manager, like contextlib's)
    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: object) -> bool:
        import psycopg
        from psycopg import errors as pg

        if exc is None or not isinstance(exc, psycopg.Error):
            return False
        message = re.sub(r"\s+", " ", str(exc)).strip()
        if isinstance(exc, pg.IntegrityError):
            raise duckdb.ConstraintException(message) from exc
        if isinstance(exc, (pg.UndefinedTable, pg.UndefinedColumn, pg.UndefinedFunction, pg.InvalidSchemaName,
                            pg.UndefinedObject)):
            raise duckdb.CatalogException(message) from exc
        if isinstance(exc, pg.DataError):
            raise duckdb.ConversionException(message) from exc
        if isinstance(exc, (pg.InFailedSqlTransaction, pg.ActiveSqlTransaction, pg.NoActiveSqlTransaction,
                            pg.SerializationFailure, pg.DeadlockDetected)):
            raise duckdb.TransactionException(message) from exc
        if isinstance(exc, pg.ReadOnlySqlTransaction):
            raise duckdb.InvalidInputException(message) from exc
        if isinstance(exc, psycopg.OperationalError):
            raise duckdb.IOException(message) from exc
        raise duckdb.Error(message) from exc
