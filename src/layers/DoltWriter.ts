/**
 * Writing a batch of the projection: one SQL transaction that first moves
 * the checkpoint, on condition that it still stands where the batch starts
 * (its row stays locked to the commit), then upserts the rows.
 *
 * A batch goes as text in two round trips: the transaction's start, the
 * claim of the checkpoint and the session's sql_mode, then every statement
 * of its rows and the COMMIT (DoltStatements.ts). Where the session does not
 * read backslash escapes (NO_BACKSLASH_ESCAPES), or a value of the claim is
 * not plain text, the batch goes the other way: every value a bound
 * parameter, one server-side prepared statement each.
 */
import { SqlClient } from "@effect/sql"
import type { Connection } from "@effect/sql/SqlConnection"
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
import { DATA_TABLES, SCHEMA_VERSION } from "./DoltSchema.js"
import { isSqlError, serverErrno } from "./DoltSql.js"
import { deleteStatements, packQueries, plainLiteral, upsertStatements } from "./DoltStatements.js"

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
    return this.found === this.expected
      ? `another process is writing the projection at ${this.url} (it holds the checkpoint at seq ${this.expected})`
      : `another process is catching up the projection at ${this.url} (its checkpoint moved from seq ${this.expected} to ${this.found})`
  }
  readonly hint = "nothing is lost; run bd dolt status to see whether it is still behind, and bd dolt sync to catch up"
  readonly exitCode = ExitCode.remoteRejected
}

export interface StoredCheckpoint extends Checkpoint {
  readonly town: string
}

/** The checkpoint row, if there is one. */
export const readCheckpoint: Effect.Effect<StoredCheckpoint | undefined, SqlError, SqlClient.SqlClient> =
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const rows = yield* sql.unsafe<{ town: string; last_seq: number | string; last_hash: string }>(
      "SELECT town, last_seq, last_hash FROM bd_checkpoint WHERE id = 1"
    )
    const row = rows[0]
    return row === undefined ? undefined : { town: String(row.town), seq: Number(row.last_seq), hash: String(row.last_hash) }
  })

/** Where the projection stands when a catch-up begins. */
export interface Opened {
  /** The schema version applied (0: none). */
  readonly version: number
  readonly checkpoint: StoredCheckpoint | undefined
  /** Open conflict rows in the table: when there are none, no batch needs to delete any it did not write. */
  readonly conflictRows: number
}

const ER_NO_SUCH_TABLE = 1146

/** Schema version, checkpoint and conflict count in one round trip (unprepared: it has no value to bind); a missing table reads as version 0. */
export const readOpening: Effect.Effect<Opened, SqlError, SqlClient.SqlClient> = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const rows = yield* sql.unsafe<{ version: unknown; town: unknown; last_seq: unknown; last_hash: unknown; conflicts: unknown }>(
    "SELECT (SELECT MAX(version) FROM bd_schema_version) AS version, c.town, c.last_seq, c.last_hash," +
      " (SELECT COUNT(*) FROM bd_conflicts) AS conflicts FROM (SELECT 1 AS one) AS x LEFT JOIN bd_checkpoint c ON c.id = 1"
  ).unprepared.pipe(Effect.catchIf((error) => serverErrno(error) === ER_NO_SUCH_TABLE, () => Effect.succeed([])))
  const row = rows[0]
  if (row === undefined) return { version: 0, checkpoint: undefined, conflictRows: 0 }
  return {
    version: Number(row.version ?? 0),
    checkpoint: row.town === null || row.town === undefined
      ? undefined
      : { town: String(row.town), seq: Number(row.last_seq), hash: String(row.last_hash) },
    conflictRows: Number(row.conflicts ?? 0)
  }
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

/**
 * Move the checkpoint from `from` to `to`, first thing in a transaction: the
 * row stays locked until the commit, so a second writer waits, then finds
 * the checkpoint moved and stops (`DoltProjectionBusy`); the rows of two
 * writers never interleave.
 */
const claim = (url: string, town: string, from: Checkpoint, to: Checkpoint) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const now = new Date(yield* Clock.currentTimeMillis).toISOString()
    const result = yield* sql.unsafe(
      "UPDATE bd_checkpoint SET town = ?, last_seq = ?, last_hash = ?, updated_at = ? WHERE id = 1 AND last_seq = ? AND last_hash = ?",
      [town, to.seq, to.hash, now, from.seq, from.hash]
    ).raw
    if (Number((result as { affectedRows?: number }).affectedRows ?? 0) === 1) return
    const current = (yield* readCheckpoint) ?? START
    return yield* new DoltProjectionBusy({ url, expected: from.seq, found: current.seq })
  })

const ER_LOCK_WAIT_TIMEOUT = 1205
const ER_LOCK_DEADLOCK = 1213

/**
 * One transaction. A COMMIT or ROLLBACK that fails (the server died right
 * then) ends, in @effect/sql, as a defect: it is an unreachable server like
 * any other, and whether the commit landed is read from the checkpoint next
 * time. A deadlock or lock timeout means another writer got there first.
 */
const inTransaction = <A, E>(
  sql: SqlClient.SqlClient,
  url: string,
  from: Checkpoint,
  body: Effect.Effect<A, E, SqlClient.SqlClient>
): Effect.Effect<A, E | SqlError | DoltProjectionBusy, SqlClient.SqlClient> =>
  sql.withTransaction(body).pipe(
    Effect.catchSomeDefect((defect) => (isSqlError(defect) ? Option.some(Effect.fail(defect)) : Option.none())),
    Effect.catchIf(
      (error): error is SqlError => {
        const errno = isSqlError(error) ? serverErrno(error) : undefined
        return errno === ER_LOCK_DEADLOCK || errno === ER_LOCK_WAIT_TIMEOUT
      },
      () => Effect.fail(new DoltProjectionBusy({ url, expected: from.seq, found: from.seq }))
    )
  )

/**
 * The checkpoint row exists before any batch locks it: locking a row that is
 * not there yet would let two first batches both go ahead (and deadlock).
 * Ignored when the row exists, whichever town it names.
 */
export const ensureCheckpointRow = (town: string): Effect.Effect<void, SqlError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const now = new Date(yield* Clock.currentTimeMillis).toISOString()
    yield* sql.unsafe(
      "INSERT IGNORE INTO bd_checkpoint (id, town, last_seq, last_hash, updated_at) VALUES (1, ?, 0, ?, ?)",
      [town, START.hash, now]
    ).raw
  })

export interface BatchWrite {
  readonly url: string
  readonly town: string
  readonly rows: BatchRows
  readonly from: Checkpoint
  readonly to: Checkpoint
}

/** One batch, all or nothing, every value a bound parameter. */
export const writeBatchBound = (batch: BatchWrite): Effect.Effect<RowCounts, SqlError | DoltProjectionBusy, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    return yield* inTransaction(sql, batch.url, batch.from, Effect.gen(function*() {
      yield* claim(batch.url, batch.town, batch.from, batch.to)
      const { rows } = batch
      const events = yield* upsert(EventsTable, rows.events)
      const syncRuns = yield* upsert(SyncRunsTable, rows.syncRuns)
      let deleted = yield* deleteWhereIn(PeersTable.name, "name", rows.gonePeers)
      const peers = yield* upsert(PeersTable, rows.peers)
      deleted += yield* deleteWhereIn(IssuesTable.name, "id", rows.goneIssues)
      const issues = yield* upsert(IssuesTable, rows.issues)
      deleted += yield* deleteWhereIn(ConflictsTable.name, "issue_id", rows.conflictIssues)
      const conflicts = yield* upsert(ConflictsTable, rows.conflicts)
      return { events, issues, peers, syncRuns, conflicts, deleted }
    }))
  })

interface OkPacket {
  readonly affectedRows?: number
}

const affected = (result: unknown): number => Number((result as OkPacket | undefined)?.affectedRows ?? 0)

const isLockConflict = (error: SqlError): boolean => {
  const errno = serverErrno(error)
  return errno === ER_LOCK_DEADLOCK || errno === ER_LOCK_WAIT_TIMEOUT
}

/**
 * One batch, all or nothing, as text (see the top of this module). The claim
 * also checks the town and the schema version, so a writer that skipped
 * reading them (the local checkpoint said where the projection stood) is
 * refused, as `DoltProjectionBusy`, when they are not what it expects.
 */
export const writeBatch = (batch: BatchWrite): Effect.Effect<RowCounts, SqlError | DoltProjectionBusy, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const now = new Date(yield* Clock.currentTimeMillis).toISOString()
    const { from, to, town } = batch
    const values = [to.seq, to.hash, now, town, from.seq, from.hash].map(plainLiteral)
    if (values.some((value) => value === undefined)) return yield* writeBatchBound(batch)
    const [toSeq, toHash, at, townText, fromSeq, fromHash] = values as Array<string>
    const claimText = `UPDATE bd_checkpoint SET last_seq = ${toSeq}, last_hash = ${toHash}, updated_at = ${at}` +
      ` WHERE id = 1 AND town = ${townText} AND last_seq = ${fromSeq} AND last_hash = ${fromHash}` +
      ` AND (SELECT MAX(version) FROM bd_schema_version) = ${SCHEMA_VERSION}`
    const written = yield* Effect.scoped(Effect.gen(function*() {
      const conn = yield* sql.reserve
      const rollback = conn.executeUnprepared("ROLLBACK", [], undefined).pipe(Effect.ignore)
      return yield* Effect.gen(function*() {
        const opened = yield* conn.executeUnprepared(
          `START TRANSACTION;\n${claimText};\nSELECT @@SESSION.sql_mode AS sql_mode`,
          [],
          undefined
        )
        const mode = String((opened[2] as ReadonlyArray<{ sql_mode?: unknown }> | undefined)?.[0]?.sql_mode ?? "")
        if (affected(opened[1]) !== 1) {
          yield* rollback
          const rows = yield* conn.executeUnprepared("SELECT last_seq FROM bd_checkpoint WHERE id = 1", [], undefined)
          const found = rows[0] === undefined ? START.seq : Number((rows[0] as { last_seq: unknown }).last_seq)
          return yield* new DoltProjectionBusy({ url: batch.url, expected: from.seq, found })
        }
        if (/NO_BACKSLASH_ESCAPES/i.test(mode)) {
          yield* rollback
          return undefined
        }
        return yield* writeRows(conn, batch.rows)
      }).pipe(Effect.tapError(() => rollback))
    }))
    return written ?? (yield* writeBatchBound(batch))
  }).pipe(
    Effect.catchIf(
      (error): error is SqlError => isSqlError(error) && isLockConflict(error),
      () => Effect.fail(new DoltProjectionBusy({ url: batch.url, expected: batch.from.seq, found: batch.from.seq }))
    )
  )

/** The rows of a batch and the COMMIT, in as few round trips as fit. */
const writeRows = (conn: Connection, rows: BatchRows): Effect.Effect<RowCounts, SqlError> =>
  Effect.gen(function*() {
    const statements: Array<string> = []
    const deletes: Array<number> = []
    const add = (texts: ReadonlyArray<string>, deleting = false) => {
      for (const text of texts) {
        if (deleting) deletes.push(statements.length)
        statements.push(text)
      }
    }
    add(upsertStatements(EventsTable, rows.events))
    add(upsertStatements(SyncRunsTable, rows.syncRuns))
    add(deleteStatements(PeersTable.name, "name", rows.gonePeers), true)
    add(upsertStatements(PeersTable, rows.peers))
    add(deleteStatements(IssuesTable.name, "id", rows.goneIssues), true)
    add(upsertStatements(IssuesTable, rows.issues))
    add(deleteStatements(ConflictsTable.name, "issue_id", rows.conflictIssues), true)
    add(upsertStatements(ConflictsTable, rows.conflicts))
    add(["COMMIT"])
    const { positions, queries } = packQueries(statements)
    const results: Array<ReadonlyArray<unknown>> = []
    for (const [index, query] of queries.entries()) {
      const alone = positions.filter(([q]) => q === index).length === 1
      // A query of one statement answers its OK packet only through the raw (prepared) call.
      results.push(
        alone && query !== "COMMIT"
          ? [yield* conn.executeRaw(query, [])]
          : yield* conn.executeUnprepared(query, [], undefined)
      )
    }
    let deleted = 0
    for (const index of deletes) {
      const [query, result] = positions[index]!
      deleted += affected(results[query]![result])
    }
    return {
      events: rows.events.length,
      issues: rows.issues.length,
      peers: rows.peers.length,
      syncRuns: rows.syncRuns.length,
      conflicts: rows.conflicts.length,
      deleted
    }
  })

/** Empty every data table and move the checkpoint back to the start, in one transaction. */
export const resetTables = (reset: { readonly url: string; readonly town: string; readonly from: Checkpoint }) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* inTransaction(sql, reset.url, reset.from, Effect.gen(function*() {
      yield* claim(reset.url, reset.town, reset.from, START)
      for (const table of DATA_TABLES) yield* sql.unsafe(`DELETE FROM ${table}`).raw
    }))
  })
