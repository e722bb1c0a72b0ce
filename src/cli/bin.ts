/**
 * What the launcher (bin/bd.cjs) calls in the bundled bd: `run` for a
 * command line in this process, `serve` for the daemon (src/cli/Daemon.ts).
 */
import { DEFAULT_IDLE_MS, serve as serveDaemon } from "./Daemon.js"
import { processIo } from "./Io.js"
import { main } from "./main.js"

/** Run, flush, exit with the command's code. */
export const run = (argv: ReadonlyArray<string>, daemonSocket: string | undefined): void => {
  main(argv, processIo(daemonSocket)).then(
    (code) => {
      process.exitCode = code
    },
    (error: unknown) => {
      process.stderr.write(`bd: internal error: ${error instanceof Error ? error.stack : String(error)}\n`)
      process.exitCode = 1
    }
  )
}

export const serve = (socket: string, idleMs: string | undefined): void => {
  const ms = Number(idleMs)
  serveDaemon(socket, idleMs !== undefined && idleMs !== "" && Number.isFinite(ms) && ms > 0 ? ms : DEFAULT_IDLE_MS)
}
