/**
 * A run's directory, environment and output (the Io of one run), and
 * reading a flag from the environment. Plain TypeScript: the daemon client,
 * bundled without Effect for the launcher, uses it too.
 */

/**
 * What one run of bd talks to: its directory, environment and output. A
 * process's own for a run in that process; the client's for a command the
 * daemon serves (src/cli/Daemon.ts), where output goes back over the socket.
 */
export interface Io {
  readonly cwd: string
  readonly env: Readonly<Record<string, string | undefined>>
  readonly out: (text: string) => void
  readonly err: (text: string) => void
  /** Whether stderr is a terminal (progress lines are shown only there). */
  readonly errIsTTY: boolean
  /** The daemon's socket for this build (`bd daemon status|stop`), undefined when there is none. */
  readonly daemonSocket?: string | undefined
  /** Aborted when whoever asked for the run has gone (a daemon's client): the command is interrupted. */
  readonly signal?: AbortSignal | undefined
}

/** This process's own directory, environment and output. */
export const processIo = (daemonSocket?: string): Io => ({
  cwd: process.cwd(),
  env: process.env,
  out: (text) => {
    process.stdout.write(text)
  },
  err: (text) => {
    process.stderr.write(text)
  },
  errIsTTY: process.stderr.isTTY === true,
  daemonSocket
})

/** A flag set in the environment: any value but empty, `0` or `false` (case-insensitive). */
export const envFlagSet = (value: string | undefined): boolean =>
  value !== undefined && value !== "" && value !== "0" && value.toLowerCase() !== "false"
