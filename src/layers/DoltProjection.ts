/**
 * The SQL read model of a town (design: "Dolt projection"): issues, peers,
 * every event, sync runs and open conflicts, in any MySQL-compatible server,
 * kept in step with the event log from a checkpoint (`bd_checkpoint`: the
 * last seq and hash projected).
 *
 * After a command, when the projection was one step behind, the events just
 * appended are written with the state after them. Otherwise a catch-up
 * reads the log after the checkpoint and writes it in batches, one SQL
 * transaction each, the checkpoint moving in the same transaction as the
 * rows; each issue and peer is written once, in the batch of the first event
 * touching it, from the state at the end of the log (which the caller hands
 * over).
 * Rows are upserted by key (seq, id, name), so a batch written twice, or cut
 * short by a crash and written again, leaves one row each. A batch first
 * moves the checkpoint on condition that it still stands where the batch
 * starts, holding its row lock to the commit, so two processes catching up
 * at once never interleave: the later one stops.
 *
 * On Dolt, each batch ends with a Dolt commit naming its event range, and
 * PeerAdded / PeerRemoved are mirrored as Dolt remotes (DoltVersioning.ts).
 * On MariaDB or MySQL it is a plain read model.
 */
import { SqlClient } from "@effect/sql"
import type { SqlError } from "@effect/sql/SqlError"
import { Chunk, Clock, Context, Effect, Layer, Schema, Stream } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { ExitCode } from "../domain/Errors.js"
import type { PeersState } from "../domain/Federation.js"
import type { IssuesState } from "../domain/IssueState.js"
import type { Envelope } from "../events/Envelope.js"
import type { EventLogService, LogError, LogHead } from "../events/EventLog.js"
import type { Projection } from "../events/Projection.js"
import { type BatchRows, batchRows } from "./DoltRows.js"
import { appliedVersion, DoltSchemaTooNew, ensureSchema, SCHEMA_VERSION } from "./DoltSchema.js"
import { DoltSqlLive, type DoltTarget, type DoltUnavailable, isSqlError, serverErrno, unavailable, within } from "./DoltSql.js"
import {
  addCounts,
  type Checkpoint,
  type DoltProjectionBusy,
  ensureCheckpointRow,
  readCheckpoint,
  readOpening,
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
  /** The end of the log, and the state there. */
  readonly head: LogHead
  readonly issues: IssuesState
  readonly peers: PeersState
  /** After a commit: the events it appended, the last of them at `head` (the usual case is a projection one step behind). */
  readonly appended?: ReadonlyArray<Envelope>
}

/** A catch-up to the end of `log` as it is now (outside a command's commit: `bd dolt sync`). */
export const catchUpSourceOf = (log: EventLogService): Effect.Effect<CatchUpSource, LogError> =>
  Effect.map(log.load(["issues", "peers"]), (loaded) => ({
    readFrom: (fromSeq: number) => log.read({ fromSeq }),
    head: loaded.head,
    issues: loaded.state.issues,
    peers: loaded.state.peers
  }))

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

/**
 * The last checkpoint this machine wrote, kept beside the log so `bd dolt
 * status` can tell the lag while the server is down, and so the next command
 * can write its events without first asking where the projection stands.
 */
export interface LocalCheckpoint extends Checkpoint {
  readonly url: string
  readonly town: string
  readonly at: string
  /** What the server was ("dolt" or "mysql"), when this machine last asked. */
  readonly server?: "dolt" | "mysql"
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
        typeof parsed.town === "string" && typeof parsed.at === "string" &&
        (parsed.server === undefined || parsed.server === "dolt" || parsed.server === "mysql")
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

/** What a catch-up has written so far: the checkpoint it reached, and what the server is. */
interface Written {
  at: Checkpoint | undefined
  server: "dolt" | "mysql" | undefined
}

/** Events to write together, and their rows. */
interface PlannedBatch {
  readonly events: ReadonlyArray<Envelope>
  readonly rows: BatchRows
}

/**
 * The events after `start` up to `head`, in batches. Each issue and peer gets
 * its row once, in the batch of the first event touching it, from the state
 * at `head`. Every row is right once the catch-up is done; a catch-up cut
 * short is taken up from its checkpoint, and rewrites the rows of what
 * changed after it. (Until then a row may already show its state at `head`.)
 * Writing a busy issue once rather than in every batch, and reading the log
 * once, is what makes a long catch-up fast.
 *
 * Fails with `Diverged`, before any batch, when the event at `start` is not
 * the one the checkpoint names, or the log ends before it.
 */
const batchesAfter = (source: CatchUpSource, start: Checkpoint, batchSize: number): Stream.Stream<PlannedBatch, LogError | Diverged> =>
  Stream.suspend(() => {
    if (start.seq > source.head.seq) return Stream.fail(new Diverged())
    const written = { issue: new Set<string>(), peer: new Set<string>() }
    const firstTouch = (kind: "issue" | "peer", key: string): boolean => {
      if (written[kind].has(key)) return false
      written[kind].add(key)
      return true
    }
    // Reading from the checkpoint's own event (seqs have no gaps) checks it is still in the log, as it was.
    return source.readFrom(Math.max(1, start.seq)).pipe(
      Stream.takeWhile((event) => event.seq <= source.head.seq),
      // Chunk by chunk (a segment each), not event by event: only the first event can be the checkpoint's.
      Stream.mapChunksEffect((chunk) => {
        const first = Chunk.head(chunk)
        if (first._tag === "None" || first.value.seq !== start.seq) return Effect.succeed(chunk)
        return first.value.hash === start.hash ? Effect.succeed(Chunk.drop(chunk, 1)) : Effect.fail(new Diverged())
      }),
      Stream.grouped(batchSize),
      Stream.map((chunk) => {
        const batch = Chunk.toReadonlyArray(chunk)
        return { events: batch, rows: batchRows(batch, source.issues, source.peers, firstTouch) }
      })
    )
  })

export const makeDoltProjection = (options: DoltProjectionOptions): DoltProjectionService => {
  const { target, town } = options
  const batchSize = Math.max(1, options.batchSize ?? DEFAULT_BATCH_SIZE)
  /** A step of talking to the server: bounded by the query timeout, its SQL failures named after the step. */
  const sqlStep = <A, E>(operation: string, effect: Effect.Effect<A, E | SqlError, SqlClient.SqlClient>) =>
    effect.pipe(
      Effect.catchIf(isSqlError, unavailable(target, operation)),
      within(target, operation, target.queryTimeoutMs)
    )

  /**
   * After a command, on MariaDB or MySQL, when this machine wrote the
   * checkpoint the new events follow: write them at once, without reading
   * the schema version and the checkpoint or asking what the server is
   * first. The claim of the checkpoint checks the town and the schema
   * version itself; when it is refused (another machine wrote, the tables
   * went), or the server says no, the ordinary way takes over.
   */
  const writeFollowing = (source: CatchUpSource, written: Written) =>
    Effect.gen(function*() {
      const appended = source.appended ?? []
      const first = appended[0]
      const last = appended[appended.length - 1]
      if (first === undefined || last === undefined || appended.length > batchSize || last.seq !== source.head.seq) return undefined
      const known = readCache(options.cacheFile)
      if (known === undefined || known.url !== target.url || known.town !== town || known.server !== "mysql") return undefined
      if (known.seq !== first.seq - 1 || known.hash !== first.prev) return undefined
      const from: Checkpoint = { seq: known.seq, hash: known.hash }
      const to: Checkpoint = { seq: last.seq, hash: last.hash }
      const rows = batchRows(appended, source.issues, source.peers)
      const counts = yield* sqlStep(
        `write events ${first.seq}..${last.seq}`,
        writeBatch({ url: target.url, town, rows, from, to }).pipe(
          Effect.map((counts): RowCounts | undefined => counts),
          Effect.catchIf((error): error is DoltProjectionBusy => error._tag === "DoltProjectionBusy", () => Effect.succeed(undefined)),
          Effect.catchIf((error) => isSqlError(error) && serverErrno(error) !== undefined, () => Effect.succeed(undefined))
        )
      )
      if (counts === undefined) return undefined
      written.at = to
      written.server = "mysql"
      return {
        server: { dolt: false, version: "" },
        from,
        to,
        events: appended.length,
        batches: 1,
        rows: counts,
        doltCommits: 0,
        reset: false,
        warnings: []
      } satisfies CatchUpReport
    })

  /** One catch-up over an open connection. */
  const run = (source: CatchUpSource, written: Written) =>
    Effect.gen(function*() {
      const following = yield* writeFollowing(source, written)
      if (following !== undefined) return following
      let opened = yield* sqlStep("read the checkpoint", readOpening)
      if (opened.version > SCHEMA_VERSION) return yield* new DoltSchemaTooNew({ url: target.url, found: opened.version })
      if (opened.version < SCHEMA_VERSION || opened.checkpoint === undefined) {
        yield* sqlStep("prepare its tables", Effect.zipRight(ensureSchema(target.url), ensureCheckpointRow(town)))
        opened = yield* sqlStep("read the checkpoint", readOpening)
      }
      const stored = opened.checkpoint
      if (stored !== undefined && stored.town !== town) {
        return yield* new DoltProjectionMismatch({ url: target.url, town, found: stored.town })
      }
      const from: Checkpoint = stored ?? START
      written.at = from
      let position = from
      let server: ServerKind | undefined
      let totals = zeroCounts
      let batches = 0
      let events = 0
      let doltCommits = 0
      const warnings: Array<string> = []
      // With no conflict row in the table at the start, only the issues this catch-up gave conflict rows can have any to delete.
      let conflictRowsBefore = opened.conflictRows > 0
      const conflictRowsWritten = new Set<string>()

      const flush = (batch: ReadonlyArray<Envelope>, content: BatchRows) =>
        Effect.gen(function*() {
          const last = batch[batch.length - 1]!
          const to = { seq: last.seq, hash: last.hash }
          const range = `events ${batch[0]!.seq}..${last.seq}`
          if (server === undefined) {
            server = yield* sqlStep("ask the server what it is", detectServer({ version: false }))
            written.server = server.dolt ? "dolt" : "mysql"
            if (server.dolt) warnings.push(...(yield* sqlStep("restore Dolt remotes", restoreStoredRemotes)))
          }
          if (server.dolt) {
            // Before the rows: replayed after a crash, adding and removing again are benign.
            for (const change of remoteChanges(batch)) {
              const warning = yield* sqlStep(`mirror peer ${change.name} as a Dolt remote`, mirrorRemote(change))
              if (warning !== undefined) warnings.push(warning)
            }
          }
          const rows = conflictRowsBefore
            ? content
            : { ...content, conflictIssues: content.conflictIssues.filter((id) => conflictRowsWritten.has(id)) }
          const counts = yield* sqlStep(`write ${range}`, writeBatch({ url: target.url, town, rows, from: position, to }))
          for (const row of content.conflicts) conflictRowsWritten.add(String(row[0]))
          position = to
          written.at = to
          totals = addCounts(totals, counts)
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
        rows: totals,
        doltCommits,
        reset,
        warnings
      })

      if (source.head.seq === from.seq && source.head.hash === from.hash) return report(false)
      const appended = source.appended ?? []
      const first = appended[0]
      if (
        first !== undefined && appended.length <= batchSize && first.seq === from.seq + 1 && first.prev === from.hash &&
        appended[appended.length - 1]!.seq === source.head.seq
      ) {
        yield* flush(appended, batchRows(appended, source.issues, source.peers))
        return report(false)
      }

      // Further behind: the log after the checkpoint, in batches. Rows are made ahead (two
      // batches) while the server writes: the CPU here overlaps the IO there.
      const catchUpFrom = (start: Checkpoint) =>
        batchesAfter(source, start, batchSize).pipe(
          Stream.buffer({ capacity: 2 }),
          Stream.runForEach((batch) => flush(batch.events, batch.rows))
        )
      const diverged = yield* catchUpFrom(position).pipe(
        Effect.as(false),
        Effect.catchIf((error): error is Diverged => error instanceof Diverged, () => Effect.succeed(true))
      )
      if (!diverged) return report(false)
      // The log no longer holds what the projection was built from (restored, replaced): rebuild it.
      yield* sqlStep("reset the projection", resetTables({ url: target.url, town, from: position }))
      if (server === undefined) server = yield* sqlStep("ask the server what it is", detectServer({ version: false }))
      if (server.dolt) {
        yield* sqlStep("commit to Dolt", doltCommit(`bd: reset the projection of town ${town}: the log no longer matches seq ${position.seq}`))
      }
      position = START
      written.at = START
      conflictRowsBefore = false
      conflictRowsWritten.clear()
      yield* catchUpFrom(START).pipe(
        Effect.catchIf((error): error is Diverged => error instanceof Diverged, () => Effect.dieMessage("the log diverged from an empty projection"))
      )
      return report(true)
    })

  const restoreStoredRemotes = Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const peers = yield* sql.unsafe<{ name: string; endpoint: string }>("SELECT name, endpoint FROM bd_peers")
    return yield* restoreRemotes(peers.map((peer) => ({ name: String(peer.name), endpoint: String(peer.endpoint) })))
  })

  /** Keep the checkpoint reached beside the log, for `bd dolt status` while the server is down, and for the next command. */
  const remember = ({ at, server }: Written) =>
    at === undefined ? Effect.void : Effect.flatMap(Clock.currentTimeMillis, (now) =>
      Effect.sync(() => {
        const known = readCache(options.cacheFile)
        const sameServer = known !== undefined && known.url === target.url && known.town === town
        const kind = server ?? (sameServer ? known.server : undefined)
        const same = sameServer && known.seq === at.seq && known.hash === at.hash && known.server === kind
        if (!same) {
          writeCache(options.cacheFile, {
            url: target.url,
            town,
            seq: at.seq,
            hash: at.hash,
            at: new Date(now).toISOString(),
            ...(kind === undefined ? {} : { server: kind })
          })
        }
      }))

  const catchUp = (source: CatchUpSource): Effect.Effect<CatchUpReport, CatchUpError> =>
    Effect.suspend(() => {
      const written: Written = { at: undefined, server: undefined }
      return run(source, written).pipe(
        Effect.provide(DoltSqlLive(target)),
        Effect.ensuring(Effect.suspend(() => remember(written)))
      )
    })

  const inspect: Effect.Effect<ServerStatus, DoltUnavailable> = Effect.gen(function*() {
    const server = yield* sqlStep("ask the server what it is", detectServer({ version: true }))
    const schemaVersion = yield* sqlStep("read the schema version", appliedVersion)
    const checkpoint = schemaVersion === 0 ? undefined : yield* sqlStep("read the checkpoint", readCheckpoint)
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
      const { issues, peers } = state
      const caughtUp: Effect.Effect<unknown, CatchUpError | DoltProjectionBehind> = issues === undefined || peers === undefined
        ? Effect.fail(new DoltProjectionBehind({ reason: "the event log did not hand over the issues and peers" }))
        : catchUp({ readFrom, head, issues, peers, appended })
      return caughtUp.pipe(
        Effect.asVoid,
        Effect.tapError((error) =>
          Effect.sync(() => {
            if (error._tag === "DoltUnavailable" && error.operation === "connect") unreachable = true
          })
        ),
        Effect.mapError((error) => (error._tag === "DoltProjectionBehind" ? error : new DoltProjectionBehind({ reason: error.message }))),
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
