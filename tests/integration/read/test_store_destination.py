"""dlt's connections to the store carry crmsync's DuckDB memory cap, whichever step opens them."""


from crmsync.project import Project
from crmsync.read import dlt_setup
from crmsync.read.duckdb_dest import store_destination
from crmsync.store import MEMORY_LIMIT
from tests.unit.test_store_memory import as_duckdb_says


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
            assert client.execute_sql("SELECT current_setting('memory_limit')")[0][0] == as_duckdb_says("123MB")
            assert client.execute_sql("SELECT count(*) FROM contact")[0][0] == 2


def test_without_a_users_cap_dlt_sizes_it_to_the_store_as_the_read_round_does(tmp_path, monkeypatch):
    # The cap is the database instance's: a dlt connection setting another would undo the round's.
    from crmsync.store import KEY_BYTES, WORKING_ROOM, open_store

    monkeypatch.delenv(MEMORY_LIMIT, raising=False)
    store = tmp_path / "store.duckdb"
    with open_store(store) as con:
        con.execute("CREATE TABLE sync.keyed (id BIGINT PRIMARY KEY)")
        con.execute("INSERT INTO sync.keyed SELECT i FROM range(200000) r(i)")
    dlt = dlt_setup.configure(Project(tmp_path))
    pipeline = dlt.pipeline(pipeline_name="sized", pipelines_dir=str(tmp_path / "dlt"),
                            destination=store_destination(str(store)), dataset_name="raw_sized")
    pipeline.run([{"id": 1, "name": "a"}, {"id": 2, "name": "b"}], table_name="contact", primary_key="id",
                 write_disposition="merge", loader_file_format="jsonl")
    with pipeline.sql_client() as client:
        # 200,000 keys and 2 raw records (two keys each once applied)
        assert client.execute_sql("SELECT current_setting('memory_limit')")[0][0] == as_duckdb_says(
            f"{WORKING_ROOM + KEY_BYTES * 200_000}B")
