/**
 * What a command runs with besides its own arguments: the global flags
 * (taken out of argv by src/cli/GlobalFlags.ts) and the run's directory,
 * environment and output, through the Globals tag.
 */
import { Context } from "effect"

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

export interface GlobalFlags {
  readonly json: boolean
  readonly db: string | undefined
  readonly actor: string | undefined
  readonly readonly: boolean
  readonly cwd: string
  readonly env: Readonly<Record<string, string | undefined>>
  readonly home: string
  readonly io: Io
}

export class Globals extends Context.Tag("beads/Globals")<Globals, GlobalFlags>() {}
