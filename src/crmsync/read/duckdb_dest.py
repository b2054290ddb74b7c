"""dlt's DuckDB destination: records as jsonl loaded with the column types dlt already knows, Arrow
tables as Parquet.

dlt loads a jsonl file with ``INSERT … SELECT * FROM read_json(file)``, and DuckDB's reader then
guesses types by itself: text such as Bitrix24's ``"1988-05-03T00:00:00+03:00"`` (a *date* field,
midnight in the portal's zone) becomes a UTC timestamp and lands as ``"1988-05-02 21:00:00+00"``.
Raw tables must keep what the CRM sent, so this job hands ``read_json`` the table's columns and
types (missing keys become NULL), and DuckDB guesses nothing.

dlt opens a new DuckDB connection for each step of a load (the copy into staging, the merge), and
DuckDB's ``memory_limit`` belongs to the connection's database instance: a cap set in one job is
gone in the next. :func:`store_destination` gives every connection dlt opens the store's cap
(without it the merge of 100k contacts alone took 550 MB on top of the process): the statements of
:func:`crmsync.store.memory_settings`, which size it to the store as the read round's own connection does.

Each of those connections closing was a checkpoint when it was the file's last: every client dlt makes
joins the read round's kept connection (:func:`crmsync.store.keeping`), so they no longer are.
"""

from __future__ import annotations

from typing import Any

from dlt.common.storages.load_package import ParsedLoadJobFileName
from dlt.destinations.impl.duckdb.duck import DuckDbClient, DuckDbCopyJob
from dlt.destinations.impl.duckdb.factory import duckdb as _DuckDbFactory


class _TypedJsonCopyJob(DuckDbCopyJob):
    def __init__(self, file_path: str, table: Any) -> None:
        super().__init__(file_path)
        self._table = table

    def run(self) -> None:
        if ParsedLoadJobFileName.parse(self._file_path).file_format not in ("jsonl", "typed-jsonl"):
            super().run()
            return
        client = self._job_client
        sql_client = client.sql_client
        columns = ", ".join(
            f"'{_quote(name)}': '{client.type_mapper.to_destination_type(column, self._table)}'"
            for name, column in self._table["columns"].items() if column.get("data_type"))
        path = self._file_path.replace("'", "''")
        sql_client.execute_sql(
            f"INSERT INTO {sql_client.make_qualified_table_name(self.load_table_name)} BY NAME "
            f"SELECT * FROM read_json('{path}', format='newline_delimited', columns={{{columns}}})")


def _quote(name: str) -> str:
    return name.replace("'", "''")


class _Client(DuckDbClient):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        from crmsync.store import join_round

        super().__init__(*args, **kwargs)
        # Before dlt's first connection: the round's own waits while another process holds the file
        # (dlt's does not), and the round keeps the store open from here to the end of its apply.
        join_round(self.config.credentials.database)

    def create_load_job(self, table: Any, file_path: str, load_id: str, restore: bool = False) -> Any:
        job = super().create_load_job(table, file_path, load_id, restore)
        if type(job) is DuckDbCopyJob:
            return _TypedJsonCopyJob(file_path, table)
        return job


class crmsync_duckdb(_DuckDbFactory):  # noqa: N801 (dlt names destination factories in lower case)
    def _raw_capabilities(self) -> Any:
        """jsonl for records (DuckDB's default, insert_values, took 81 s and 10 GB for 100k contacts),
        as a preference rather than ``pipeline.run(loader_file_format=…)``: that forces every item
        into it, and Arrow tables (crmsync.read.batches) would be turned back into rows; preferred,
        dlt writes them to Parquet, which DuckDB copies in bulk."""
        caps = super()._raw_capabilities()
        caps.preferred_loader_file_format = "jsonl"
        return caps

    @property
    def client_class(self) -> type[DuckDbClient]:
        return _Client


def store_destination(path: str) -> crmsync_duckdb:
    """The store at ``path`` as dlt's destination, with the memory cap of crmsync's own connections."""
    from dlt.destinations.impl.duckdb.configuration import DuckDbCredentials

    from crmsync.store import memory_settings

    return crmsync_duckdb(DuckDbCredentials(path, statements=memory_settings(read_round=True)))
