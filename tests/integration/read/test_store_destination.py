"""dlt's connections to the store carry crmsync's DuckDB memory cap, whichever step opens them."""

import duckdb

from crmsync.project import Project
from crmsync.read import dlt_setup
from crmsync.read.duckdb_dest import store_destination
from crmsync.store import MEMORY_LIMIT


def _as_duckdb_says(limit: str) -> str:
    con = duckdb.connect()
    try:
        con.execute(f"SET memory_limit = '{limit}'")
        return con.execute("SELECT current_setting('memory_limit')").fetchone()[0]
    finally:
        con.close()


def test_every_connection_dlt_opens_has_the_cap(tmp_path, monkeypatch):
    # dlt closes and reopens the database between load steps (copy into staging, then merge); the
    # cap must not live only on the connection that happened to set it.
    monkeypatch.setenv(MEMORY_LIMIT, "123MB")
    dlt = dlt_setup.configure(Project(tmp_path))
    pipeline = dlt.pipeline(pipeline_name="cap", pipelines_dir=str(tmp_path / "dlt"),
                            destination=store_destination(str(tmp_path / "store.duckdb")), dataset_name="raw_cap")
    pipeline.run([{"id": 1, "name": "a"}, {"id": 2, "name": "b"}], table_name="contact", primary_key="id",
                 write_disposition="merge", loader_file_format="jsonl")
    for _ in range(2):  # a fresh connection each time
        with pipeline.sql_client() as client:
            assert client.execute_sql("SELECT current_setting('memory_limit')")[0][0] == _as_duckdb_says("123MB")
            assert client.execute_sql("SELECT count(*) FROM contact")[0][0] == 2
