// WatermelonDB schema and models built from crmsync's app schema (GET /api/sync/schema, or the file
// crmsync ships as crmsync/appsync/app_schema.json): the server owns the list of tables and columns,
// so a new canonical field reaches the app without editing this file.
'use strict'

const { Model, appSchema, tableSchema } = require('@nozbe/watermelondb')

// created_at / updated_at are WatermelonDB's own timestamps: a model that has `createdAt` / `updatedAt`
// gets both stamped on create and `updated_at` on every local edit. crmsync takes a pushed `updated_at`
// as the time of the app's edit (what `newest_wins` compares), and keeps its own otherwise.
const TIMESTAMPS = new Set(['created_at', 'updated_at'])

function camel(name) {
  return name.replace(/_([a-z0-9])/g, (_, c) => c.toUpperCase())
}

// One accessor per column, read and written through WatermelonDB's raw record so that an edit inside
// `record.update(...)` lands in `_changed` (the server merges pushes per field with that list).
function accessor(column) {
  const raw = column.name
  if (TIMESTAMPS.has(raw)) {  // read-only, as WatermelonDB's @readonly @date
    return { get() { const ms = this._getRaw(raw); return ms ? new Date(ms) : null } }
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
  return camel(column.name)
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
      const name = accessorName(column)
      if (name in Model.prototype) throw new Error(`${table}.${column.name}: ${name} would hide WatermelonDB's Model.${name}`)
      Object.defineProperty(ModelClass.prototype, name, { ...accessor(column), configurable: true })
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
        name, type, isOptional: TIMESTAMPS.has(name) ? false : Boolean(isOptional),
      })),
    })),
  })
}

module.exports = { buildSchema, buildModels, accessorName, TIMESTAMPS }
