/**
 * Writing a batch of the projection: one SQL transaction that first locks
 * the checkpoint and checks it still stands where the batch starts, then
 * upserts the rows and moves the checkpoint. Every value is a bound
 * parameter; the SQL text is made of this module's constant table and
 * column names only.
 */
import { SqlClient } from "@effect/sql"
import type { SqlError } from "@effect/sql/SqlError"
import { Clock, Effect, Option, Schema } from "effect"
import { ExitCode } from "../domain/Errors.js"
import { GENESIS_HASH } from "../events/Envelope.js"
import {
  type BatchRows,
  ConflictsTable,
  EventsTable,
  IssuesTable,
  PeersTable,
  type Row,
  SyncRunsTable,
  type TableSpec
} from "./DoltRows.js"
import { DATA_TABLES } from "./DoltSchema.js"

/** Where the projection stands: the last event projected. */
export interface Checkpoint {
  readonly seq: number
  readonly hash: string
}

export const START: Checkpoint = { seq: 0, hash: GENESIS_HASH }

/** Another process moved the checkpoint while this one was writing: it is catching up, this one stops. */
export class DoltProjectionBusy extends Schema.TaggedError<DoltProjectionBusy>()("DoltProjectionBusy", {
  url: Schema.String,
  expected: Schema.Number,
  found: Schema.Number
}) {
  override get message() {
    return `another process is catching up the projection at ${this.url} (its checkpoint moved from seq ${this.expected} to ${this.found})`
  }
  readonly hint = "nothing is lost; run bd dolt status to see whether it is still behind, and bd dolt sync to catch up"
  readonly exitCode = ExitCode.remoteRejected
}

export interface StoredCheckpoint extends Checkpoint {
  readonly town: string
}

/** The checkpoint row; with `forUpdate`, locked until the transaction ends. */
export const readCheckpoint = (forUpdate: boolean): Effect.Effect<StoredCheckpoint | undefined, SqlError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const rows = yield* sql.unsafe<{ town: string; last_seq: number | string; last_hash: string }>(
      `SELECT town, last_seq, last_hash FROM bd_checkpoint WHERE id = 1${forUpdate ? " FOR UPDATE" : ""}`
    )
    const row = rows[0]
    return row === undefined ? undefined : { town: String(row.town), seq: Number(row.last_seq), hash: String(row.last_hash) }
  })

export interface RowCounts {
  readonly events: number
  readonly issues: number
  readonly peers: number
  readonly syncRuns: number
  readonly conflicts: number
  /** Rows deleted: issues and peers gone, conflicts closed or replaced. */
  readonly deleted: number
}

export const zeroCounts: RowCounts = { events: 0, issues: 0, peers: 0, syncRuns: 0, conflicts: 0, deleted: 0 }

export const addCounts = (a: RowCounts, b: RowCounts): RowCounts => ({
  events: a.events + b.events,
  issues: a.issues + b.issues,
  peers: a.peers + b.peers,
  syncRuns: a.syncRuns + b.syncRuns,
  conflicts: a.conflicts + b.conflicts,
  deleted: a.deleted + b.deleted
})

/** Servers refuse statements over 65,535 placeholders or max_allowed_packet (16 MB on MariaDB): stay well below both. */
const MAX_PLACEHOLDERS = 30_000
const MAX_STATEMENT_BYTES = 4 * 1024 * 1024

const quote = (name: string): string => `\`${name}\``

const rowBytes = (row: Row): number => {
  let bytes = 16
  for (const value of row) bytes += typeof value === "string" ? value.length * 3 : 8
  return bytes
}

/** Rows in groups small enough for one statement each. */
const chunks = (rows: ReadonlyArray<Row>, columns: number): ReadonlyArray<ReadonlyArray<Row>> => {
  const out: Array<Array<Row>> = []
  const perStatement = Math.max(1, Math.floor(MAX_PLACEHOLDERS / columns))
  let current: Array<Row> = []
  let bytes = 0
  for (const row of rows) {
    const size = rowBytes(row)
    if (current.length > 0 && (current.length >= perStatement || bytes + size > MAX_STATEMENT_BYTES)) {
      out.push(current)
      current = []
      bytes = 0
    }
    current.push(row)
    bytes += size
  }
  if (current.length > 0) out.push(current)
  return out
}

const upsertText = (table: TableSpec, rows: number): string => {
  const one = `(${table.columns.map(() => "?").join(", ")})`
  const updates = table.columns.filter((c) => !table.key.includes(c)).map((c) => `${quote(c)} = VALUES(${quote(c)})`)
  return `INSERT INTO ${table.name} (${table.columns.map(quote).join(", ")}) VALUES ${Array(rows).fill(one).join(", ")}` +
    ` ON DUPLICATE KEY UPDATE ${updates.join(", ")}`
}

/** Insert or replace rows by key. */
export const upsert = (table: TableSpec, rows: ReadonlyArray<Row>): Effect.Effect<number, SqlError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    for (const group of chunks(rows, table.columns.length)) {
      yield* sql.unsafe(upsertText(table, group.length), group.flat()).raw
    }
    return rows.length
  })

/** Delete the rows whose `column` is one of `values`. */
export const deleteWhereIn = (
  table: string,
  column: string,
  values: ReadonlyArray<string>
): Effect.Effect<number, SqlError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    let deleted = 0
    for (const group of chunks(values.map((value) => [value]), 1)) {
      const result = yield* sql.unsafe(
        `DELETE FROM ${table} WHERE ${quote(column)} IN (${group.map(() => "?").join(", ")})`,
        group.flat()
      ).raw
      deleted += Number((result as { affectedRows?: number }).affectedRows ?? 0)
    }
    return deleted
  })

const moveCheckpoint = (town: string, to: Checkpoint) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const now = new Date(yield* Clock.currentTimeMillis).toISOString()
    yield* sql.unsafe(
      "INSERT INTO bd_checkpoint (id, town, last_seq, last_hash, updated_at) VALUES (1, ?, ?, ?, ?)" +
        " ON DUPLICATE KEY UPDATE town = VALUES(town), last_seq = VALUES(last_seq), last_hash = VALUES(last_hash), updated_at = VALUES(updated_at)",
      [town, to.seq, to.hash, now]
    ).raw
  })

/** Lock the checkpoint; fail if another process moved it since this one read it. */
const claim = (url: string, from: Checkpoint) =>
  Effect.gen(function*() {
    const current = (yield* readCheckpoint(true)) ?? START
    if (current.seq !== from.seq || current.hash !== from.hash) {
      return yield* new DoltProjectionBusy({ url, expected: from.seq, found: current.seq })
    }
  })

/**
 * A transaction whose COMMIT or ROLLBACK fails (the server died right then)
 * ends, in @effect/sql, as a defect; it is an unreachable server like any
 * other, and whether the commit landed is read from the checkpoint next time.
 */
const inTransaction = <A, E>(
  sql: SqlClient.SqlClient,
  body: Effect.Effect<A, E, SqlClient.SqlClient>
): Effect.Effect<A, E | SqlError, SqlClient.SqlClient> =>
  sql.withTransaction(body).pipe(
    Effect.catchSomeDefect((defect) =>
      isSqlError(defect) ? Option.some(Effect.fail(defect)) : Option.none()
    )
  )

const isSqlError = (u: unknown): u is SqlError => typeof u === "object" && u !== null && (u as { _tag?: unknown })._tag === "SqlError"

export interface BatchWrite {
  readonly url: string
  readonly town: string
  readonly rows: BatchRows
  readonly from: Checkpoint
  readonly to: Checkpoint
}

/** One batch, all or nothing. */
export const writeBatch = (batch: BatchWrite): Effect.Effect<RowCounts, SqlError | DoltProjectionBusy, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    return yield* inTransaction(sql, Effect.gen(function*() {
      yield* claim(batch.url, batch.from)
      const { rows } = batch
      const events = yield* upsert(EventsTable, rows.events)
      const syncRuns = yield* upsert(SyncRunsTable, rows.syncRuns)
      let deleted = yield* deleteWhereIn(PeersTable.name, "name", rows.gonePeers)
      const peers = yield* upsert(PeersTable, rows.peers)
      deleted += yield* deleteWhereIn(IssuesTable.name, "id", rows.goneIssues)
      const issues = yield* upsert(IssuesTable, rows.issues)
      deleted += yield* deleteWhereIn(ConflictsTable.name, "issue_id", rows.conflictIssues)
      const conflicts = yield* upsert(ConflictsTable, rows.conflicts)
      yield* moveCheckpoint(batch.town, batch.to)
      return { events, issues, peers, syncRuns, conflicts, deleted }
    }))
  })

/** Empty every data table and move the checkpoint back to the start, in one transaction. */
export const resetTables = (reset: { readonly url: string; readonly town: string; readonly from: Checkpoint }) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* inTransaction(sql, Effect.gen(function*() {
      yield* claim(reset.url, reset.from)
      for (const table of DATA_TABLES) yield* sql.unsafe(`DELETE FROM ${table}`).raw
      yield* moveCheckpoint(reset.town, { seq: 0, hash: GENESIS_HASH })
    }))
  })
