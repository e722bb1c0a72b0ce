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
  /** The same as `evolve` over each event in turn, where a slice can fold many at once more cheaply. */
  readonly evolveAll?: (state: S, events: ReadonlyArray<Envelope>) => S
  /** A JSON value for the snapshot file, and back. */
  readonly encode: (state: S) => unknown
  readonly decode: (json: unknown) => S
  /**
   * The snapshot file's text, in pieces to write one after another: the
   * same JSON value as `encode`, which may reuse the canonical text of the
   * data of events just sealed (`dataText`, undefined when not known)
   * instead of serialising it again.
   */
  readonly encodeText?: (
    state: S,
    sealed: ReadonlyArray<Envelope>,
    dataText: (event: Envelope) => string | undefined
  ) => ReadonlyArray<string>
}
