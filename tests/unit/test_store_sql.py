"""crmsync's DuckDB SQL as Postgres runs it (crmsync.store_sql): the translations sqlglot does not make itself."""

import pytest

from crmsync.store_sql import to_postgres


def one(sql):
    (statement,) = to_postgres(sql)
    return statement


def test_parameters_become_psycopgs_and_a_literal_percent_is_doubled():
    s = one("SELECT a FROM t WHERE b LIKE 'x%' AND c = ? AND d % 2 = ?")
    assert s.sql == "SELECT a FROM t WHERE b LIKE 'x%%' AND c = %s AND d %% 2 = %s"
    assert s.slots == (None, None)
    assert one("SELECT * FROM t WHERE a = $entity AND b IN (SELECT unnest($ids))").sql == (
        "SELECT * FROM t WHERE a = %(entity)s AND b IN (SELECT UNNEST(%(ids)s))")


def test_a_ddl_script_is_split_and_json_becomes_jsonb():
    first, second = to_postgres("CREATE TABLE IF NOT EXISTS sync.x (a JSON DEFAULT '[]', b VARCHAR, "
                                "h UBIGINT); -- a comment\nALTER TABLE sync.x ADD COLUMN IF NOT EXISTS c JSON;")
    assert first.sql == "CREATE TABLE IF NOT EXISTS sync.x (a JSONB DEFAULT '[]', b TEXT, h BIGINT)"
    assert second.sql == "ALTER TABLE sync.x ADD COLUMN IF NOT EXISTS c JSONB"


def test_duckdb_functions_without_a_postgres_namesake():
    s = one("SELECT list(a), json_type(x), arg_max(op, sent_at), hash(a, $k) FROM t GROUP BY ALL")
    assert s.sql.endswith("GROUP BY 2, 4")  # by the plain expressions, not the aggregates
    assert "ARRAY_AGG(a)" in s.sql and "UPPER(JSONB_TYPEOF(x))" in s.sql
    assert "(ARRAY_AGG(op ORDER BY sent_at DESC) FILTER(WHERE NOT sent_at IS NULL))[1]" in s.sql
    assert "HASHTEXTEXTENDED(CAST(ROW(CAST(a AS TEXT), CAST(%(k)s AS TEXT)) AS TEXT), 0)" in s.sql


def test_json_paths_read_jsonb():  # every JSON column of a Postgres store is jsonb; DuckDB's read text too
    assert one("SELECT r.raw ->> 'id', json_extract(base, '$.\"first name\"') FROM t r").sql == (
        "SELECT JSONB_EXTRACT_PATH_TEXT(CAST(r.raw AS JSONB), 'id'), "
        "JSONB_EXTRACT_PATH(CAST(base AS JSONB), 'first name') FROM t AS r")


def test_json_object_and_a_struct_parsed_once_from_json_text():
    assert one("SELECT json_object('a', 1, 'b', ?)").sql == "SELECT JSONB_BUILD_OBJECT('a', 1, 'b', %s)"
    sql = one("""SELECT id, CAST(r."at" AS TIMESTAMPTZ), r."tags" FROM (SELECT id, """
              """from_json(record, '{"at": "VARCHAR", "tags": "JSON"}') AS r FROM stage WHERE kind = 'new')""").sql
    assert sql == ("""SELECT id, CAST((JSONB_EXTRACT_PATH_TEXT("r", 'at')) AS TIMESTAMPTZ), """
                   """NULLIF("r" -> 'tags', CAST('null' AS JSONB)) FROM (SELECT id, """
                   """CAST(record AS JSONB) AS r FROM stage WHERE kind = 'new') AS crmsync_sub0""")
    with pytest.raises(ValueError, match="from_json"):
        one("SELECT from_json(record, '{}') FROM stage")


def test_range_stops_before_its_end_as_in_duckdb():
    assert one("SELECT i FROM range(300) t(i)").sql == "SELECT i FROM GENERATE_SERIES(0, (300) - 1) AS t(i)"
    assert "GENERATE_SERIES(2, (10) - 1, 2)" in one("SELECT j FROM range(2, 10, 2) u(j)").sql


def test_duckdbs_own_settings_mean_nothing_to_postgres():
    assert one("SET memory_limit = '32MB'").sql == ""
    assert one("SET TIME ZONE 'UTC'").sql  # a setting both have is kept


def test_group_by_all_names_the_plain_columns():
    assert one("SELECT a, b, count(*), bit_xor(h) FROM t GROUP BY ALL").sql.endswith("GROUP BY 1, 2")


def test_insert_or_replace_leaves_the_conflict_target_to_the_store():
    s = one("INSERT OR REPLACE INTO sync.cursors VALUES (?, ?, 'applied_load', ?)")
    assert s.sql == "INSERT INTO sync.cursors VALUES (%s, %s, 'applied_load', %s)"
    assert (s.upsert_into, s.upsert_columns) == ("sync.cursors", ())
    named = one("INSERT OR REPLACE INTO sync.runs (run_id, status) VALUES (?, ?)")
    assert named.upsert_columns == ("run_id", "status")


def test_rows_staged_in_a_file_go_as_a_parameter():
    s = one("INSERT INTO t (a, b) SELECT \"a\", CAST(\"b\" AS JSON) AS \"b\" FROM read_json('/tmp/x y.jsonl', "
            "format='newline_delimited', columns={'a': 'VARCHAR', 'b': 'VARCHAR', 'c': 'DECIMAL(22,6)'})")
    assert 'FROM JSONB_TO_RECORDSET(CAST(%s AS JSONB)) AS staged("a" TEXT, "b" TEXT, "c" DECIMAL(22, 6))' in s.sql
    assert s.slots == ("/tmp/x y.jsonl",)


def test_a_subquery_in_from_gets_a_name_and_a_typed_cast_parses():
    assert one("SELECT max(id) FROM (SELECT id FROM t)").sql == (
        "SELECT MAX(id) FROM (SELECT id FROM t) AS crmsync_sub0")
    assert one("SELECT ?::JSON").sql == "SELECT CAST(%s AS JSONB)"


@pytest.mark.parametrize("sql", ["INSERT OR REPLACE INTO t SELECT 1 RETURNING *"])
def test_what_is_not_translated_says_so(sql):
    with pytest.raises(ValueError, match="not translated"):
        to_postgres(sql)
