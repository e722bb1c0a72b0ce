/**
 * The client side of the bd daemon (src/cli/Daemon.ts): where its socket is,
 * and asking it to run a command line. This module is bundled on its own
 * (dist/bd-client.cjs) for the launcher, bin/bd.cjs, which uses it before
 * loading the rest of bd: it imports node built-ins only, no Effect.
 *
 * The socket lives in a directory only this user can enter:
 * `$BD_DAEMON_DIR`, else `$XDG_RUNTIME_DIR/bd`, else `<tmpdir>/bd-<uid>`;
 * a directory another user owns, or that others can enter, is not used.
 * Its name carries the Node version and the bundle's size and time, so a
 * rebuilt or upgraded bd never talks to an older daemon.
 */
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { splitGlobalFlags } from "./GlobalFlags.js"

type Env = Readonly<Record<string, string | undefined>>

const isSet = (value: string | undefined): boolean =>
  value !== undefined && value !== "" && value !== "0" && value.toLowerCase() !== "false"

/** `BD_NO_DAEMON=1` (or beads' `BEADS_NO_DAEMON=1`): every command runs in its own process. */
export const daemonDisabled = (env: Env): boolean => isSet(env["BD_NO_DAEMON"]) || isSet(env["BEADS_NO_DAEMON"])

const uid = (): number => (typeof process.getuid === "function" ? process.getuid() : -1)

/** The daemon's directory, created if missing; undefined when it is not private to this user. */
export const daemonDir = (env: Env): string | undefined => {
  const dir = env["BD_DAEMON_DIR"] ??
    (env["XDG_RUNTIME_DIR"] ? path.join(env["XDG_RUNTIME_DIR"], "bd") : path.join(env["TMPDIR"] || os.tmpdir(), `bd-${uid()}`))
  try {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 })
    const stat = fs.lstatSync(dir)
    const private_ = stat.isDirectory() && (stat.mode & 0o077) === 0 && (uid() === -1 || stat.uid === uid())
    return private_ ? dir : undefined
  } catch {
    return undefined
  }
}

/** The socket of the daemon for this bundle, or undefined when the daemon is off or has no safe place. */
export const daemonSocketFor = (bundle: string, env: Env): string | undefined => {
  if (daemonDisabled(env)) return undefined
  const dir = daemonDir(env)
  if (dir === undefined) return undefined
  let build: string
  try {
    const stat = fs.statSync(bundle)
    build = `${stat.size.toString(36)}-${Math.floor(stat.mtimeMs).toString(36)}`
  } catch {
    return undefined
  }
  return path.join(dir, `daemon-${process.version}-${build}.sock`)
}

/** `bd daemon …` asks after the daemon; it never starts one. */
export const isDaemonCommand = (argv: ReadonlyArray<string>): boolean => splitGlobalFlags(argv).rest[0] === "daemon"

/** One message of the daemon's answer (newline-delimited JSON). */
export type DaemonMessage =
  | { readonly ack: true }
  | { readonly o: string }
  | { readonly e: string }
  | { readonly exit: number }
  | { readonly local: true }
  | { readonly status: DaemonStatus }
  | { readonly stopping: true }

export interface DaemonStatus {
  readonly pid: number
  readonly served: number
  readonly since: string
  readonly socket: string
}

/** How long a daemon may take to acknowledge a request before the command runs here instead. */
const ACK_TIMEOUT_MS = 2_000

/**
 * Send one request and hand each message of the answer to `onMessage`
 * until it returns true (the answer is complete). Resolves false when
 * there is no daemon, it did not acknowledge in time, or the connection
 * ended before the answer was complete.
 */
export const askDaemon = (socket: string, request: unknown, onMessage: (message: DaemonMessage) => boolean): Promise<boolean> =>
  new Promise((resolve) => {
    let done = false
    let buffered = ""
    const connection = net.connect(socket)
    const finish = (complete: boolean) => {
      if (done) return
      done = true
      clearTimeout(timer)
      connection.destroy()
      resolve(complete)
    }
    const timer = setTimeout(() => finish(false), ACK_TIMEOUT_MS)
    connection.setEncoding("utf8")
    connection.on("error", () => finish(false))
    connection.on("close", () => finish(false))
    connection.on("connect", () => connection.write(`${JSON.stringify(request)}\n`))
    connection.on("data", (chunk: string) => {
      buffered += chunk
      let newline = buffered.indexOf("\n")
      while (newline !== -1 && !done) {
        let message: DaemonMessage
        try {
          message = JSON.parse(buffered.slice(0, newline)) as DaemonMessage
        } catch {
          return finish(false)
        }
        buffered = buffered.slice(newline + 1)
        if ("ack" in message) clearTimeout(timer)
        else if (onMessage(message)) finish(true)
        newline = buffered.indexOf("\n")
      }
    })
  })

/**
 * Run a command line through the daemon, its output written here as it
 * comes. The exit code; "local" when the daemon does not serve this
 * command; "unavailable" when no daemon answered before any output.
 */
export const runViaDaemon = async (
  socket: string,
  argv: ReadonlyArray<string>,
  io: { readonly cwd: string; readonly env: Env; readonly out: (text: string) => void; readonly err: (text: string) => void; readonly errIsTTY: boolean }
): Promise<number | "local" | "unavailable"> => {
  let outcome: number | "local" | undefined
  let wrote = false
  const complete = await askDaemon(socket, { run: { argv, cwd: io.cwd, env: io.env, errIsTTY: io.errIsTTY } }, (message) => {
    if ("o" in message) {
      wrote = true
      io.out(message.o)
    } else if ("e" in message) {
      wrote = true
      io.err(message.e)
    } else if ("exit" in message) {
      outcome = message.exit
    } else if ("local" in message) {
      outcome = "local"
    }
    return outcome !== undefined
  })
  if (complete && outcome !== undefined) return outcome
  if (!wrote) return "unavailable"
  io.err("bd: the daemon stopped while running this command; run it again (BD_NO_DAEMON=1 runs it without the daemon)\n")
  return 1
}

/**
 * Start a daemon for `socket` in the background (the launcher with
 * `--bd-daemon`); it outlives this process. child_process is loaded only
 * here: most runs never start one.
 */
export const startDaemon = async (launcher: string, socket: string, env: Env): Promise<void> => {
  try {
    const { spawn } = await import("node:child_process")
    const child = spawn(process.execPath, [launcher, "--bd-daemon", socket, env["BD_DAEMON_IDLE_MS"] ?? ""], {
      detached: true,
      stdio: "ignore",
      cwd: "/",
      // Each request brings its own environment; the daemon keeps only what starting node needs.
      env: { PATH: env["PATH"] ?? "/usr/bin:/bin", LANG: env["LANG"] ?? "C.UTF-8" }
    })
    child.on("error", () => {})
    child.unref()
  } catch {
    // No daemon this time: this command, and the next, run in their own process.
  }
}
