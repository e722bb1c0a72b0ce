/**
 * The event log on local files: segments, snapshots, the writer lock.
 * See src/events/EventLog.ts for the contract and src/layers/LogFiles.ts
 * for the layout.
 */
import { Chunk, Effect, Either, Layer, Option, Stream } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { IntegrityError, RequiresDirectDatabaseAccess, StorageError } from "../domain/Errors.js"
import {
  type KeyedSliceName,
  type SliceName,
  SliceNames,
  type TownState,
  TownSlices,
  type TownViewValues,
  TownViews,
  type ViewName
} from "../domain/Town.js"
import { canonicalJson } from "../events/Canonical.js"
import { type Envelope, type ForeignEvent, GENESIS_HASH, type NewEvent } from "../events/Envelope.js"
import {
  type Committed,
  EventLog,
  type EventLogService,
  type LogError,
  type LogHead,
  type ReplayedEvent,
  type StateOf
} from "../events/EventLog.js"
import {
  appendDurably,
  appendDurablyAside,
  fsyncDir,
  knownSnapshot,
  listSegments,
  type Position,
  readSnapshotMeta,
  readSnapshotSlice,
  retryingVanishedSnapshot,
  SEGMENT_MAX_BYTES,
  segmentPath,
  SNAPSHOT_VERSION,
  type SnapshotFile,
  type SnapshotMeta,
  truncateDurably,
  stageSnapshot,
  type StagedSnapshot
} from "./LogFiles.js"
import type { Projection } from "../events/Projection.js"
import { type KeyedSlice, lookupEntries, selectEntries } from "./LogEntries.js"
import { replayLog } from "./LogReplay.js"
import { entriesFiles, indexFile, indexMismatch, readIndexBytes } from "./SnapshotEntries.js"
import { foldSlice, type LineOrigin, type LineRef, type OriginOf, type Slice } from "../events/Slice.js"
import { entryResolver, eventAt, groupOrigins, looksLikeRef, refIn, sameRef, type SegmentLines, segmentLines } from "./LineRefs.js"
import { type ScanEnd, scanLog } from "./LogScan.js"
import { type SealedGroup, sealGroup } from "./LogSeal.js"
import { acquireWriterLock, releaseWriterLock } from "./WriterLock.js"

export interface FileEventLogOptions {
  /** The `.beads/log` directory. */
  readonly dir: string
  readonly town: string
  /** Why writing is refused (BD_READONLY, --readonly), or undefined when it is allowed. */
  readonly readonlyReason: string | undefined
  readonly lockTimeoutMs: number
  /** What the lock file says this process is doing. */
  readonly command: string
  /** Take a snapshot once this many events have accumulated after the last one. */
  readonly snapshotEvery: number
  /** Where repairs (a torn tail cut, a stale lock taken over) are reported. */
  readonly notice: (message: string) => void
  /** Run after each committed write, under the lock (the mode decides which: src/layers/modes.ts). */
  readonly projections?: ReadonlyArray<Projection>
}

export const DEFAULT_SNAPSHOT_EVERY = 2_000

type SliceStates = { -readonly [K in SliceName]?: TownState[K] }

interface Loaded {
  readonly state: SliceStates
  readonly end: ScanEnd
  readonly snapshotSeq: number
}

const toError = (dir: string) => (error: unknown): IntegrityError | StorageError =>
  error instanceof IntegrityError
    ? error
    : new StorageError({ path: dir, reason: error instanceof Error ? error.message : String(error) })

/** A staged snapshot removed, as far as it can be: never in force, and the next one at its seq replaces it anyway. */
const discardQuietly = (staged: StagedSnapshot): void => {
  try {
    staged.discard()
  } catch {
    // Left behind; the next swap removes it.
  }
}

/** Whether an error is the disk (or the quota) being full. */
const isNoSpace = (error: Error): boolean => {
  const code = (error as NodeJS.ErrnoException).code
  return code === "ENOSPC" || code === "EDQUOT"
}

/** Fold a group into the loaded slices. Slices are independent, so each folds the whole group in turn. */
const foldGroup = (state: SliceStates, names: ReadonlyArray<SliceName>, group: ReadonlyArray<Envelope>): void => {
  for (const name of names) {
    ;(state as Record<string, unknown>)[name] = foldSlice(TownSlices[name] as Slice<unknown>, state[name], group)
  }
}

/**
 * What a log instance learnt of where the events that made entries lie
 * from the references of the snapshots it read: by the object an entry
 * keeps while unchanged (`kept`), the event's line. A snapshot written
 * later refers to the same lines again for the entries still unchanged.
 * (The lines of a group just written are found from the group itself.)
 */
type Origins = WeakMap<object, LineOrigin>

interface SnapshotRead {
  readonly meta: SnapshotMeta
  readonly at: string
  /** The slice files as stored (JSON values; references to log lines as they are written). */
  readonly raw: Readonly<Record<string, unknown>>
  /** For `verify`: the bytes of each keyed slice's file and of its index, read with the rest. */
  readonly keyed: Readonly<Record<string, { readonly slice: Buffer; readonly index: Buffer | undefined }>>
}

/** An entry of a snapshot's slice file (its line there) that is not what it should be. */
const damagedEntry = (at: string, name: string, i: number, reason: string): IntegrityError =>
  new IntegrityError({ file: path.join(at, `${name}.json`), line: i + 2, reason })

const REFERENCE_DAMAGED = "the snapshot's entry refers to a log line that is not an event making it"

/**
 * A keyed slice's entries as the slice has them, for `verify` to compare:
 * each reference to a log line resolved to the entry its event makes. A
 * reference that does not check out is a damaged snapshot.
 */
const resolveEntries = (lines: SegmentLines, at: string, name: string, snapshotSeq: number, stored: unknown): unknown => {
  const entries = (TownSlices[name as SliceName] as Slice<unknown> | undefined)?.entries
  if (entries === undefined || !Array.isArray(stored)) return stored
  const resolve = entryResolver(lines, entries, snapshotSeq)
  return stored.map((entry, i) => {
    const resolved = resolve(entry)
    if (resolved === undefined) throw damagedEntry(at, name, i, `${REFERENCE_DAMAGED} (${JSON.stringify(entry)})`)
    return resolved
  })
}

/**
 * A keyed slice's state from its snapshot file: the entries written out
 * decoded, then the events the references name folded in. Each such event
 * makes its own key, which no other entry has, so folding it into the rest
 * gives what folding it alone does. The lines are read segment by segment,
 * each segment whole and let go before the next. `origins` learns where
 * those events lie, so that the next snapshot refers to the same lines for
 * the entries still unchanged.
 */
const decodeEntries = (
  dir: string,
  at: string,
  name: string,
  slice: KeyedSlice<unknown>,
  snapshotSeq: number,
  stored: ReadonlyArray<unknown>,
  origins: Origins | undefined
): unknown => {
  const plain: Array<unknown> = []
  const plainAt: Array<number> = []
  // The references by where their lines are, so that each segment is read once and let go before the next.
  const referring: Array<{ readonly ref: LineRef; readonly i: number }> = []
  stored.forEach((entry, i) => {
    const ref = refIn(entry)
    if (ref !== undefined) referring.push({ ref, i })
    else if (looksLikeRef(entry)) throw damagedEntry(at, name, i, `${REFERENCE_DAMAGED} (${JSON.stringify(entry)})`)
    else {
      plain.push(entry)
      plainAt.push(i)
    }
  })
  referring.sort((a, b) => a.ref.segment - b.ref.segment || a.ref.offset - b.ref.offset)
  const lines = segmentLines(dir, true, true)
  const events: Array<Envelope> = []
  const refKeys: Array<string> = []
  const keys = new Set<string>()
  const addKey = (key: string | undefined, i: number): void => {
    if (key === undefined || keys.has(key)) {
      throw damagedEntry(at, name, i, key === undefined ? "the snapshot's entry has no key" : `the snapshot holds ${JSON.stringify(key)} twice`)
    }
    keys.add(key)
  }
  for (const { i, ref } of referring) {
    const event = eventAt(lines, slice.entries, snapshotSeq, ref)
    if (event === undefined) throw damagedEntry(at, name, i, `${REFERENCE_DAMAGED} (${JSON.stringify(stored[i])})`)
    const touched = slice.entries.touched(event)
    const key = touched.length === 1 ? touched[0] : undefined
    addKey(key, i)
    events.push(event)
    refKeys.push(key!)
  }
  lines.close()
  plain.forEach((entry, k) => addKey(slice.entries.keyOf(entry), plainAt[k]!))
  const state = foldSlice(slice, slice.decode(plain), events)
  if (origins !== undefined) {
    // Under the object the folded entry keeps: a line's fields in canonical order are mostly laid out anew by the fold.
    events.forEach((event, k) => {
      const kept = slice.entries.kept(state, refKeys[k]!)
      if (kept !== undefined) origins.set(kept, { ref: referring[k]!.ref, event: event.id })
    })
  }
  return state
}

/**
 * The current snapshot with the named slices' files read (and, for
 * `verify`, the keyed slices' bytes and indexes). A snapshot removed by a
 * writer while we read it (writers keep only the previous one) is read
 * again from the new CURRENT.
 */
const readSnapshotFiles = (dir: string, names: ReadonlyArray<string>, withIndexes = false): SnapshotRead | undefined =>
  retryingVanishedSnapshot(() => {
    const snapshot = readSnapshotMeta(dir)
    if (snapshot === undefined || !knownSnapshot(snapshot.meta)) return undefined
    const present = names.filter((name) => snapshot.meta.slices.includes(name))
    const indexed = withIndexes ? present.filter((name) => (snapshot.meta.indexes ?? []).includes(name)) : []
    const keyed = Object.fromEntries(indexed.map((name) => {
      const slice = fs.readFileSync(path.join(snapshot.at, `${name}.json`))
      const index = readIndexBytes(snapshot.at, name)
      // No index in a snapshot that is gone (replaced meanwhile) is not a missing index: read the new one.
      if (index === undefined && readSnapshotMeta(dir)?.at !== snapshot.at) {
        throw Object.assign(new Error(`${snapshot.at} was replaced`), { code: "ENOENT" })
      }
      return [name, { slice, index }]
    }))
    const raw = Object.fromEntries(present.map((name) =>
      [name, name in keyed ? JSON.parse(keyed[name]!.slice.toString("utf8")) : readSnapshotSlice(snapshot.at, name)]
    ))
    return { meta: snapshot.meta, at: snapshot.at, raw, keyed }
  })

/** The snapshot to start from; none when there is none, it is of an unknown format, or it lacks a slice (written by an older bd). */
const readSnapshot = (dir: string, names: ReadonlyArray<SliceName>, origins: Origins | undefined) => {
  const snapshot = readSnapshotFiles(dir, names)
  if (snapshot === undefined) return undefined
  if (!names.every((name) => name in snapshot.raw)) return undefined
  const state: SliceStates = {}
  for (const name of names) {
    const slice = TownSlices[name] as Slice<unknown>
    const stored = snapshot.raw[name]
    ;(state as Record<string, unknown>)[name] = slice.entries !== undefined && Array.isArray(stored)
      ? decodeEntries(dir, snapshot.at, name, slice as KeyedSlice<unknown>, snapshot.meta.seq, stored, origins)
      : slice.decode(stored)
  }
  return { meta: snapshot.meta, state }
}

/** Snapshot (if any) plus the tail after it, for the named slices. Synchronous; throws. */
const loadSync = (dir: string, names: ReadonlyArray<SliceName>, origins?: Origins): Loaded => {
  const snapshot = readSnapshot(dir, names, origins)
  const state: SliceStates = snapshot?.state ?? {}
  if (snapshot === undefined) {
    for (const name of names) (state as Record<string, unknown>)[name] = TownSlices[name].initial
  }
  const first = listSegments(dir)[0] ?? 1
  const start = snapshot === undefined
    ? { position: { segment: first, offset: 0 }, seq: 0, hash: GENESIS_HASH }
    : { position: snapshot.meta.position, seq: snapshot.meta.seq, hash: snapshot.meta.hash }
  const end = scanLog(dir, start, (group) => foldGroup(state, names, group))
  return { state, end, snapshotSeq: snapshot?.meta.seq ?? 0 }
}

const make = (options: FileEventLogOptions): EventLogService => {
  const { dir } = options
  const mapError = toError(dir)
  const semaphore = Effect.unsafeMakeSemaphore(1)
  const origins: Origins = new WeakMap()

  const load = <K extends SliceName>(names: ReadonlyArray<K>) =>
    Effect.try({ try: () => loadSync(dir, names), catch: mapError }).pipe(
      Effect.map((loaded) => ({
        head: { seq: loaded.end.seq, hash: loaded.end.hash },
        state: loaded.state as StateOf<K>
      }))
    )

  const keyedSlice = <K extends KeyedSliceName>(name: K) => TownSlices[name] as KeyedSlice<TownState[K]>

  const lookup: EventLogService["lookup"] = <K extends KeyedSliceName>(name: K, keys: ReadonlyArray<string>) =>
    Effect.suspend(() => {
      const found = Effect.try({ try: () => lookupEntries(dir, name, keyedSlice(name), keys), catch: mapError })
      return Effect.flatMap(found, (entries) =>
        entries === undefined
          ? load([name])
          : Effect.succeed({ head: { seq: entries.end.seq, hash: entries.end.hash }, state: { [name]: entries.state } as StateOf<K> }))
    })

  const select: EventLogService["select"] = <K extends KeyedSliceName>(
    name: K,
    match: (columns: ReadonlyArray<unknown>) => boolean,
    limit: number
  ) =>
    Effect.suspend(() => {
      const slice = keyedSlice(name)
      const selected = Effect.try({ try: () => selectEntries(dir, name, slice, match, limit), catch: mapError })
      return Effect.flatMap(selected, (selection) => {
        if (selection !== undefined) {
          const { end, keys, state, total } = selection
          return Effect.succeed({ head: { seq: end.seq, hash: end.hash }, state: { [name]: state } as StateOf<K>, keys, total })
        }
        // No index (no snapshot yet, or one written by an older bd): the whole slice.
        return Effect.map(load([name]), (loaded) => {
          const state = loaded.state[name]
          const matching = slice.entries.keysIn(state).filter((key) => match(slice.entries.columns(state, key)))
          return { head: loaded.head, state: loaded.state, keys: matching.slice(0, limit), total: matching.length }
        })
      })
    })

  /** Under the lock: cut an unfinished write left by a crash, and say so. */
  const repairTail = (end: ScanEnd): void => {
    if (end.unfinishedBytes === 0) return
    const file = segmentPath(dir, end.lastSegment)
    truncateDurably(file, end.lastSegmentSize - end.unfinishedBytes)
    options.notice(
      `repaired the log: cut an unfinished write of ${end.unfinishedBytes} bytes (${end.unfinishedLines} line(s)) at the end of ${file}`
    )
  }

  /**
   * Once enough events have accumulated, snapshot every slice at the new
   * head. The slices this write did not load are loaded as they were before
   * it (the lock is held, so the log has not moved) and the new events folded
   * into them in memory: nothing just written is read back.
   */
  const snapshotDue = (snapshotSeq: number, seq: number): boolean => seq - snapshotSeq >= options.snapshotEvery

  /** The slices a write did not load, as they are before it (read before appending). */
  const otherSlices = (loadedState: SliceStates): SliceStates => {
    const missing = SliceNames.filter((name) => !(name in loadedState))
    return missing.length === 0 ? {} : loadSync(dir, missing, origins).state
  }

  /**
   * The snapshot at the new head, staged: in force once its `swap` has run,
   * after the group's append is durable. `appended`: where the group starts
   * in its segment and where it ends.
   */
  const stageSnapshotAt = (
    head: LogHead,
    appended: { readonly position: Position; readonly start: number },
    loadedState: SliceStates,
    rest: SliceStates,
    sealed: SealedGroup
  ): StagedSnapshot => {
    const keyed = SliceNames.flatMap((name) => TownSlices[name].entries ?? [])
    // The group's lines, found by arithmetic; else the lines of references read from the snapshot this write loaded.
    const position = appended.position
    const inGroup = groupOrigins(
      sealed.envelopes,
      sealed.lineAt,
      { segment: position.segment, offset: appended.start },
      (event) => keyed.reduce<object | undefined>((found, entries) => found ?? entries.originKey(event), undefined)
    )
    const originOf: OriginOf = (key, id, town, townSeq) => {
      const ref = inGroup(key, id, town, townSeq)
      if (ref !== undefined) return ref
      const known = origins.get(key)
      return known !== undefined && known.event === id ? known.ref : undefined
    }
    const group = sealed.envelopes
    foldGroup(rest, Object.keys(rest) as ReadonlyArray<SliceName>, group)
    const all: SliceStates = { ...rest, ...loadedState }
    const indexes = SliceNames.filter((name) => TownSlices[name].entries !== undefined)
    const meta: SnapshotMeta = { version: SNAPSHOT_VERSION, seq: head.seq, hash: head.hash, position, slices: SliceNames, indexes }
    return stageSnapshot(
      dir,
      meta,
      SliceNames.flatMap((name): ReadonlyArray<SnapshotFile> => {
        const slice = TownSlices[name] as Slice<unknown>
        if (slice.entries === undefined) return [[`${name}.json`, JSON.stringify(slice.encode(all[name]))]]
        return entriesFiles(name, slice.entries.encodeEntries(all[name], originOf))
      })
    )
  }

  /**
   * Views (src/domain/Town.ts) are kept in `views/<name>.json` with the head
   * they were computed at, by writers only (under the lock). They are a cache
   * checked on every read, so they are written by rename without fsync, and
   * a failure to write one is ignored.
   */
  const viewFile = (name: ViewName) => path.join(dir, "views", `${name}.json`)

  const keepView = (name: ViewName, head: LogHead, value: unknown): void => {
    try {
      fs.mkdirSync(path.dirname(viewFile(name)), { recursive: true })
      const tmp = `${viewFile(name)}.${process.pid}.tmp`
      fs.writeFileSync(tmp, JSON.stringify({ seq: head.seq, hash: head.hash, value }))
      fs.renameSync(tmp, viewFile(name))
    } catch {
      // Only a cache: the next read computes it from its slice.
    }
  }

  /** After a write: keep the views whose slice the write had folded. */
  const keepViews = (head: LogHead, state: SliceStates): void => {
    for (const name of Object.keys(TownViews) as ReadonlyArray<ViewName>) {
      const spec = TownViews[name]
      const sliceState = state[spec.slice]
      if (sliceState !== undefined) keepView(name, head, spec.compute(sliceState as never))
    }
  }

  const readKeptView = (name: ViewName): { readonly seq: number; readonly hash: string; readonly value: unknown } | undefined => {
    try {
      const kept = JSON.parse(fs.readFileSync(viewFile(name), "utf8")) as { seq?: unknown; hash?: unknown; value?: unknown }
      return typeof kept.seq === "number" && typeof kept.hash === "string" && "value" in kept
        ? { seq: kept.seq, hash: kept.hash, value: kept.value }
        : undefined
    } catch {
      return undefined
    }
  }

  const view: EventLogService["view"] = <V extends ViewName>(name: V) =>
    Effect.gen(function*() {
      const spec = TownViews[name]
      const kept = readKeptView(name)
      if (kept !== undefined) {
        // Valid when its head is in the chain and nothing after it affects it.
        const checked = yield* Stream.runFoldWhile(
          read({ fromSeq: Math.max(1, kept.seq) }),
          { ok: true, anchored: kept.seq === 0 && kept.hash === GENESIS_HASH },
          (check) => check.ok,
          (check, event) =>
            event.seq === kept.seq
              ? { ok: event.hash === kept.hash, anchored: true }
              : { ok: check.anchored && !spec.affects(event), anchored: check.anchored }
        )
        if (checked.ok && checked.anchored) return kept.value as TownViewValues[V]
      }
      // Readers never write: the next write that folds the slice keeps the view again.
      const loaded = yield* load([spec.slice])
      return spec.compute((loaded.state as Record<string, unknown>)[spec.slice] as never) as TownViewValues[V]
    })

  /**
   * The group's append made again, here and now, after it failed: the
   * segment cut back to where the group starts, then the whole group
   * written and fsynced. Its error, if it fails again.
   */
  const appendAgain = (appending: ReturnType<typeof startAppend>, chunks: ReadonlyArray<Buffer>): Error | undefined => {
    try {
      if (fs.existsSync(appending.file)) truncateDurably(appending.file, appending.start)
      appendDurably(appending.file, chunks)
      return undefined
    } catch (error) {
      return error as Error
    }
  }

  /**
   * Start appending a group: its bytes go to disk on the thread pool
   * (`appendDurablyAside`) while the writer folds the group and stages the
   * snapshot. `done` resolves once they are durable, to the error if the
   * append failed; `newSegment`: the directory must be fsynced then too.
   */
  const startAppend = (end: ScanEnd, chunks: ReadonlyArray<Buffer>) => {
    const length = chunks.reduce((sum, chunk) => sum + chunk.length, 0)
    const fits = end.lastSegmentSize === 0 || end.lastSegmentSize + length <= SEGMENT_MAX_BYTES
    const segment = listSegments(dir).length === 0 ? end.lastSegment : fits ? end.lastSegment : end.lastSegment + 1
    const file = segmentPath(dir, segment)
    const newSegment = !fs.existsSync(file)
    const done = appendDurablyAside(file, chunks)
    const start = segment === end.lastSegment ? end.lastSegmentSize : 0
    const position: Position = { segment, offset: start + length }
    return { position, newSegment, done, file, start }
  }

  const transact: EventLogService["transact"] = <K extends SliceName, A, E>(
    names: ReadonlyArray<K>,
    decide: (state: StateOf<K | "clock">, head: LogHead) => Either.Either<{
      readonly events: ReadonlyArray<NewEvent>
      readonly foreign?: ReadonlyArray<ForeignEvent>
      readonly result: A
    }, E>
  ): Effect.Effect<Committed<A, K>, E | LogError> => {
    if (options.readonlyReason !== undefined) {
      return Effect.fail(new RequiresDirectDatabaseAccess({
        reason: options.readonlyReason,
        hintText: "run the command without --readonly and with BD_READONLY unset"
      }))
    }
    const withLock = Effect.acquireUseRelease(
      Effect.try({ try: () => fs.mkdirSync(dir, { recursive: true }), catch: mapError }).pipe(
        Effect.zipRight(acquireWriterLock(dir, options.command, options.lockTimeoutMs))
      ),
      // Uninterruptible once the lock is held: an interruption (a daemon's client gone) comes
      // before the decision or after the append and all its projections, never between them.
      (lock) =>
        Effect.uninterruptible(Effect.gen(function*() {
          if (lock.tookOverFrom !== undefined) {
            options.notice(
              `took over a stale writer lock of pid ${lock.tookOverFrom.pid} (${lock.tookOverFrom.command}), which is no longer running`
            )
          }
          const projections = options.projections ?? []
          const wanted = Array.from(new Set<SliceName>([...names, "clock", ...projections.flatMap((p) => p.slices)]))
          const loaded = yield* Effect.try({
            try: () => {
              const result = loadSync(dir, wanted, origins)
              repairTail(result.end)
              return result
            },
            catch: mapError
          })
          const head: LogHead = { seq: loaded.end.seq, hash: loaded.end.hash }
          const state = loaded.state as StateOf<K | "clock">
          const decision = decide(state, head)
          if (Either.isLeft(decision)) return yield* Effect.fail(decision.left)
          const { events, foreign = [], result } = decision.right
          if (events.length === 0 && foreign.length === 0) {
            return { result, appended: [], head, state }
          }
          const due = snapshotDue(loaded.snapshotSeq, head.seq + foreign.length + events.length)
          const sealed = sealGroup(options.town, head, state.clock, foreign, events)
          const end = { ...loaded.end, lastSegmentSize: loaded.end.lastSegmentSize - loaded.end.unfinishedBytes }
          // The slices the snapshot needs and this write did not load are read before the append starts.
          const rest = due ? yield* Effect.try({ try: () => otherSlices(loaded.state), catch: mapError }) : undefined
          const appending = yield* Effect.try({ try: () => startAppend(end, sealed.chunks), catch: mapError })
          // While the bytes go to disk: the fold, and the snapshot staged (not yet in force).
          const folded = yield* Effect.either(Effect.try({
            try: () => {
              const next: SliceStates = { ...loaded.state }
              foldGroup(next, wanted, sealed.envelopes)
              const last = sealed.envelopes[sealed.envelopes.length - 1]!
              const newHead = { seq: last.seq, hash: last.hash }
              let staged: StagedSnapshot | undefined
              let unstaged: Error | undefined
              try {
                if (rest !== undefined) staged = stageSnapshotAt(newHead, appending, next, rest, sealed)
              } catch (error) {
                unstaged = error as Error
              }
              return { head: newHead, state: next as StateOf<K | "clock">, staged, unstaged }
            },
            catch: mapError
          }))
          let inForce = Either.isRight(folded) ? folded.right.staged : undefined
          // The lock is held until the append is over, whatever happened meanwhile.
          let appendError = yield* Effect.promise(() => appending.done)
          let appendedAgain = false
          if (appendError !== undefined && rest !== undefined) {
            if (inForce !== undefined) discardQuietly(inForce)
            inForce = undefined
            // The snapshot staged meanwhile (or its part written before it failed, removed then) may have taken the room
            // the append needed: given back, the append is made again.
            if (isNoSpace(appendError)) {
              appendError = yield* Effect.sync(() => appendAgain(appending, sealed.chunks))
              appendedAgain = appendError === undefined
            }
          }
          if (appendError !== undefined) return yield* Effect.fail(mapError(appendError))
          if (Either.isLeft(folded)) return yield* Effect.fail(folded.left)
          const after = yield* Effect.try({
            try: () => {
              const { head: newHead, state: next, unstaged } = folded.right
              // The events are durable from here; a snapshot that fails can be taken next time.
              if (appendedAgain) options.notice("could not write a snapshot: the disk had no room for it beside the events")
              else if (unstaged !== undefined) options.notice(`could not write a snapshot: ${unstaged.message}`)
              try {
                if (appending.newSegment) fsyncDir(dir)
              } catch (error) {
                if (inForce !== undefined) discardQuietly(inForce)
                throw error
              }
              try {
                inForce?.swap()
              } catch (error) {
                options.notice(`could not write a snapshot: ${(error as Error).message}`)
              }
              keepViews(newHead, next)
              return { head: newHead, state: next }
            },
            catch: mapError
          })
          for (const projection of projections) {
            yield* projection.afterCommit({
              state: after.state,
              appended: sealed.envelopes,
              head: after.head,
              readFrom: (fromSeq) => read({ fromSeq })
            }).pipe(
              Effect.catchAll((error) =>
                Effect.sync(() => options.notice(`the ${projection.name} projection is behind: ${error.message}`))
              )
            )
          }
          return { result, appended: sealed.envelopes, head: after.head, state: after.state }
        })),
      releaseWriterLock
    )
    return semaphore.withPermits(1)(withLock)
  }

  const read: EventLogService["read"] = (readOptions) => {
    const fromSeq = readOptions?.fromSeq ?? 1
    return Stream.suspend(() => {
      // Reading the recent past (a push publishing what is new) starts at the
      // snapshot, whose hash anchors the chain check, not at the first segment.
      const snapshot = fromSeq > 1 ? readSnapshotMeta(dir) : undefined
      let start = snapshot !== undefined && snapshot.meta.seq < fromSeq
        ? { position: snapshot.meta.position, seq: snapshot.meta.seq, hash: snapshot.meta.hash }
        : { position: { segment: listSegments(dir)[0] ?? 1, offset: 0 }, seq: 0, hash: GENESIS_HASH }
      const segments = listSegments(dir).filter((segment) => segment >= start.position.segment)
      return Stream.fromIterable(segments).pipe(
        Stream.mapEffect((segment) =>
          Effect.try({
            try: () => {
              const out: Array<Envelope> = []
              const offset = segment === start.position.segment ? start.position.offset : 0
              const end = scanLog(dir, { ...start, position: { segment, offset } }, (group) => {
                for (const event of group) if (event.seq >= fromSeq) out.push(event)
              }, { onlySegment: segment })
              start = { position: { segment: segment + 1, offset: 0 }, seq: end.seq, hash: end.hash }
              return Chunk.unsafeFromArray(out)
            },
            catch: mapError
          })
        ),
        Stream.flattenChunks
      )
    })
  }

  const verify: EventLogService["verify"] = Effect.try({
    try: () => {
      const segments = listSegments(dir)
      const snapshot = readSnapshotFiles(dir, SliceNames, true)
      const state: SliceStates = {}
      for (const name of SliceNames) (state as Record<string, unknown>)[name] = TownSlices[name].initial
      let events = 0
      let snapshotChecked = snapshot === undefined
      const end = scanLog(
        dir,
        { position: { segment: segments[0] ?? 1, offset: 0 }, seq: 0, hash: GENESIS_HASH },
        (group) => {
          events += group.length
          if (snapshot === undefined || snapshotChecked) return
          foldGroup(state, SliceNames, group)
          if (group[group.length - 1]!.seq >= snapshot.meta.seq) {
            checkSnapshot(dir, snapshot, state)
            snapshotChecked = true
          }
        }
      )
      if (!snapshotChecked && snapshot !== undefined) checkSnapshot(dir, snapshot, state)
      return {
        events,
        segments: segments.length,
        head: { seq: end.seq, hash: end.hash },
        snapshotSeq: snapshot?.meta.seq ?? 0,
        unfinishedLines: end.unfinishedLines
      }
    },
    catch: mapError
  })

  const replay: EventLogService["replay"] = (names, step) =>
    Effect.try({
      try: () => {
        const state: SliceStates = {}
        for (const name of names) (state as Record<string, unknown>)[name] = TownSlices[name].initial
        const slices = names.map((name) => TownSlices[name] as { evolve: (s: unknown, e: Envelope) => unknown; dataOf?: ReadonlySet<string> })
        // The payloads to parse: those some slice reads, or all when a slice does not say.
        const dataOf = slices.every((slice) => slice.dataOf !== undefined)
          ? new Set(slices.flatMap((slice) => [...(slice.dataOf ?? [])]))
          : undefined
        // Events are folded as they are read; what a write group that never committed folded is dropped.
        let last: ReplayedEvent | undefined
        let committed = { state: { ...state }, last }
        replayLog(dir, dataOf, (event) => {
          const next = step(event)
          if (next === "stop") return next
          for (let i = 0; i < names.length; i++) {
            ;(state as Record<string, unknown>)[names[i]!] = slices[i]!.evolve(state[names[i]!], event as Envelope)
          }
          last = event
          return next
        }, () => {
          committed = { state: { ...state }, last }
        })
        return { state: committed.state as StateOf<(typeof names)[number]>, last: committed.last }
      },
      catch: mapError
    })

  return { town: options.town, load, lookup, select, transact, read, view, replay, verify }
}

/**
 * The snapshot must point just past a real line with the same seq and hash,
 * and hold exactly the state the log folds to at that line.
 */
const checkSnapshot = (dir: string, snapshot: SnapshotRead, folded: SliceStates): void => {
  const { at, meta } = snapshot
  const file = segmentPath(dir, meta.position.segment)
  const bytes = fs.existsSync(file) ? fs.readFileSync(file) : Buffer.alloc(0)
  if (meta.position.offset > bytes.length) {
    throw new IntegrityError({ file, line: 0, reason: `the snapshot at seq ${meta.seq} points past the end of the segment` })
  }
  const before = bytes.toString("utf8", 0, Math.max(0, meta.position.offset - 1))
  const lastLine = before.slice(before.lastIndexOf("\n") + 1)
  const parsed = Option.liftThrowable(() => JSON.parse(lastLine) as Envelope)()
  if (meta.seq > 0 && (Option.isNone(parsed) || parsed.value.seq !== meta.seq || parsed.value.hash !== meta.hash)) {
    throw new IntegrityError({ file, line: 0, reason: `the snapshot at seq ${meta.seq} does not match the log` })
  }
  // The segments are read whole once, for every reference of every slice.
  const lines = segmentLines(dir, true)
  for (const [name, written] of Object.entries(snapshot.raw)) {
    const slice = TownSlices[name as SliceName] as Slice<unknown> | undefined
    if (slice === undefined) continue
    const json = resolveEntries(lines, at, name, meta.seq, written)
    const state = folded[name as SliceName]
    const stored = canonicalJson(json)
    if (stored !== canonicalJson(slice.encode(state))) {
      throw new IntegrityError({
        file: `${at}/${name}.json`,
        line: 0,
        reason: `the snapshot's ${name} state differs from the log folded to seq ${meta.seq}`
      })
    }
    const entries = slice.entries
    const files = snapshot.keyed[name]
    if (entries === undefined || !Array.isArray(json) || !Array.isArray(written) || files === undefined) continue
    const resolveLine = entryResolver(lines, entries, meta.seq)
    const mismatch = indexMismatch(
      files,
      json,
      { keys: entries.keysIn(state), columnsOf: (key) => entries.columns(state, key), keyOf: entries.keyOf },
      // A line holding the very reference written at its place stands for the entry resolved above, not read again.
      (entry, i) => (sameRef(refIn(entry), refIn(written[i])) ? json[i] : resolveLine(entry)),
      (a, b) => canonicalJson(a) === canonicalJson(b)
    )
    if (mismatch !== undefined) {
      throw new IntegrityError({ file: `${at}/${indexFile(name)}`, line: 0, reason: `the snapshot's ${name} index is wrong: ${mismatch}` })
    }
  }
}

export const FileEventLogLive = (options: FileEventLogOptions): Layer.Layer<EventLog> =>
  Layer.sync(EventLog, () => make(options))
