/**
 * What only a Dolt server does for the projection: a Dolt commit at the end
 * of every catch-up batch, and the town's peers mirrored as Dolt remotes.
 *
 * Written to Dolt's documented SQL procedures (DOLT_COMMIT, DOLT_REMOTE, the
 * `dolt_remotes` system table; see docs/DOLT.md). No Dolt server runs in
 * this project's tests, so the error texts Dolt answers with are matched
 * loosely where the documentation does not fix them (marked UNCONFIRMED).
 *
 * Procedure calls go unprepared (`CALL` in a server-side prepared statement
 * is not documented for Dolt); their values are still passed as parameters,
 * which the driver escapes: no value is ever spliced into SQL text here.
 */
import { SqlClient } from "@effect/sql"
import type { SqlError } from "@effect/sql/SqlError"
import { Effect } from "effect"
import { serverErrno, serverMessage } from "./DoltSql.js"

export interface ServerKind {
  readonly dolt: boolean
  /** `dolt_version()` on Dolt, `VERSION()` elsewhere ("" when it was not asked). */
  readonly version: string
}

/** A server-side error (not a lost connection): the server is there and said no. */
const refused = (error: SqlError): boolean => serverErrno(error) !== undefined

/**
 * Dolt answers `SELECT dolt_version()`; MariaDB and MySQL refuse it as an
 * unknown function (error 1305, or another code on other servers: any
 * refusal counts). A connection that fails is a failure, not "not Dolt".
 * With `version`, another server's `VERSION()` is asked too (one more round
 * trip, which a catch-up does without).
 */
export const detectServer = (options: { readonly version: boolean }): Effect.Effect<ServerKind, SqlError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const dolt = yield* sql.unsafe<{ version: unknown }>("SELECT dolt_version() AS version").unprepared.pipe(
      Effect.map((rows) => String(rows[0]?.version ?? "")),
      Effect.catchIf(refused, () => Effect.succeed(undefined))
    )
    if (dolt !== undefined) return { dolt: true, version: dolt }
    if (!options.version) return { dolt: false, version: "" }
    const rows = yield* sql.unsafe<{ version: unknown }>("SELECT VERSION() AS version").unprepared
    return { dolt: false, version: String(rows[0]?.version ?? "") }
  })

/**
 * The URL Dolt is given for a peer's endpoint. Dolt's own form of a DoltHub
 * remote is `https://doltremoteapi.dolthub.com/org/repo`; whether it takes
 * `dolthub://` literally is UNCONFIRMED, so it is mapped here, and only here.
 * Other endpoints (`gs://`, `s3://`, `file://`, `https://`, git remotes)
 * pass through unchanged.
 */
export const doltRemoteUrl = (endpoint: string): string => {
  const match = /^dolthub:\/\/(.+)$/i.exec(endpoint.trim())
  return match === null ? endpoint : `https://doltremoteapi.dolthub.com/${match[1]}`
}

// UNCONFIRMED texts: Dolt's messages for "nothing to commit" (beads matches
// the same), an existing remote, and a missing one.
const NOTHING_TO_COMMIT = /nothing to commit/i
const ALREADY_EXISTS = /already exists/i
const NO_SUCH_REMOTE = /unknown remote|not found|does not exist|no such remote|no remote/i

/** `CALL DOLT_COMMIT('-Am', message)`: the commit hash, or undefined when there was nothing to commit. */
export const doltCommit = (message: string): Effect.Effect<string | undefined, SqlError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    return yield* sql.unsafe<{ hash?: unknown }>("CALL DOLT_COMMIT('-Am', ?)", [message]).unprepared.pipe(
      Effect.map((rows) => {
        // A CALL answers a result set; some drivers wrap it in an outer array.
        const first = (Array.isArray(rows[0]) ? (rows[0] as Array<{ hash?: unknown }>)[0] : rows[0]) ?? {}
        return first.hash === undefined ? "" : String(first.hash)
      }),
      Effect.catchIf((error) => refused(error) && NOTHING_TO_COMMIT.test(serverMessage(error)), () => Effect.succeed(undefined))
    )
  })

/** One peer change to mirror as a Dolt remote. */
export type RemoteChange =
  | { readonly _tag: "add"; readonly name: string; readonly endpoint: string }
  | { readonly _tag: "remove"; readonly name: string }

/**
 * Mirror one peer change. Adding a remote that exists and removing one that
 * does not are benign (a batch replayed after a crash does both). Another
 * refusal (an endpoint kind this Dolt does not take) is a warning, not a
 * failure: the read model must not stop on a remote it cannot mirror.
 */
export const mirrorRemote = (change: RemoteChange): Effect.Effect<string | undefined, SqlError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const call = change._tag === "add"
      ? sql.unsafe("CALL DOLT_REMOTE('add', ?, ?)", [change.name, doltRemoteUrl(change.endpoint)])
      : sql.unsafe("CALL DOLT_REMOTE('remove', ?)", [change.name])
    const benign = change._tag === "add" ? ALREADY_EXISTS : NO_SUCH_REMOTE
    return yield* call.unprepared.pipe(
      Effect.as(undefined),
      Effect.catchIf(refused, (error) => {
        const text = serverMessage(error)
        return Effect.succeed(benign.test(text) ? undefined : `could not ${change._tag} Dolt remote ${change.name}: ${text}`)
      })
    )
  })

/**
 * Remotes added over SQL may not survive a server restart on every Dolt
 * version (UNCONFIRMED; beads re-adds them): add back the peers missing
 * from `dolt_remotes`.
 */
export const restoreRemotes = (
  peers: ReadonlyArray<{ readonly name: string; readonly endpoint: string }>
): Effect.Effect<ReadonlyArray<string>, SqlError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    if (peers.length === 0) return []
    const sql = yield* SqlClient.SqlClient
    const listed = yield* sql.unsafe<{ name: string }>("SELECT name FROM dolt_remotes").unprepared.pipe(
      Effect.map((rows) => rows.map((row) => String(row.name))),
      Effect.catchIf(refused, (error) => Effect.succeed(`could not list Dolt remotes: ${serverMessage(error)}`))
    )
    if (typeof listed === "string") return [listed]
    const present = new Set(listed)
    const warnings: Array<string> = []
    for (const peer of peers) {
      if (present.has(peer.name)) continue
      const warning = yield* mirrorRemote({ _tag: "add", name: peer.name, endpoint: peer.endpoint })
      if (warning !== undefined) warnings.push(warning)
    }
    return warnings
  })
