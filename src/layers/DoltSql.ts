/**
 * The SQL connection of the Dolt projection: a MysqlClient
 * (@effect/sql-mysql2) built from `dolt.url` and the password
 * (`dolt.password` / `BD_DOLT_PASSWORD`), with the pool size and timeouts of
 * the configuration. The client is opened for one use and closed after it,
 * so a command that projects nothing never connects, and a server that is
 * down costs one short connect timeout. The password lives in a Redacted
 * value: it is never printed, and never put in an error.
 */
import { SqlClient } from "@effect/sql"
import type { SqlError } from "@effect/sql/SqlError"
import type { MysqlClient } from "@effect/sql-mysql2"
import { Duration, Effect, Either, Layer, Redacted, Schema } from "effect"
import { parseDoltUrl } from "../domain/ConfigKeys.js"
import { ExitCode } from "../domain/Errors.js"
import type { ConfigService } from "./Config.js"

/** Where the projection lives and how to reach it. */
export interface DoltTarget {
  /** `mysql://user@host:port/database`, never with a password: safe to show. */
  readonly url: string
  readonly host: string
  readonly port: number
  readonly user: string
  readonly database: string
  readonly password: Redacted.Redacted<string> | undefined
  readonly poolSize: number
  readonly connectTimeoutMs: number
  readonly queryTimeoutMs: number
}

/** The target of the configuration, or undefined when `dolt.url` is not set (or not valid, which Config reports). */
export const doltTarget = (config: ConfigService): DoltTarget | undefined => {
  if (config.doltUrl === undefined) return undefined
  const parsed = parseDoltUrl(config.doltUrl)
  if (Either.isLeft(parsed)) return undefined
  const { database, host, port, user } = parsed.right
  return {
    url: `mysql://${user}@${host}:${port}/${database}`,
    host: host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host,
    port,
    user,
    database,
    password: config.doltPassword === undefined ? undefined : Redacted.make(config.doltPassword),
    poolSize: config.doltPoolSize,
    connectTimeoutMs: config.doltConnectTimeoutMs,
    queryTimeoutMs: config.doltQueryTimeoutMs
  }
}

/** The SQL server could not be reached, or refused or failed a statement. */
export class DoltUnavailable extends Schema.TaggedError<DoltUnavailable>()("DoltUnavailable", {
  url: Schema.String,
  operation: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return `the SQL projection at ${this.url} could not ${this.operation}: ${this.reason}`
  }
  readonly hint =
    "check that the server runs and that dolt.url and the password (BD_DOLT_PASSWORD) are right; the event log is unaffected, and bd dolt sync catches the projection up"
  readonly exitCode = ExitCode.remoteUnreachable
}

/** A `bd dolt` command in a town without `dolt.url`. */
export class DoltNotConfigured extends Schema.TaggedError<DoltNotConfigured>()("DoltNotConfigured", {
  command: Schema.String
}) {
  override get message() {
    return `${this.command} needs a SQL server for the projection, and dolt.url is not set`
  }
  readonly hint = "set it with: bd config set dolt.url mysql://user@host:3306/beads   (password: BD_DOLT_PASSWORD)"
  readonly exitCode = ExitCode.config
}

export const isSqlError = (u: unknown): u is SqlError =>
  typeof u === "object" && u !== null && (u as { readonly _tag?: unknown })._tag === "SqlError"

interface DriverError {
  readonly message?: string
  readonly code?: string
  readonly errno?: number
  readonly fatal?: boolean
  readonly sqlMessage?: string
}

const driverError = (error: SqlError): DriverError =>
  typeof error.cause === "object" && error.cause !== null ? (error.cause as DriverError) : {}

/** The server's error number, when the server answered with an error (not when the connection failed). */
export const serverErrno = (error: SqlError): number | undefined => {
  const cause = driverError(error)
  return cause.fatal !== true && typeof cause.errno === "number" ? cause.errno : undefined
}

/** The server's own words, for matching texts Dolt documents loosely. */
export const serverMessage = (error: SqlError): string => {
  const cause = driverError(error)
  return cause.sqlMessage ?? cause.message ?? error.message
}

/** What went wrong, in the driver's words, with the password cut out should it ever appear. */
export const describeSqlError = (target: DoltTarget, error: SqlError): string => {
  const cause = driverError(error)
  const aggregate = (error.cause as { errors?: ReadonlyArray<{ message?: string }> } | undefined)?.errors
  const text = cause.sqlMessage ?? (cause.message !== undefined && cause.message !== "" ? cause.message : undefined) ??
    aggregate?.map((e) => e.message).join("; ") ?? error.message
  const withCode = cause.code !== undefined && !text.includes(cause.code) ? `${cause.code}: ${text}` : text
  const secret = target.password === undefined ? "" : Redacted.value(target.password)
  return secret === "" ? withCode : withCode.split(secret).join("********")
}

export const unavailable = (target: DoltTarget, operation: string) => (error: SqlError) =>
  new DoltUnavailable({ url: target.url, operation, reason: describeSqlError(target, error) })

/** A step that must answer within `ms`, or fail as unavailable (a server that hangs is as good as down). */
export const within = (target: DoltTarget, operation: string, ms: number) =>
<A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | DoltUnavailable, R> =>
  Effect.timeoutFail(effect, {
    duration: Duration.millis(ms),
    onTimeout: () => new DoltUnavailable({ url: target.url, operation, reason: `no answer within ${ms} ms` })
  })

/**
 * The SqlClient of the target. Scoped: the pool closes with the layer. A
 * failed connection is a `DoltUnavailable` within the connect timeout.
 */
export const DoltSqlLive = (target: DoltTarget): Layer.Layer<SqlClient.SqlClient | MysqlClient.MysqlClient, DoltUnavailable> =>
  Layer.scopedContext(
    // The driver (mysql2 and its charsets, about half of bd's code) is loaded only by commands
    // that talk to the server, so that every other command starts without it.
    Effect.flatMap(Effect.promise(() => import("@effect/sql-mysql2")), ({ MysqlClient }) => Layer.build(MysqlClient.layer({
      host: target.host,
      port: target.port,
      username: target.user,
      database: target.database,
      password: target.password,
      maxConnections: target.poolSize,
      // maxIdle = the pool size: mysql2 then starts no idle-reaper timer. The client leaves
      // its pool open when the first connection fails, and that timer would keep the process alive.
      // disableEval: mysql2 otherwise compiles a row parser (new Function) for every new statement
      // shape, in every process; a command runs a handful of statements once each.
      poolConfig: { connectTimeout: target.connectTimeoutMs, maxIdle: target.poolSize, disableEval: true }
    }))).pipe(
      Effect.mapError((error) =>
        error._tag === "SqlError"
          ? unavailable(target, "connect")(error)
          : new DoltUnavailable({ url: target.url, operation: "connect", reason: error.message })
      ),
      // The driver has its own connect timeout; this one also bounds a server that accepts and never answers.
      within(target, "connect", target.connectTimeoutMs + 1_000)
    )
  )
