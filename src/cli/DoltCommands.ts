/**
 * `bd dolt status | sync`: the town's SQL projection (docs/DOLT.md). Status
 * says whether the server answers, whether it is Dolt, and how far the
 * projection is behind the log; sync catches it up now. While the server is
 * down, status still tells the lag from the checkpoint this machine last
 * wrote.
 */
import { Command } from "@effect/cli"
import { Effect, Either } from "effect"
import { EventLog } from "../events/EventLog.js"
import { Config } from "../layers/Config.js"
import { type CatchUpReport, catchUpSourceOf, checkpointCacheFile, makeDoltProjection } from "../layers/DoltProjection.js"
import { DoltNotConfigured, doltTarget } from "../layers/DoltSql.js"
import { wiresDoltProjection } from "../layers/modes.js"
import { Town } from "../layers/Town.js"
import { Globals } from "./Globals.js"
import { emit } from "./Output.js"
import { inTown } from "./Runtime.js"

/** The projection of the configured server, or `DoltNotConfigured`. */
const projectionOf = (command: string) =>
  Effect.gen(function*() {
    const cfg = yield* Config
    const town = yield* Town
    const target = doltTarget(cfg)
    if (target === undefined) return yield* new DoltNotConfigured({ command })
    return {
      projection: makeDoltProjection({ target, town: town.townId, cacheFile: checkpointCacheFile(town.beadsDir) }),
      mode: cfg.syncMode
    }
  })

export interface ProjectionStatus {
  readonly url: string
  readonly reachable: boolean
  readonly error: string | null
  readonly server: "dolt" | "mysql" | null
  readonly version: string | null
  readonly schemaVersion: number | null
  readonly mode: string
  /** Whether the mode keeps the projection up after every command. */
  readonly wired: boolean
  readonly checkpoint: { readonly seq: number; readonly hash: string; readonly source: "server" | "local" } | null
  readonly head: { readonly seq: number; readonly hash: string }
  /** Events in the log and not (as far as is known) in the projection. */
  readonly lag: number
}

/** Where the projection stands against the log: the server's checkpoint, or, when it is down, the last one written here. */
const projectionStatus = (command: string) =>
  Effect.gen(function*() {
    const { mode, projection } = yield* projectionOf(command)
    const head = (yield* (yield* EventLog).load([])).head
    const inspected = yield* Effect.either(projection.inspect)
    const known = yield* projection.lastKnown
    const checkpoint = Either.match(inspected, {
      onLeft: () => (known === undefined ? null : { seq: known.seq, hash: known.hash, source: "local" as const }),
      onRight: (status) =>
        status.checkpoint === undefined ? null : { seq: status.checkpoint.seq, hash: status.checkpoint.hash, source: "server" as const }
    })
    const status: ProjectionStatus = {
      url: projection.target.url,
      reachable: Either.isRight(inspected),
      error: Either.match(inspected, { onLeft: (error) => error.message, onRight: () => null }),
      server: Either.match(inspected, { onLeft: () => null, onRight: (s) => (s.server.dolt ? "dolt" : "mysql") }),
      version: Either.match(inspected, { onLeft: () => null, onRight: (s) => s.server.version }),
      schemaVersion: Either.match(inspected, { onLeft: () => null, onRight: (s) => s.schemaVersion }),
      mode,
      wired: wiresDoltProjection(mode),
      checkpoint,
      head: { seq: head.seq, hash: head.hash },
      lag: Math.max(0, head.seq - (checkpoint?.seq ?? 0))
    }
    return status
  })

const lagText = (status: ProjectionStatus): string =>
  status.lag === 0
    ? "up to date"
    : `${status.lag} event(s) behind${status.checkpoint?.source === "local" ? " (at least: the server did not answer)" : ""}`

const statusLines = (s: ProjectionStatus): ReadonlyArray<string> => [
  `server:     ${s.url} — ${
    s.reachable ? `reachable, ${s.server === "dolt" ? `Dolt ${s.version}` : `${s.version} (plain read model, not versioned)`}` : "UNREACHABLE"
  }`,
  ...(s.error === null ? [] : [`            ${s.error}`]),
  `mode:       ${s.mode} (${s.wired ? "projected after every command" : "not projected after commands in this mode: run bd dolt sync"})`,
  `checkpoint: ${
    s.checkpoint === null ? "none (nothing projected yet)" : `seq ${s.checkpoint.seq}${s.checkpoint.source === "local" ? " (last written from here)" : ""}`
  }`,
  `log head:   seq ${s.head.seq}`,
  `lag:        ${lagText(s)}${s.lag > 0 ? " — catch up with: bd dolt sync" : ""}`
]

export const doltStatusCommand = Command.make("status", {}, () =>
  inTown("bd dolt status", Effect.gen(function*() {
    const status = yield* projectionStatus("bd dolt status")
    yield* emit(() => status, () => statusLines(status))
  }))).pipe(Command.withDescription("The SQL projection: server reachable, Dolt or plain, checkpoint against the log (lag)"))

const reportJson = (url: string, report: CatchUpReport) => ({
  url,
  server: report.server === undefined ? null : report.server.dolt ? "dolt" : "mysql",
  version: report.server?.version || null,
  from: report.from,
  to: report.to,
  events: report.events,
  batches: report.batches,
  rows: report.rows,
  rowsWritten: report.rows.events + report.rows.issues + report.rows.peers + report.rows.syncRuns + report.rows.conflicts,
  doltCommits: report.doltCommits,
  reset: report.reset,
  warnings: report.warnings
})

const reportLines = (url: string, report: CatchUpReport): ReadonlyArray<string> => [
  ...(report.reset ? [`The projection no longer matched the log; it was emptied and rebuilt from seq 1.`] : []),
  report.events === 0
    ? `Already up to date at seq ${report.to.seq} (${url}).`
    : `Projected events ${report.from.seq + 1}..${report.to.seq} (${report.events}) into ${url} in ${report.batches} batch(es): ` +
      `${report.rows.events} event, ${report.rows.issues} issue, ${report.rows.peers} peer, ${report.rows.syncRuns} sync run and ` +
      `${report.rows.conflicts} conflict row(s) written, ${report.rows.deleted} deleted` +
      (report.server?.dolt === true ? `; ${report.doltCommits} Dolt commit(s)` : ""),
  ...report.warnings.map((warning) => `warning: ${warning}`)
]

export const doltSyncCommand = Command.make("sync", {}, () =>
  inTown("bd dolt sync", Effect.gen(function*() {
    const { projection } = yield* projectionOf("bd dolt sync")
    const log = yield* EventLog
    const report = yield* projection.catchUp(yield* catchUpSourceOf(log))
    yield* emit(() => reportJson(projection.target.url, report), () => reportLines(projection.target.url, report))
  }))).pipe(Command.withDescription("Catch the SQL projection up with the event log now"))

export const doltCommand = Command.make("dolt").pipe(
  Command.withDescription("The SQL read model of the town (a Dolt, MariaDB or MySQL server at dolt.url)"),
  Command.withSubcommands([doltStatusCommand, doltSyncCommand])
)

/**
 * `bd federation status` gains one line, "projection: N events behind", when
 * the mode keeps a SQL projection. Text only: its JSON is the list of peers.
 */
export const withProjectionLag = <Name extends string, R, E, A>(command: Command.Command<Name, R, E, A>) =>
  command.pipe(Command.transformHandler((handler) =>
    Effect.zipRight(
      handler,
      Effect.gen(function*() {
        const globals = yield* Globals
        if (globals.json) return
        yield* inTown("bd federation status", Effect.gen(function*() {
          const cfg = yield* Config
          if (doltTarget(cfg) === undefined || !wiresDoltProjection(cfg.syncMode)) return
          const status = yield* projectionStatus("bd federation status")
          yield* emit(() => status, () => [`projection: ${lagText(status)}${status.reachable ? "" : ` (${status.url} unreachable)`}`])
        }))
      })
    )
  ))
