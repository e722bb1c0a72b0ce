/**
 * A projection keeps something outside the log in step with it (a JSONL
 * export, a backup, a SQL read model). The log runs the projections of the
 * mode after each committed write, still holding the writer lock, so two
 * commands never write a projection out of order, and runs them to the end
 * even when the command is interrupted (a daemon's client gone), so an
 * interruption never leaves one behind the log. A projection that fails
 * is reported; the events are already durable, and it catches up next time.
 */
import type { Effect, Stream } from "effect"
import type { SliceName, TownState } from "../domain/Town.js"
import type { Envelope } from "./Envelope.js"
import type { LogError, LogHead } from "./EventLog.js"

export interface ProjectionInput {
  /** The state after the commit, for the slices the projection asked for. */
  readonly state: Partial<TownState>
  readonly appended: ReadonlyArray<Envelope>
  readonly head: LogHead
  /** The log from a seq on, for a projection that finds itself behind. */
  readonly readFrom: (fromSeq: number) => Stream.Stream<Envelope, LogError>
}

export interface Projection {
  readonly name: string
  readonly slices: ReadonlyArray<SliceName>
  readonly afterCommit: (input: ProjectionInput) => Effect.Effect<void, Error>
}
