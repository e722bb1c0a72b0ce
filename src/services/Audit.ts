/**
 * What auditors do with the log: list events, fold the state as it was at
 * a point, verify the chain. Runs in every sync mode: the log is the
 * source of truth whatever is projected from it.
 */
import { Chunk, Effect, Option, Stream } from "effect"
import { InvalidArgument } from "../domain/Errors.js"
import type { LogPoint } from "../domain/LogPoint.js"
import type { Envelope } from "../events/Envelope.js"
import { EventLog, type LogError, type LogHead, type ReplayedEvent, type ReplayStep, type StateOf } from "../events/EventLog.js"

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

/** The slices a replay shows: the federation state (peers) and the clock. */
export type ReplayedSlices = "clock" | "peers"

export interface Replayed {
  readonly state: StateOf<ReplayedSlices>
  readonly head: LogHead
  readonly at: string | undefined
}

/** The federation state after the last event at or before `until`. */
export const replayUntil = (until: LogPoint): Effect.Effect<Replayed, LogError | InvalidArgument, EventLog> =>
  Effect.gen(function*() {
    const log = yield* EventLog
    const step = (event: ReplayedEvent): ReplayStep => {
      switch (until._tag) {
        case "Seq":
          return event.seq <= until.seq ? "fold" : "stop"
        case "Time":
          return Date.parse(event.at) <= until.ms ? "fold" : "stop"
        case "EventId":
          return event.id === until.id ? "last" : "fold"
      }
    }
    const { last, state } = yield* log.replay(["clock", "peers"], step)
    if (until._tag === "EventId" && last?.id !== until.id) {
      return yield* Effect.fail(new InvalidArgument({ argument: "--until", value: until.id, allowed: "the id of an event in this log (see: bd federation log)" }))
    }
    return { state, head: last === undefined ? { seq: 0, hash: "" } : { seq: last.seq, hash: last.hash }, at: last?.at }
  })

/** The last `count` events, for `bd federation log -n`. */
export const lastEvents = (events: Chunk.Chunk<Envelope>, count: Option.Option<number>): Chunk.Chunk<Envelope> =>
  Option.match(count, { onNone: () => events, onSome: (n) => Chunk.takeRight(events, n) })
