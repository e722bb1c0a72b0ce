/**
 * A slice is one independent part of the folded town state (the clock, the
 * peers, the work items). Each folds the log on its own and is snapshotted
 * in its own file, so a command that reads only peers never parses work
 * items, whatever the size of the town.
 */
import type { Envelope } from "./Envelope.js"

export interface Slice<S> {
  readonly name: string
  readonly initial: S
  /** Pure: the state after one more event. Events a slice does not know leave it unchanged. */
  readonly evolve: (state: S, event: Envelope) => S
  /**
   * The event types whose `data` evolve reads. A replay hands every other
   * event without `data`, so it need not parse payloads nobody reads; a slice
   * without this list gets every event whole.
   */
  readonly dataOf?: ReadonlySet<string>
  /** A JSON value for the snapshot file, and back. */
  readonly encode: (state: S) => unknown
  readonly decode: (json: unknown) => S
}
