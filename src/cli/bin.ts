/**
 * What the launcher (bin/bd.cjs) calls in the bundled bd: `run` for a
 * command line in this process, `serve` for the daemon (src/cli/Daemon.ts).
 */
import { DEFAULT_IDLE_MS, serve as serveDaemon } from "./Daemon.js"
import { processIo } from "./Io.js"
import { internalErrorText, main } from "./main.js"

/**
 * Exit with `code` once stdout and stderr have taken what was written to
 * them. The command is over: exiting now, rather than waiting for the event
 * loop to run dry, spares freeing a large heap page by page on the way out
 * (after an import of 100,000 issues that took 150 ms, a thousand munmap calls).
 * A write that failed is reported by its stream's "error" event, which comes
 * after these callbacks: the exit waits for it (the launcher, bin/bd.cjs,
 * turns output lost to a full disk into a failure).
 */
const exitWhenFlushed = (code: number): void => {
  process.exitCode = code
  let pending = 2
  const flushed = () => {
    if (--pending === 0) setImmediate(() => process.exit(code))
  }
  process.stdout.write("", flushed)
  process.stderr.write("", flushed)
}

/** Run, flush, exit with the command's code. */
export const run = (argv: ReadonlyArray<string>, daemonSocket: string | undefined): void => {
  main(argv, processIo(daemonSocket)).then(
    exitWhenFlushed,
    (error: unknown) => {
      process.stderr.write(internalErrorText(error))
      exitWhenFlushed(1)
    }
  )
}

export const serve = (socket: string, idleMs: string | undefined): void => {
  const ms = Number(idleMs)
  serveDaemon(socket, idleMs !== undefined && idleMs !== "" && Number.isFinite(ms) && ms > 0 ? ms : DEFAULT_IDLE_MS)
}
