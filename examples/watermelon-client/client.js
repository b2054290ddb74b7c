#!/usr/bin/env node
// crmsync's reference WatermelonDB client: an in-memory WatermelonDB (LokiJS adapter) kept in sync
// with `crmsync serve` by WatermelonDB's own synchronize().
//
//   node client.js --server http://127.0.0.1:8710 --token "$JWT" [--schema app_schema.json]
//
// then one JSON command per line on stdin, one JSON answer per line on stdout:
//   {"op": "sync"}                                            pull, then push what changed here
//   {"op": "sync", "hold_before_push": true}                  tests: after the pull, answer {"event": "pulled"}
//                                                             and wait for {"op": "continue"} before pushing
//   {"op": "create", "table": "contacts", "values": {...}}    answers {"id": ...}
//   {"op": "update", "table": "contacts", "id": "...", "values": {...}}
//   {"op": "delete", "table": "contacts", "id": "..."}         a synced delete (markAsDeleted)
//   {"op": "dump"}                                            every table's raw records, _status and _changed too
//   {"op": "unsynced"}                                        whether local changes wait for a sync
//   {"op": "token", "token": "..."}                           use another JWT from now on
//   {"op": "fault", "kind": "lose_push_answer", "times": 1}   tests: lose the next answer(s) (or lose_pull_answer);
//                                                             {"op": "sync", "fault": "..."}: this sync's only
// Between two syncs the client is "offline": edits stay local until the next sync.
'use strict'

const fs = require('node:fs')
const readline = require('node:readline')
const { Database } = require('@nozbe/watermelondb')
const LokiJSAdapter = require('@nozbe/watermelondb/adapters/lokijs').default
const { synchronize, hasUnsyncedChanges } = require('@nozbe/watermelondb/sync')
const logger = require('@nozbe/watermelondb/utils/common/logger').default

const { createApi } = require('./api')
const { buildSchema, buildModels, accessorName, TIMESTAMPS } = require('./schema')

// stdout carries only answers: WatermelonDB's and Loki's chatter goes to stderr.
logger.silence()
console.log = (...args) => console.error(...args)

function parseArgs(argv) {
  const args = {}
  for (let i = 0; i < argv.length; i += 2) {
    if (!argv[i].startsWith('--')) throw new Error(`unexpected argument ${argv[i]}`)
    args[argv[i].slice(2)] = argv[i + 1]
  }
  if (!args.server) throw new Error('--server URL is required')
  return args
}

async function openDatabase(spec) {
  const adapter = new LokiJSAdapter({
    schema: buildSchema(spec),
    useWebWorker: false,
    useIncrementalIndexedDB: false, // no IndexedDB in Node: Loki keeps the database in memory
    extraLokiOptions: { autosave: false },
  })
  return new Database({ adapter, modelClasses: buildModels(spec) })
}

function assign(record, values) {
  const columns = record.constructor.columns
  for (const [name, value] of Object.entries(values)) {
    const column = columns.find((c) => c.name === name)
    if (!column) throw new Error(`${record.table} has no column ${name}`)
    record[accessorName(column)] = value
  }
}

function withFault(state, kind, call) {
  return async (args) => {
    const answer = await call(args)
    if (state.faults[kind] > 0) {
      state.faults[kind] -= 1
      throw new Error(`fault injected: ${kind}`)
    }
    return answer
  }
}

function makeHandlers(database, api, state) {
  const collection = (table) => database.get(table)
  const handlers = {
    async sync({ hold_before_push: hold = false, fault }) {
      if (fault) await handlers.fault({ kind: fault }) // this sync's only: disarmed below if it never fired
      const log = {}
      const clashes = []
      let pushed = {} // WatermelonDB calls pushChanges only when there is something to push
      const push = async (args) => {
        if (hold) await state.pause('pulled') // tests: the server changes between this pull and the push
        const result = await api.pushChanges(args)
        pushed = api.lastPush()
        return result
      }
      try {
        await synchronize({
          database,
          pullChanges: withFault(state, 'lose_pull_answer', api.pullChanges),
          pushChanges: withFault(state, 'lose_push_answer', push),
          log,
          // WatermelonDB keeps the local value of every column edited here since the last sync, even when
          // the pull brings another value for it; report those clashes (the resolution stays WatermelonDB's).
          conflictResolver(table, local, remote, resolved) {
            const fields = local._changed.split(',').filter((c) => c && !TIMESTAMPS.has(c) && local[c] !== remote[c])
            if (fields.length) {
              clashes.push({ table, id: local.id, fields: Object.fromEntries(
                fields.map((c) => [c, { local: local[c], remote: remote[c] }])) })
            }
            return resolved
          },
        })
      } catch (error) {
        error.conflicts = clashes // a push that failed after the pull: the pull's clashes still happened
        throw error
      } finally {
        if (fault) state.faults[fault] = 0
      }
      return {
        last_pulled_at: log.newLastPulledAt,
        pulled: log.remoteChangeCount,
        pushed: log.localChangeCount,
        rejected: pushed.rejected || [],
        settled_by_server: pushed.conflicts || [], // same-field clashes the server's conflict policy settled
        conflicts: clashes,
      }
    },
    async create({ table, values = {} }) {
      const record = await database.write(() => collection(table).create((r) => assign(r, values)))
      return { id: record.id }
    },
    async update({ table, id, values = {} }) {
      await database.write(async () => {
        const record = await collection(table).find(id)
        await record.update((r) => assign(r, values))
      })
      return { id }
    },
    async delete({ table, id }) {
      await database.write(async () => {
        const record = await collection(table).find(id)
        await record.markAsDeleted()
      })
      return { id }
    },
    async dump() {
      const tables = {}
      for (const table of Object.keys(state.spec.tables)) {
        const records = await collection(table).query().fetch()
        tables[table] = records.map((r) => ({ ...r._raw }))
      }
      return { tables }
    },
    async unsynced() {
      return { unsynced: await hasUnsyncedChanges({ database }) }
    },
    async token({ token }) {
      state.token = token
      return {}
    },
    // For tests: the next N pulls or pushes reach the server, then fail as if the answer was lost on the
    // way back (a dropped connection); WatermelonDB keeps the local changes and the next sync retries.
    async fault({ kind, times = 1 }) {
      if (!['lose_pull_answer', 'lose_push_answer'].includes(kind)) throw new Error(`unknown fault ${kind}`)
      state.faults[kind] = times
      return {}
    },
  }
  return handlers
}

async function main() {
  const args = parseArgs(process.argv.slice(2))
  const state = { token: args.token || process.env.CRMSYNC_APP_TOKEN || '', faults: {} }
  const api = createApi({ server: args.server, getToken: () => state.token })
  state.spec = args.schema ? JSON.parse(fs.readFileSync(args.schema, 'utf8')) : await api.schema()
  const database = await openDatabase(state.spec)
  const handlers = makeHandlers(database, api, state)
  process.stdout.write(JSON.stringify({ ok: true, ready: true, tables: Object.keys(state.spec.tables) }) + '\n')

  const lines = readline.createInterface({ input: process.stdin, crlfDelay: Infinity })[Symbol.asyncIterator]()
  // A sync held between its pull and its push says so, and goes on at the next {"op": "continue"}.
  state.pause = async (event) => {
    process.stdout.write(JSON.stringify({ event }) + '\n')
    const next = await lines.next()
    if (next.done || JSON.parse(next.value).op !== 'continue') throw new Error(`expected {"op": "continue"} after ${event}`)
  }
  for (let next = await lines.next(); !next.done; next = await lines.next()) {
    const line = next.value
    if (!line.trim()) continue
    let answer
    try {
      const command = JSON.parse(line)
      const handler = handlers[command.op]
      if (!handler) throw new Error(`unknown op ${JSON.stringify(command.op)}; known: ${Object.keys(handlers).join(', ')}`)
      answer = { ok: true, ...(await handler(command)) }
    } catch (error) {
      answer = { ok: false, error: String(error && error.message ? error.message : error), status: error.status,
        conflicts: error.conflicts }
    }
    process.stdout.write(JSON.stringify(answer) + '\n')
  }
}

main().catch((error) => {
  process.stdout.write(JSON.stringify({ ok: false, ready: false, error: String(error.message || error) }) + '\n')
  process.exit(1)
})
