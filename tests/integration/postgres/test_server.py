"""The test set-up's PostgreSQL server: a database per test, on loopback, with a password."""

import psycopg
import pytest

from tests.postgres_plugin import PostgresServer


def test_each_test_gets_an_empty_writable_database_of_its_own(pg_server: PostgresServer, pg_dsn: str) -> None:
    with psycopg.connect(pg_dsn) as con:
        assert con.execute("SELECT count(*) FROM pg_tables WHERE schemaname NOT IN "
                           "('pg_catalog', 'information_schema')").fetchone() == (0,)
        con.execute("CREATE SCHEMA sync")
        con.execute("CREATE TABLE sync.t (x INT)")
        con.execute("INSERT INTO sync.t VALUES (1)")
    second = pg_server.create_database()
    try:
        with psycopg.connect(pg_server.dsn(second)) as con:
            assert con.execute("SELECT to_regclass('sync.t')").fetchone() == (None,)
    finally:
        pg_server.drop_database(second)
    assert pg_server.process is not None and pg_server.process.poll() is None


def test_the_server_listens_on_loopback_only_and_wants_the_password(pg_server: PostgresServer, pg_dsn: str) -> None:
    with psycopg.connect(pg_dsn) as con:
        assert con.execute("SHOW listen_addresses").fetchone() == ("127.0.0.1",)
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(pg_dsn.replace(pg_server.password, "wrong"), connect_timeout=5)
