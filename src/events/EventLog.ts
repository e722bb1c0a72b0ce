/**
 * The EventLog service: the durable, hash-chained source of truth. Readers
 * load the slices they need (snapshot + tail) without taking the lock;
 * writers `transact`: lock, catch up, decide on fresh state, append in one
 * fsynced write, release. A decision that fails appends nothing.
 */
import { Context, type Effect, type Either, type Stream } from "effect"
import type { IntegrityError, RequiresDirectDatabaseAccess, StorageError } from "../domain/Errors.js"
import type { KeyedSliceName, SliceName, TownState, TownViewValues, ViewName } from "../domain/Town.js"
import type { Envelope, ForeignEvent, NewEvent } from "./Envelope.js"

export type LogError = IntegrityError | StorageError | RequiresDirectDatabaseAccess

export interface LogHead {
  readonly seq: number
  readonly hash: string
}

export type StateOf<K extends SliceName> = Pick<TownState, K>

export interface Loaded<K extends SliceName> {
  readonly head: LogHead
  readonly state: StateOf<K>
}

/** What a decision hands back: own events to stamp, foreign events to place in the chain, and a result. */
export interface Decision<A> {
  readonly events: ReadonlyArray<NewEvent>
  readonly foreign?: ReadonlyArray<ForeignEvent>
  readonly result: A
}

export interface Committed<A, K extends SliceName> {
  readonly result: A
  readonly appended: ReadonlyArray<Envelope>
  readonly head: LogHead
  /** The state after the appended events. */
  readonly state: StateOf<K | "clock">
}

export interface VerifyReport {
  readonly events: number
  readonly segments: number
  readonly head: LogHead
  readonly snapshotSeq: number
  /** Lines of an unfinished write at the end (cut by the next writer). */
  readonly unfinishedLines: number
}

export interface ReadOptions {
  /** First local seq to yield (1-based); earlier events are still chain-checked. */
  readonly fromSeq?: number
}

/** An event as a replay hands it to its `step`: `data` is left out unless a folded slice reads it. */
export type ReplayedEvent = Omit<Envelope, "data"> & { readonly data?: unknown }

/** Fold this event and go on; fold it and stop (it is the point); stop before it. */
export type ReplayStep = "fold" | "last" | "stop"

export interface Replay<K extends SliceName> {
  readonly state: StateOf<K>
  /** The last event folded, undefined when none was. */
  readonly last: ReplayedEvent | undefined
}

/** Some entries of a keyed slice: the first `limit` matching keys in key order, and how many match in all. */
export interface Selected<K extends KeyedSliceName> {
  readonly head: LogHead
  /** Holds at least the entries under `keys`, each exact at the head. */
  readonly state: StateOf<K>
  readonly keys: ReadonlyArray<string>
  readonly total: number
}

export interface EventLogService {
  readonly town: string
  readonly load: <K extends SliceName>(slices: ReadonlyArray<K>) => Effect.Effect<Loaded<K>, LogError>
  /**
   * A keyed slice holding (at least) the entries under these keys that
   * exist, each exact at the head, without reading the others where the
   * snapshot has an index.
   */
  readonly lookup: <K extends KeyedSliceName>(slice: K, keys: ReadonlyArray<string>) => Effect.Effect<Loaded<K>, LogError>
  /** The first `limit` (> 0) entries of a keyed slice whose columns match, in key order, and how many match in all. */
  readonly select: <K extends KeyedSliceName>(
    slice: K,
    match: (columns: ReadonlyArray<unknown>) => boolean,
    limit: number
  ) => Effect.Effect<Selected<K>, LogError>
  readonly transact: <K extends SliceName, A, E>(
    slices: ReadonlyArray<K>,
    decide: (state: StateOf<K | "clock">, head: LogHead) => Either.Either<Decision<A>, E>
  ) => Effect.Effect<Committed<A, K>, E | LogError>
  /** Every event from the start, chain-checked; a broken chain fails with the line. */
  readonly read: (options?: ReadOptions) => Stream.Stream<Envelope, LogError>
  /**
   * A view at the head (src/domain/Town.ts): kept beside the log and checked
   * against it (its head must be in the chain, and no later event may affect
   * it), else computed from its slice.
   */
  readonly view: <V extends ViewName>(name: V) => Effect.Effect<TownViewValues[V], LogError>
  /**
   * Fold the named slices from the first event, as long as `step` says so,
   * chain-checked like `read` (never from a snapshot: the point may be
   * anywhere). Payloads no folded slice reads are not parsed.
   */
  readonly replay: <K extends SliceName>(
    slices: ReadonlyArray<K>,
    step: (event: ReplayedEvent) => ReplayStep
  ) => Effect.Effect<Replay<K>, LogError>
  /** Checks the whole chain and the snapshot against it. */
  readonly verify: Effect.Effect<VerifyReport, LogError>
}

export class EventLog extends Context.Tag("beads/EventLog")<EventLog, EventLogService>() {}
