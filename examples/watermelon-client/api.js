// The thin pullChanges / pushChanges that WatermelonDB's synchronize() needs, against crmsync's
// /api/sync routes (docs/app-sync.md in the crmsync repository is the contract).
'use strict'

class SyncHttpError extends Error {
  constructor(method, url, status, body) {
    const said = body && body.error ? body.error.message || JSON.stringify(body.error) : JSON.stringify(body)
    super(`${method} ${url} answered ${status}: ${said}`)
    this.status = status
    this.body = body
  }
}

function createApi({ server, getToken, fetchImpl = globalThis.fetch }) {
  const base = server.replace(/\/+$/, '')

  async function call(method, path, body) {
    const url = base + path
    const response = await fetchImpl(url, {
      method,
      headers: {
        Authorization: `Bearer ${getToken()}`,
        Accept: 'application/json',
        ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    })
    const text = await response.text()
    let parsed = null
    try {
      parsed = text ? JSON.parse(text) : null
    } catch (_) {
      parsed = { error: { message: text.slice(0, 200) } }
    }
    if (!response.ok) throw new SyncHttpError(method, url, response.status, parsed)
    return parsed
  }

  function query(params) {
    const pairs = Object.entries(params).filter(([, v]) => v !== undefined && v !== null)
    return pairs.length ? '?' + new URLSearchParams(pairs.map(([k, v]) => [k, typeof v === 'object' ? JSON.stringify(v) : String(v)])) : ''
  }

  // WatermelonDB passes lastPulledAt = null on the first sync: that is the initial route.
  async function pullChanges({ lastPulledAt, schemaVersion, migration }) {
    const path = lastPulledAt == null ? '/api/sync/initial'
      : '/api/sync/incremental' + query({ last_pulled_at: lastPulledAt, schema_version: schemaVersion, migration })
    const { changes, timestamp } = await call('GET', path)
    return { changes, timestamp }
  }

  // Records the server set aside (a value the canonical schema refuses) stay unsynced here; the whole
  // answer (`rejected` with reasons, `conflicts` the server settled) is kept for the app to show.
  let lastPush = null
  async function pushChanges({ changes, lastPulledAt }) {
    lastPush = await call('POST', '/api/sync/outgoing' + query({ last_pulled_at: lastPulledAt }), { changes })
    const rejected = lastPush.rejected || []
    if (!rejected.length) return undefined
    const experimentalRejectedIds = {}
    for (const { table, id } of rejected) (experimentalRejectedIds[table] = experimentalRejectedIds[table] || []).push(id)
    return { experimentalRejectedIds }
  }

  return {
    pullChanges,
    pushChanges,
    lastPush: () => lastPush,
    schema: () => call('GET', '/api/sync/schema'),
  }
}

module.exports = { createApi, SyncHttpError }
