-- The store DDL of the release before typed canonical tables (schema version 1), kept verbatim
-- so tests can build a store exactly as that release made it.
CREATE SCHEMA IF NOT EXISTS sync;
CREATE TABLE IF NOT EXISTS sync.links (
    entity VARCHAR NOT NULL, connection VARCHAR NOT NULL, remote_id VARCHAR NOT NULL,
    canonical_id VARCHAR NOT NULL,
    base JSON,                      -- the canonical values last agreed with this CRM record
    base_hash VARCHAR,
    remote_updated_at TIMESTAMPTZ,  -- the CRM record's own modification time, as last read
    linked_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    remote_deleted_at TIMESTAMPTZ,  -- when we learnt the CRM record is gone (deleted there, or by our push)
    PRIMARY KEY (entity, connection, remote_id)
);
ALTER TABLE sync.links ADD COLUMN IF NOT EXISTS remote_deleted_at TIMESTAMPTZ;  -- stores made before it existed
CREATE TABLE IF NOT EXISTS sync.runs (
    run_id VARCHAR PRIMARY KEY, pipeline VARCHAR, connection VARCHAR, kind VARCHAR,
    started_at TIMESTAMPTZ, finished_at TIMESTAMPTZ, status VARCHAR, counts JSON, error VARCHAR
);
CREATE TABLE IF NOT EXISTS sync.rejected (
    run_id VARCHAR, entity VARCHAR, connection VARCHAR, remote_id VARCHAR, field VARCHAR, reason VARCHAR,
    direction VARCHAR, raw JSON, rejected_at TIMESTAMPTZ DEFAULT now()
);
CREATE TABLE IF NOT EXISTS sync.conflicts (      -- both sides changed one field: both values and the base
    run_id VARCHAR, entity VARCHAR, canonical_id VARCHAR, connection VARCHAR, field VARCHAR,
    base JSON, "local" JSON, crm JSON, resolution VARCHAR, created_at TIMESTAMPTZ DEFAULT now()
);
-- added after the first release of the table (crmsync.canonical.conflicts explains each)
ALTER TABLE sync.conflicts ADD COLUMN IF NOT EXISTS conflict_id VARCHAR;
ALTER TABLE sync.conflicts ADD COLUMN IF NOT EXISTS policy VARCHAR;
ALTER TABLE sync.conflicts ADD COLUMN IF NOT EXISTS status VARCHAR;       -- resolved | pending | superseded
ALTER TABLE sync.conflicts ADD COLUMN IF NOT EXISTS reason VARCHAR;
ALTER TABLE sync.conflicts ADD COLUMN IF NOT EXISTS take VARCHAR;         -- set by a person: crm | local | value
ALTER TABLE sync.conflicts ADD COLUMN IF NOT EXISTS "value" JSON;         -- with take = 'value'
ALTER TABLE sync.conflicts ADD COLUMN IF NOT EXISTS resolved_at TIMESTAMPTZ;
ALTER TABLE sync.conflicts ADD COLUMN IF NOT EXISTS resolved_by VARCHAR;
CREATE TABLE IF NOT EXISTS sync.cursors (        -- positions in feeds that are not dlt's (e.g. delete events)
    connection VARCHAR, entity VARCHAR, kind VARCHAR, value BIGINT, PRIMARY KEY (connection, entity, kind)
);
CREATE TABLE IF NOT EXISTS sync.changes (
    run_id VARCHAR, entity VARCHAR, canonical_id VARCHAR, field VARCHAR, old JSON, new JSON,
    side VARCHAR, changed_at TIMESTAMPTZ DEFAULT now()
);
-- every write crmsync means to make to a CRM (crmsync.push.outbox)
CREATE TABLE IF NOT EXISTS sync.outbox (
    op_id VARCHAR PRIMARY KEY, run_id VARCHAR, connection VARCHAR NOT NULL, entity VARCHAR NOT NULL,
    canonical_id VARCHAR NOT NULL, remote_id VARCHAR,
    kind VARCHAR NOT NULL,           -- create | update | delete
    fields JSON,                     -- canonical field names written
    "values" JSON,                   -- the canonical values written (the link's new base comes from them)
    payload JSON,                    -- the CRM write payload (mapping inverse)
    idempotency_key VARCHAR NOT NULL,
    status VARCHAR NOT NULL,         -- pending | sending | sent | failed | rejected | superseded | gone
    attempts INTEGER NOT NULL DEFAULT 0, last_error VARCHAR,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(), sent_at TIMESTAMPTZ
);
CREATE SCHEMA IF NOT EXISTS canonical;
CREATE TABLE IF NOT EXISTS canonical.contacts (
    "id" VARCHAR PRIMARY KEY,
    "version" INTEGER NOT NULL,
    "name" VARCHAR,
    "first_name" VARCHAR,
    "middle_name" VARCHAR,
    "last_name" VARCHAR,
    "phones" JSON,
    "emails" JSON,
    "company" VARCHAR,
    "position" VARCHAR,
    "owner" VARCHAR,
    "custom" JSON,
    "created_at" VARCHAR,
    "updated_at" VARCHAR,
    "deleted_at" TIMESTAMPTZ
);
CREATE SCHEMA IF NOT EXISTS canonical;
CREATE TABLE IF NOT EXISTS canonical.deals (
    "id" VARCHAR PRIMARY KEY,
    "version" INTEGER NOT NULL,
    "title" VARCHAR,
    "amount" DOUBLE,
    "currency" VARCHAR,
    "pipeline" VARCHAR,
    "stage" VARCHAR,
    "status" VARCHAR,
    "contacts" JSON,
    "owner" VARCHAR,
    "closed_at" VARCHAR,
    "custom" JSON,
    "created_at" VARCHAR,
    "updated_at" VARCHAR,
    "deleted_at" TIMESTAMPTZ
);
CREATE SCHEMA IF NOT EXISTS canonical;
CREATE TABLE IF NOT EXISTS canonical.tasks (
    "id" VARCHAR PRIMARY KEY,
    "version" INTEGER NOT NULL,
    "title" VARCHAR,
    "description" VARCHAR,
    "due_at" VARCHAR,
    "completed" BOOLEAN,
    "completed_at" VARCHAR,
    "owner" VARCHAR,
    "related" JSON,
    "created_at" VARCHAR,
    "updated_at" VARCHAR,
    "deleted_at" TIMESTAMPTZ
);
