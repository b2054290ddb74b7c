// WatermelonDB schema and models built from crmsync's app schema (GET /api/sync/schema, or the file
// crmsync ships as crmsync/appsync/app_schema.json): the server owns the list of tables and columns,
// so a new canonical field reaches the app without editing this file.
'use strict'

const { Model, appSchema, tableSchema } = require('@nozbe/watermelondb')

// created_at / updated_at are the server's: the models expose them read-only under other names, because
// WatermelonDB stamps `updated_at` on every local edit of a model that has an `updatedAt` property and
// that stamp would travel to the server as an edit of its own.
const SERVER_KEPT = new Set(['created_at', 'updated_at'])

function camel(name) {
  return name.replace(/_([a-z0-9])/g, (_, c) => c.toUpperCase())
}

// One accessor per column, read and written through WatermelonDB's raw record so that an edit inside
// `record.update(...)` lands in `_changed` (the server merges pushes per field with that list).
function accessor(column) {
  const raw = column.name
  if (SERVER_KEPT.has(raw)) {
    return { get() { return this._getRaw(raw) } }
  }
  if (column.encoding === 'json') {
    return {
      get() {
        const text = this._getRaw(raw)
        return text == null ? null : JSON.parse(text)
      },
      set(value) {
        this._setRaw(raw, value == null || typeof value === 'string' ? value : JSON.stringify(value))
      },
    }
  }
  if (column.encoding === 'ms') {
    return {
      get() { return this._getRaw(raw) },
      set(value) {
        this._setRaw(raw, value == null ? null : value instanceof Date ? value.getTime()
          : typeof value === 'string' ? Date.parse(value) : value)
      },
    }
  }
  return {
    get() { return this._getRaw(raw) },
    set(value) { this._setRaw(raw, value) },
  }
}

function accessorName(column) {
  return SERVER_KEPT.has(column.name) ? `server${camel('_' + column.name)}` : camel(column.name)
}

// Class names for the tables crmsync ships; a table the server adds later still gets a model.
const CLASS_NAMES = { contacts: 'Contact', deals: 'Deal', tasks: 'Task' }

function buildModels(spec) {
  return Object.entries(spec.tables).map(([table, body]) => {
    const named = { [CLASS_NAMES[table] || camel('_' + table)]: class extends Model {} }
    const ModelClass = Object.values(named)[0]
    ModelClass.table = table
    ModelClass.columns = body.columns
    for (const column of body.columns) {
      Object.defineProperty(ModelClass.prototype, accessorName(column), { ...accessor(column), configurable: true })
    }
    return ModelClass
  })
}

function buildSchema(spec) {
  return appSchema({
    version: spec.version,
    tables: Object.entries(spec.tables).map(([table, body]) => tableSchema({
      name: table,
      // WatermelonDB insists that created_at / updated_at are non-optional numbers (a missing one reads as 0).
      columns: body.columns.map(({ name, type, isOptional }) => ({
        name, type, isOptional: SERVER_KEPT.has(name) ? false : Boolean(isOptional),
      })),
    })),
  })
}

// A new record carries real creation times rather than WatermelonDB's 0 for a missing number; later
// local edits leave them alone (see SERVER_KEPT).
function stampCreated(record, now = Date.now()) {
  for (const name of SERVER_KEPT) {
    if (record.constructor.columns.some((c) => c.name === name)) record._setRaw(name, now)
  }
}

module.exports = { buildSchema, buildModels, accessorName, stampCreated }
