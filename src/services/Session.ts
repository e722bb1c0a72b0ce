/**
 * Who runs the current command, and what it is called (for the writer
 * lock). The actor is resolved lazily: read-only commands never ask git.
 */
import { Clock, Context, Effect } from "effect"

export interface SessionInfo {
  readonly actor: Effect.Effect<string>
  readonly command: string
}

export class Session extends Context.Tag("beads/Session")<Session, SessionInfo>() {}

/** The current time as RFC 3339 (UTC), from Effect's Clock so tests can control it. */
export const now: Effect.Effect<string> = Effect.map(Clock.currentTimeMillis, (ms) => new Date(ms).toISOString())

/** Actor and time for a command's metadata. */
export const commandMeta = Effect.gen(function*() {
  const session = yield* Session
  return { actor: yield* session.actor, at: yield* now }
})
