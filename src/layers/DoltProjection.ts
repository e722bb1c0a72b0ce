/**
 * The SQL read model of a town (design: "Dolt projection"): issues, peers,
 * every event, sync runs and open conflicts, in any MySQL-compatible server,
 * kept in step with the event log from a checkpoint (`bd_checkpoint`: the
 * last seq and hash projected).
 *
 * Catching up folds the log and writes it in batches, one SQL transaction
 * each, the checkpoint moving in the same transaction as the rows. Rows are
 * upserted by key (seq, id, name), so a batch written twice, or cut short by
 * a crash and written again, leaves one row each. A batch first locks the
 * checkpoint and checks it is still where the batch starts, so two
 * processes catching up at once never interleave: the later one stops.
 *
 * On Dolt, each batch ends with a Dolt commit naming its event range, and
 * PeerAdded / PeerRemoved are mirrored as Dolt remotes (DoltVersioning.ts).
 * On MariaDB or MySQL it is a plain read model.
 */
import { SqlClient } from "@effect/sql"
import type { SqlError } from "@effect/sql/SqlError"
import { Chunk, Context, Effect, Layer, Schema, Stream } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { ExitCode } from "../domain/Errors.js"
import { PeersSlice, type PeersState } from "../domain/Federation.js"
import { IssuesSlice, type IssuesState } from "../domain/IssueState.js"
import type { Envelope } from "../events/Envelope.js"
import type { LogError, LogHead } from "../events/EventLog.js"
import type { Projection } from "../events/Projection.js"
import { type BatchRows, batchRows } from "./DoltRows.js"
import { appliedVersion, type DoltSchemaTooNew, ensureSchema } from "./DoltSchema.js"
import { DoltSqlLive, type DoltTarget, type DoltUnavailable, unavailable, within } from "./DoltSql.js"
import {
  addCounts,
  type Checkpoint,
  type DoltProjectionBusy,
  readCheckpoint,
  resetTables,
  type RowCounts,
  START,
  writeBatch,
  zeroCounts
} from "./DoltWriter.js"
import { detectServer, doltCommit, mirrorRemote, type RemoteChange, restoreRemotes, type ServerKind } from "./DoltVersioning.js"

export const DEFAULT_BATCH_SIZE = 1_000


/** The database holds the projection of another town. */
export class DoltProjectionMismatch extends Schema.TaggedError<DoltProjectionMismatch>()("DoltProjectionMismatch", {
  url: Schema.String,
  town: Schema.String,
  found: Schema.String
}) {
  override get message() {
    return `the database at ${this.url} holds the projection of town ${this.found}, not of this town (${this.town})`
  }
  readonly hint = "give each town a database of its own: bd config set dolt.url mysql://user@host:3306/OTHER_DATABASE"
  readonly exitCode = ExitCode.config
}


/** What the event log is told when the projection could not keep up after a command. */
export class DoltProjectionBehind extends Schema.TaggedError<DoltProjectionBehind>()("DoltProjectionBehind", {
  reason: Schema.String
}) {
  override get message() {
    return `${this.reason} (the events are safe in the log; the projection catches up on the next command, or run: bd dolt sync)`
  }
}

export type CatchUpError = DoltUnavailable | DoltProjectionMismatch | DoltProjectionBusy | DoltSchemaTooNew | LogError

export interface CatchUpSource {
  /** The log from a seq on (chain-checked). */
  readonly readFrom: (fromSeq: number) => Stream.Stream<Envelope, LogError>
  /** After a commit: what was appended and the state after it, for a projection one step behind (the usual case). */
  readonly recent?: {
    readonly appended: ReadonlyArray<Envelope>
    readonly head: LogHead
    readonly issues: IssuesState
    readonly peers: PeersState
  }
}

export interface CatchUpReport {
  /** Undefined when nothing had to be written (the server was not asked what it is). */
  readonly server: ServerKind | undefined
  readonly from: Checkpoint
  readonly to: Checkpoint
  readonly events: number
  readonly batches: number
  readonly rows: RowCounts
  readonly doltCommits: number
  /** The projection no longer matched the log (a log restored or replaced) and was rebuilt from seq 1. */
  readonly reset: boolean
  readonly warnings: ReadonlyArray<string>
}

export interface ServerStatus {
  readonly server: ServerKind
  readonly schemaVersion: number
  readonly checkpoint: (Checkpoint & { readonly town: string }) | undefined
}

/** The last checkpoint this machine wrote, kept beside the log so `bd dolt status` can tell the lag while the server is down. */
export interface LocalCheckpoint extends Checkpoint {
  readonly url: string
  readonly town: string
  readonly at: string
}

export interface DoltProjectionOptions {
  readonly target: DoltTarget
  readonly town: string
  /** Where the local copy of the checkpoint is kept (under .beads/federation/, which git ignores). */
  readonly cacheFile: string
  readonly batchSize?: number
}

export interface DoltProjectionService {
  readonly target: DoltTarget
  /** Bring the projection up to the end of the log. */
  readonly catchUp: (source: CatchUpSource) => Effect.Effect<CatchUpReport, CatchUpError>
  /** Ask the server what it is and where the projection stands (no writes). */
  readonly inspect: Effect.Effect<ServerStatus, DoltUnavailable>
  readonly lastKnown: Effect.Effect<LocalCheckpoint | undefined>
  /** For the event log: catch up after every committed write. */
  readonly projection: Projection
}

export class DoltProjection extends Context.Tag("beads/DoltProjection")<DoltProjection, DoltProjectionService>() {}

/** The checkpoint file beside a town's log. */
export const checkpointCacheFile = (beadsDir: string): string => path.join(beadsDir, "federation", "dolt-projection.json")

const readCache = (file: string): LocalCheckpoint | undefined => {
  try {
    const parsed = JSON.parse(fs.readFileSync(file, "utf8")) as Partial<LocalCheckpoint>
    return typeof parsed.seq === "number" && typeof parsed.hash === "string" && typeof parsed.url === "string" &&
        typeof parsed.town === "string" && typeof parsed.at === "string"
      ? (parsed as LocalCheckpoint)
      : undefined
  } catch {
    return undefined
  }
}

/** A cache: written whole through a rename, not fsynced; at worst it is stale, and the server is the truth. */
const writeCache = (file: string, value: LocalCheckpoint): void => {
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true })
    const temp = `${file}.${process.pid}.tmp`
    fs.writeFileSync(temp, `${JSON.stringify(value)}\n`)
    fs.renameSync(temp, file)
  } catch {
    // Only `bd dolt status` while the server is down reads it.
  }
}


/** The peer changes of a batch, in order, as Dolt remote calls. */
const remoteChanges = (events: ReadonlyArray<Envelope>): ReadonlyArray<RemoteChange> =>
  events.flatMap((event): ReadonlyArray<RemoteChange> => {
    const data = (event.data ?? {}) as { name?: unknown; endpoint?: unknown }
    if (typeof data.name !== "string") return []
    if (event.type === "PeerAdded" && typeof data.endpoint === "string") return [{ _tag: "add", name: data.name, endpoint: data.endpoint }]
    if (event.type === "PeerRemoved") return [{ _tag: "remove", name: data.name }]
    return []
  })

/** The log diverged from the checkpoint: the projection must be rebuilt. */
class Diverged {
  readonly _tag = "Diverged"
}

/** Events to write together, with the state after the last of them. */
interface LogBatch {
  readonly events: ReadonlyArray<Envelope>
  readonly issues: IssuesState
  readonly peers: PeersState
}

/**
 * The log after `start`, folded from seq 1 and cut into batches of
 * `batchSize`, each with the state as of its last event (the states are
 * persistent values, so a batch keeps its own while the fold goes on).
 * Fails with `Diverged` when the event at `start` is not the one the
 * checkpoint names, or the log ends before it.
 */
const batchesAfter = (
  readFrom: CatchUpSource["readFrom"],
  start: Checkpoint,
  batchSize: number
): Stream.Stream<LogBatch, LogError | Diverged> =>
  Stream.suspend(() => {
    let issues = IssuesSlice.initial
    let peers = PeersSlice.initial
    let pending: Array<Envelope> = []
    let matched = start.seq === 0
    const folded = readFrom(1).pipe(
      Stream.mapChunksEffect((chunk) =>
        Effect.suspend(() => {
          const ready: Array<LogBatch> = []
          for (const event of chunk) {
            issues = IssuesSlice.evolve(issues, event)
            peers = PeersSlice.evolve(peers, event)
            if (event.seq < start.seq) continue
            if (event.seq === start.seq && !matched) {
              if (event.hash !== start.hash) return Effect.fail(new Diverged())
              matched = true
              continue
            }
            pending.push(event)
            if (pending.length >= batchSize) {
              ready.push({ events: pending, issues, peers })
              pending = []
            }
          }
          return Effect.succeed(Chunk.unsafeFromArray(ready))
        })
      )
    )
    const rest = Stream.suspend(() =>
      !matched
        ? Stream.fail(new Diverged())
        : pending.length === 0
        ? Stream.empty
        : Stream.make({ events: pending, issues, peers })
    )
    return Stream.concat(folded, rest)
  })

export const makeDoltProjection = (options: DoltProjectionOptions): DoltProjectionService => {
  const { target, town } = options
  const batchSize = Math.max(1, options.batchSize ?? DEFAULT_BATCH_SIZE)
  const step = (operation: string) => within(target, operation, target.queryTimeoutMs)
  const sqlStep = <A, E>(operation: string, effect: Effect.Effect<A, E | SqlError, SqlClient.SqlClient>) =>
    effect.pipe(
      Effect.catchIf((error): error is SqlError => (error as { _tag?: string })._tag === "SqlError", unavailable(target, operation)),
      step(operation)
    ) as Effect.Effect<A, Exclude<E, SqlError> | DoltUnavailable, SqlClient.SqlClient>

  /** One catch-up over an open connection. */
  const run = (source: CatchUpSource, written: { at: Checkpoint | undefined }) =>
    Effect.gen(function*() {
      yield* sqlStep("prepare its tables", ensureSchema(target.url))
      const stored = yield* sqlStep("read the checkpoint", readCheckpoint(false))
      if (stored !== undefined && stored.town !== town) {
        return yield* new DoltProjectionMismatch({ url: target.url, town, found: stored.town })
      }
      const from: Checkpoint = stored ?? START
      written.at = from
      let position = from
      let server: ServerKind | undefined
      let rows = zeroCounts
      let batches = 0
      let events = 0
      let doltCommits = 0
      const warnings: Array<string> = []

      const flush = (batch: ReadonlyArray<Envelope>, issues: IssuesState, peers: PeersState) =>
        Effect.gen(function*() {
          const last = batch[batch.length - 1]!
          const to = { seq: last.seq, hash: last.hash }
          const range = `events ${batch[0]!.seq}..${last.seq}`
          if (server === undefined) {
            server = yield* sqlStep("ask the server what it is", detectServer)
            if (server.dolt) warnings.push(...(yield* sqlStep("restore Dolt remotes", restoreStoredRemotes)))
          }
          if (server.dolt) {
            // Before the rows: replayed after a crash, adding and removing again are benign.
            for (const change of remoteChanges(batch)) {
              const warning = yield* sqlStep(`mirror peer ${change.name} as a Dolt remote`, mirrorRemote(change))
              if (warning !== undefined) warnings.push(warning)
            }
          }
          const content: BatchRows = batchRows(batch, issues, peers)
          const counts = yield* sqlStep(`write ${range}`, writeBatch({ url: target.url, town, rows: content, from: position, to }))
          position = to
          written.at = to
          rows = addCounts(rows, counts)
          batches++
          events += batch.length
          if (server.dolt) {
            const hash = yield* sqlStep("commit to Dolt", doltCommit(`bd: project ${range} of town ${town}`))
            if (hash !== undefined) doltCommits++
          }
        })

      const report = (reset: boolean): CatchUpReport => ({
        server,
        from,
        to: position,
        events,
        batches,
        rows,
        doltCommits,
        reset,
        warnings
      })

      const recent = source.recent
      if (recent !== undefined) {
        if (recent.head.seq === from.seq && recent.head.hash === from.hash) return report(false)
        const first = recent.appended[0]
        if (
          first !== undefined && recent.appended.length <= batchSize && first.seq === from.seq + 1 &&
          first.prev === from.hash && recent.appended[recent.appended.length - 1]!.seq === recent.head.seq
        ) {
          yield* flush(recent.appended, recent.issues, recent.peers)
          return report(false)
        }
      }

      // Behind by more than the last commit: fold the log from the start, writing what follows the checkpoint.
      // The folding runs ahead (a buffer of two batches) while the server writes: CPU here overlaps IO there.
      const fold = batchesAfter(source.readFrom, position, batchSize).pipe(
        Stream.buffer({ capacity: 2 }),
        Stream.runForEach((batch) => flush(batch.events, batch.issues, batch.peers))
      )

      const diverged = yield* fold.pipe(
        Effect.as(false),
        Effect.catchIf((error): error is Diverged => error instanceof Diverged, () => Effect.succeed(true))
      )
      if (!diverged) return report(false)
      // The log no longer holds what the projection was built from (restored, replaced): rebuild it.
      yield* sqlStep("reset the projection", resetTables({ url: target.url, town, from: position }))
      if (server === undefined) server = yield* sqlStep("ask the server what it is", detectServer)
      if (server.dolt) yield* sqlStep("commit to Dolt", doltCommit(`bd: reset the projection of town ${town}: the log no longer matches seq ${position.seq}`))
      position = START
      written.at = START
      yield* fold.pipe(
        Effect.catchIf((error): error is Diverged => error instanceof Diverged, () => Effect.dieMessage("the log diverged from an empty projection"))
      )
      return report(true)
    })

  const restoreStoredRemotes = Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const peers = yield* sql.unsafe<{ name: string; endpoint: string }>("SELECT name, endpoint FROM bd_peers")
    return yield* restoreRemotes(peers.map((peer) => ({ name: String(peer.name), endpoint: String(peer.endpoint) })))
  })

  const remember = (at: Checkpoint | undefined) =>
    Effect.sync(() => {
      if (at === undefined) return
      const known = readCache(options.cacheFile)
      if (known !== undefined && known.url === target.url && known.town === town && known.seq === at.seq && known.hash === at.hash) return
      writeCache(options.cacheFile, { url: target.url, town, seq: at.seq, hash: at.hash, at: new Date().toISOString() })
    })

  const catchUp = (source: CatchUpSource): Effect.Effect<CatchUpReport, CatchUpError> =>
    Effect.suspend(() => {
      const written: { at: Checkpoint | undefined } = { at: undefined }
      return run(source, written).pipe(
        Effect.provide(DoltSqlLive(target)),
        Effect.ensuring(Effect.suspend(() => remember(written.at)))
      )
    })

  const inspect: Effect.Effect<ServerStatus, DoltUnavailable> = Effect.gen(function*() {
    const server = yield* sqlStep("ask the server what it is", detectServer)
    const schemaVersion = yield* sqlStep("read the schema version", appliedVersion)
    const checkpoint = schemaVersion === 0 ? undefined : yield* sqlStep("read the checkpoint", readCheckpoint(false))
    return { server, schemaVersion, checkpoint }
  }).pipe(Effect.provide(DoltSqlLive(target)))

  const lastKnown = Effect.sync(() => {
    const known = readCache(options.cacheFile)
    return known !== undefined && known.url === target.url && known.town === town ? known : undefined
  })

  // A server that could not be reached once in a command is not asked again by the same command:
  // a sync records several events, and each would wait for the connect timeout.
  let unreachable = false
  const projection: Projection = {
    name: "Dolt SQL",
    slices: ["issues", "peers"],
    afterCommit: ({ appended, head, readFrom, state }) => {
      if (unreachable) return Effect.void
      const recent = state.issues !== undefined && state.peers !== undefined
        ? { appended, head, issues: state.issues, peers: state.peers }
        : undefined
      return catchUp(recent === undefined ? { readFrom } : { readFrom, recent }).pipe(
        Effect.asVoid,
        Effect.tapError((error) =>
          Effect.sync(() => {
            if (error._tag === "DoltUnavailable" && error.operation === "connect") unreachable = true
          })
        ),
        Effect.mapError((error) => new DoltProjectionBehind({ reason: error.message })),
        // The events are durable whatever happens here: even a bug in the projection is a notice, not a failed command.
        Effect.catchAllDefect((defect) =>
          Effect.fail(new DoltProjectionBehind({ reason: `internal error: ${defect instanceof Error ? defect.message : String(defect)}` }))
        )
      )
    }
  }

  return { target, catchUp, inspect, lastKnown, projection }
}

export const DoltProjectionLive = (options: DoltProjectionOptions): Layer.Layer<DoltProjection> =>
  Layer.sync(DoltProjection, () => makeDoltProjection(options))

/** The projections a sync mode wires when `dolt.url` is set (src/layers/modes.ts). */
export const doltProjectionFor = (target: DoltTarget, town: string, beadsDir: string): Projection =>
  makeDoltProjection({ target, town, cacheFile: checkpointCacheFile(beadsDir) }).projection

export type { Checkpoint, RowCounts }
export { DoltProjectionBusy } from "./DoltWriter.js"
