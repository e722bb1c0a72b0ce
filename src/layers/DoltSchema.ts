/**
 * The tables of the SQL projection, owned by bd: created and migrated
 * idempotently, with the versions applied recorded in `bd_schema_version`.
 * Every statement is `CREATE TABLE IF NOT EXISTS` (or otherwise safe to run
 * again), so two runs, or a run cut short, end in the same schema.
 *
 * Keys compare byte for byte (a binary, no-pad collation where the server
 * has one): issue ids that differ only in case or trailing spaces are
 * different issues in the log, so they are different rows here.
 */
import { SqlClient } from "@effect/sql"
import type { SqlError } from "@effect/sql/SqlError"
import { Clock, Effect, Schema } from "effect"
import { ExitCode } from "../domain/Errors.js"
import { serverErrno } from "./DoltSql.js"

/** The schema this bd writes. */
export const SCHEMA_VERSION = 1

/** The projection's tables, data first; `bd_checkpoint` and `bd_schema_version` are bookkeeping. */
export const DATA_TABLES = ["bd_events", "bd_issues", "bd_peers", "bd_sync_runs", "bd_conflicts"] as const

/** Binary collations without padding, best first; `utf8mb4_bin` (which pads) is the last resort. */
const COLLATIONS = ["utf8mb4_0900_bin", "utf8mb4_nopad_bin"] as const

/** The database was written by a newer bd. */
export class DoltSchemaTooNew extends Schema.TaggedError<DoltSchemaTooNew>()("DoltSchemaTooNew", {
  url: Schema.String,
  found: Schema.Number
}) {
  override get message() {
    return `the projection at ${this.url} has schema version ${this.found}, newer than this bd knows (${SCHEMA_VERSION})`
  }
  readonly hint = "upgrade bd, or point dolt.url at another database"
  readonly exitCode = ExitCode.config
}

/** Column names are quoted wherever they appear (`at`, `type`, `fields` are keywords on some server). */
const quoteColumn = (line: string): string =>
  /^\s*(PRIMARY|UNIQUE|KEY)\b/.test(line)
    ? line.replace(/\(([^)]*)\)/, (_, names: string) => `(${names.split(",").map((n) => `\`${n.trim()}\``).join(", ")})`)
    : line.replace(/^(\s*)(\w+)/, "$1`$2`")

const table = (collation: string) => (name: string, body: string) =>
  `CREATE TABLE IF NOT EXISTS ${name} (\n${body.split("\n").map(quoteColumn).join("\n")}\n) DEFAULT CHARSET = utf8mb4 COLLATE = ${collation}`

/** Version 1: every table of the read model. */
const version1 = (collation: string): ReadonlyArray<string> => {
  const create = table(collation)
  return [
    create(
      "bd_checkpoint",
      `  id TINYINT NOT NULL PRIMARY KEY,
  town VARCHAR(255) NOT NULL,
  last_seq BIGINT NOT NULL,
  last_hash CHAR(64) NOT NULL,
  updated_at VARCHAR(64) NOT NULL`
    ),
    create(
      "bd_events",
      `  seq BIGINT NOT NULL PRIMARY KEY,
  id VARCHAR(255) NOT NULL,
  town VARCHAR(255) NOT NULL,
  town_seq BIGINT NOT NULL,
  lamport BIGINT NOT NULL,
  type VARCHAR(255) NOT NULL,
  at VARCHAR(255) NOT NULL,
  actor LONGTEXT NOT NULL,
  data JSON NULL,
  seen JSON NOT NULL,
  sig LONGTEXT NULL,
  prev CHAR(64) NOT NULL,
  hash CHAR(64) NOT NULL,
  UNIQUE KEY bd_events_id (id),
  KEY bd_events_type (type)`
    ),
    create(
      "bd_issues",
      `  id VARCHAR(512) NOT NULL PRIMARY KEY,
  title LONGTEXT NULL,
  description LONGTEXT NULL,
  design LONGTEXT NULL,
  acceptance_criteria LONGTEXT NULL,
  notes LONGTEXT NULL,
  status VARCHAR(64) NULL,
  priority INT NULL,
  issue_type VARCHAR(64) NULL,
  assignee VARCHAR(255) NULL,
  owner VARCHAR(255) NULL,
  created_by VARCHAR(255) NULL,
  labels JSON NULL,
  dependencies JSON NULL,
  comments JSON NULL,
  external_ref LONGTEXT NULL,
  created_at VARCHAR(64) NULL,
  updated_at VARCHAR(64) NULL,
  closed_at VARCHAR(64) NULL,
  close_reason LONGTEXT NULL,
  deleted_at VARCHAR(64) NULL,
  deleted_by VARCHAR(255) NULL,
  delete_reason LONGTEXT NULL,
  original_type VARCHAR(64) NULL,
  source_system VARCHAR(255) NULL,
  fields JSON NOT NULL,
  KEY bd_issues_status (status),
  KEY bd_issues_type (issue_type),
  KEY bd_issues_assignee (assignee)`
    ),
    create(
      "bd_peers",
      `  name VARCHAR(255) NOT NULL PRIMARY KEY,
  endpoint LONGTEXT NOT NULL,
  sovereignty VARCHAR(8) NULL,
  has_credentials BOOLEAN NOT NULL,
  added_at VARCHAR(255) NOT NULL,
  added_by LONGTEXT NOT NULL`
    ),
    create(
      "bd_sync_runs",
      `  seq BIGINT NOT NULL PRIMARY KEY,
  event_id VARCHAR(255) NOT NULL,
  peer VARCHAR(255) NOT NULL,
  operation VARCHAR(16) NOT NULL,
  outcome VARCHAR(16) NOT NULL,
  at VARCHAR(255) NOT NULL,
  actor LONGTEXT NOT NULL,
  message LONGTEXT NULL,
  data JSON NULL,
  KEY bd_sync_runs_peer (peer, seq)`
    ),
    create(
      "bd_conflicts",
      `  issue_id VARCHAR(512) NOT NULL,
  field VARCHAR(255) NOT NULL,
  conflict_id LONGTEXT NOT NULL,
  heads JSON NOT NULL,
  shown JSON NULL,
  PRIMARY KEY (issue_id, field)`
    )
  ]
}

/** Migrations in order: index 0 brings an empty database to version 1. */
const MIGRATIONS: ReadonlyArray<(collation: string) => ReadonlyArray<string>> = [version1]

const ER_NO_SUCH_TABLE = 1146

/** The highest version applied, 0 for a database bd has not touched. */
export const appliedVersion: Effect.Effect<number, SqlError, SqlClient.SqlClient> = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  return yield* sql.unsafe<{ version: number | string | null }>("SELECT MAX(version) AS version FROM bd_schema_version").pipe(
    Effect.map((rows) => Number(rows[0]?.version ?? 0)),
    Effect.catchIf((error) => serverErrno(error) === ER_NO_SUCH_TABLE, () => Effect.succeed(0))
  )
})

const pickCollation: Effect.Effect<string, never, SqlClient.SqlClient> = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const rows = yield* sql.unsafe<{ name: string }>(
    "SELECT COLLATION_NAME AS name FROM information_schema.COLLATIONS WHERE COLLATION_NAME IN (?, ?)",
    [...COLLATIONS]
  ).pipe(Effect.orElseSucceed(() => []))
  const names = new Set(rows.map((row) => row.name))
  return COLLATIONS.find((name) => names.has(name)) ?? "utf8mb4_bin"
})

/**
 * Brings the database to `SCHEMA_VERSION`; answers the version found before.
 * Cheap when there is nothing to do: one query.
 */
export const ensureSchema = (url: string): Effect.Effect<number, SqlError | DoltSchemaTooNew, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const found = yield* appliedVersion
    if (found > SCHEMA_VERSION) return yield* new DoltSchemaTooNew({ url, found })
    if (found === SCHEMA_VERSION) return found
    yield* sql.unsafe(
      "CREATE TABLE IF NOT EXISTS bd_schema_version (\n  version INT NOT NULL PRIMARY KEY,\n  applied_at VARCHAR(64) NOT NULL\n)"
    ).raw
    const collation = yield* pickCollation
    const now = new Date(yield* Clock.currentTimeMillis).toISOString()
    for (let version = found + 1; version <= SCHEMA_VERSION; version++) {
      for (const statement of MIGRATIONS[version - 1]!(collation)) yield* sql.unsafe(statement).raw
      yield* sql.unsafe("INSERT IGNORE INTO bd_schema_version (version, applied_at) VALUES (?, ?)", [version, now]).raw
    }
    return found
  })
