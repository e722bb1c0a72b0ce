/**
 * The logical clock of a town: a Lamport counter and a version vector
 * (town -> highest townSeq folded). It is a slice like any other, so the
 * log assigns townSeq, lamport and seen to new events from folded state.
 */
import { type Envelope, seenOf, type VersionVector } from "../events/Envelope.js"
import type { Slice } from "../events/Slice.js"

export interface ClockState {
  readonly lamport: number
  readonly seen: VersionVector
  /** Number of events folded (equals the local seq of the last one). */
  readonly count: number
}

export const initialClock: ClockState = { lamport: 0, seen: {}, count: 0 }

export const evolveClock = (state: ClockState, event: Envelope): ClockState => {
  const known = seenOf(state.seen, event.town)
  return {
    lamport: Math.max(state.lamport, event.lamport),
    seen: event.townSeq > known ? { ...state.seen, [event.town]: event.townSeq } : state.seen,
    count: state.count + 1
  }
}

/** The clock fields of the next event this town decides (the log folds each sealed event before the next). */
export const nextStamp = (state: ClockState, town: string) => ({
  townSeq: seenOf(state.seen, town) + 1,
  lamport: state.lamport + 1,
  seen: state.seen
})

export const ClockSlice: Slice<ClockState> = {
  name: "clock",
  initial: initialClock,
  evolve: evolveClock,
  dataOf: new Set(),
  encode: (state) => state,
  decode: (json) => json as ClockState
}
