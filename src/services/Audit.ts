/**
 * What auditors do with the log: list events, fold the state as it was at
 * a point, verify the chain. Runs in every sync mode: the log is the
 * source of truth whatever is projected from it.
 */
import { Chunk, Effect, Option, Stream } from "effect"
import { InvalidArgument } from "../domain/Errors.js"
import type { LogPoint } from "../domain/LogPoint.js"
import { initialTownState, type SliceName, SliceNames, type TownState, TownSlices } from "../domain/Town.js"
import type { Envelope } from "../events/Envelope.js"
import { EventLog, type LogError, type LogHead } from "../events/EventLog.js"

export interface LogFilter {
  /** Events after this seq, or at or after this time. */
  readonly since: LogPoint | undefined
  readonly type: string | undefined
}

const matches = (filter: LogFilter) => (event: Envelope): boolean => {
  if (filter.type !== undefined && event.type !== filter.type) return false
  const since = filter.since
  if (since === undefined) return true
  switch (since._tag) {
    case "Seq":
      return event.seq > since.seq
    case "Time":
      return Date.parse(event.at) >= since.ms
    case "EventId":
      return true
  }
}

export const eventsSince = (filter: LogFilter): Stream.Stream<Envelope, LogError, EventLog> =>
  Stream.unwrap(Effect.map(EventLog, (log) => {
    const all = log.read(filter.since?._tag === "Seq" ? { fromSeq: filter.since.seq + 1 } : {})
    const afterId = filter.since?._tag === "EventId"
      ? Stream.dropWhile(all, (event) => event.id !== (filter.since as { id: string }).id).pipe(Stream.drop(1))
      : all
    return Stream.filter(afterId, matches(filter))
  }))

export interface Replayed {
  readonly state: TownState
  readonly head: LogHead
  readonly at: string | undefined
}

/** The town state after the last event at or before `until`. */
export const replayUntil = (until: LogPoint): Effect.Effect<Replayed, LogError | InvalidArgument, EventLog> =>
  Effect.gen(function*() {
    const log = yield* EventLog
    // One record updated slice by slice: a replay of millions of events makes no town object per event.
    const state: { -readonly [K in SliceName]: TownState[K] } = { ...initialTownState }
    const evolvers = SliceNames.map((name) => [name, TownSlices[name].evolve as (s: unknown, e: Envelope) => unknown] as const)
    let head: LogHead = { seq: 0, hash: "" }
    let at: string | undefined
    let found = until._tag !== "EventId"
    const upTo = (events: Stream.Stream<Envelope, LogError>) => {
      switch (until._tag) {
        case "Seq":
          return Stream.takeWhile(events, (event) => event.seq <= until.seq)
        case "Time":
          return Stream.takeWhile(events, (event) => Date.parse(event.at) <= until.ms)
        case "EventId":
          return Stream.takeUntil(events, (event) => event.id === until.id)
      }
    }
    yield* upTo(log.read()).pipe(
      Stream.runForEach((event) =>
        Effect.sync(() => {
          for (const [name, evolve] of evolvers) (state as Record<string, unknown>)[name] = evolve(state[name], event)
          head = { seq: event.seq, hash: event.hash }
          at = event.at
          if (until._tag === "EventId" && event.id === until.id) found = true
        })
      )
    )
    if (!found) {
      return yield* Effect.fail(new InvalidArgument({ argument: "--until", value: (until as { id: string }).id, allowed: "the id of an event in this log (see: bd federation log)" }))
    }
    return { state, head, at }
  })

/** The last `count` events, for `bd federation log -n`. */
export const lastEvents = (events: Chunk.Chunk<Envelope>, count: Option.Option<number>): Chunk.Chunk<Envelope> =>
  Option.match(count, { onNone: () => events, onSome: (n) => Chunk.takeRight(events, n) })
