/**
 * Progress of long work (events packed, sent, received, ingested). The CLI
 * shows it on a terminal once an operation has lasted a second, and never
 * under --json or when stderr is not a terminal; elsewhere it goes nowhere.
 */
import { Context, Effect, Layer } from "effect"

export interface ProgressApi {
  readonly report: (message: string) => Effect.Effect<void>
  /** The operation is over: clear whatever was shown. */
  readonly done: Effect.Effect<void>
}

export class Progress extends Context.Tag("beads/Progress")<Progress, ProgressApi>() {}

export const ProgressSilent: Layer.Layer<Progress> = Layer.succeed(Progress, { report: () => Effect.void, done: Effect.void })

/** One status line on a terminal, rewritten in place, shown only after `delayMs`. */
export const ProgressOnTerminal = (write: (text: string) => void, delayMs = 1_000): Layer.Layer<Progress> =>
  Layer.sync(Progress, () => {
    const started = Date.now()
    let shown = false
    return {
      report: (message) =>
        Effect.sync(() => {
          if (Date.now() - started < delayMs) return
          write(`\r\x1b[K${message}`)
          shown = true
        }),
      done: Effect.sync(() => {
        if (shown) write("\r\x1b[K")
        shown = false
      })
    }
  })
