/**
 * The client side of the bd daemon (src/cli/Daemon.ts): where its socket is,
 * and asking it to run a command line. This module is bundled on its own
 * (dist/bd-client.cjs) for the launcher, bin/bd.cjs, which uses it before
 * loading the rest of bd: it imports node built-ins only, no Effect.
 *
 * The socket lives in a directory only this user can enter:
 * `$BD_DAEMON_DIR`, else `$XDG_RUNTIME_DIR/bd`, else `<tmpdir>/bd-<uid>`;
 * a directory another user owns, or that others can enter, is not used.
 * Its name carries the Node version and the bundle's size, time and path,
 * so a rebuilt, upgraded or other copy of bd never talks to another's daemon.
 */
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { splitGlobalFlags } from "./GlobalFlags.js"
import { envFlagSet, type Io } from "./Io.js"

/** This process's own Io, for the launcher. */
export { processIo } from "./Io.js"

type Env = Readonly<Record<string, string | undefined>>

/** `BD_NO_DAEMON=1` (or beads' `BEADS_NO_DAEMON=1`): every command runs in its own process. */
export const daemonDisabled = (env: Env): boolean => envFlagSet(env["BD_NO_DAEMON"]) || envFlagSet(env["BEADS_NO_DAEMON"])

const uid = (): number => (typeof process.getuid === "function" ? process.getuid() : -1)

/** A directory (not a link to one) of this user's. */
const ownDirectory = (stat: fs.Stats): boolean => stat.isDirectory() && (uid() === -1 || stat.uid === uid())

const ownedDirectory = (dir: string): boolean => {
  try {
    return ownDirectory(fs.lstatSync(dir))
  } catch {
    return false
  }
}

/** The daemon's directory, created if missing; undefined when it is not private to this user. */
export const daemonDir = (env: Env): string | undefined => {
  const runtime = env["XDG_RUNTIME_DIR"]
  const dir = env["BD_DAEMON_DIR"] !== undefined && env["BD_DAEMON_DIR"] !== ""
    ? path.resolve(env["BD_DAEMON_DIR"])
    : runtime !== undefined && path.isAbsolute(runtime) && ownedDirectory(runtime)
    ? path.join(runtime, "bd")
    : path.join(env["TMPDIR"] || os.tmpdir(), `bd-${uid()}`)
  try {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 })
    const stat = fs.lstatSync(dir)
    return ownDirectory(stat) && (stat.mode & 0o077) === 0 ? dir : undefined
  } catch {
    return undefined
  }
}

/** FNV-1a, to tell builds at different paths apart in a socket name (crypto costs a process milliseconds to load). */
const shortHash = (text: string): string => {
  let hash = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i)
    hash = Math.imul(hash, 0x01000193) >>> 0
  }
  return hash.toString(36)
}

/** Longest socket path used: Unix socket paths are limited to about 104 to 108 bytes. */
const MAX_SOCKET_PATH = 100

/** The socket of the daemon for this bundle, or undefined when the daemon is off or has no safe place. */
export const daemonSocketFor = (bundle: string, env: Env): string | undefined => {
  if (daemonDisabled(env)) return undefined
  const dir = daemonDir(env)
  if (dir === undefined) return undefined
  let build: string
  try {
    const stat = fs.statSync(bundle)
    build = `${stat.size.toString(36)}-${Math.floor(stat.mtimeMs).toString(36)}-${shortHash(fs.realpathSync(bundle))}`
  } catch {
    return undefined
  }
  const socket = path.join(dir, `daemon-${process.version}-${build}.sock`)
  return Buffer.byteLength(socket) <= MAX_SOCKET_PATH ? socket : undefined
}

/** `bd daemon …` asks after the daemon; it never starts one. */
export const isDaemonCommand = (argv: ReadonlyArray<string>): boolean => splitGlobalFlags(argv).rest[0] === "daemon"

/** What a client asks the daemon to run: a command line with the directory, environment and umask it would run with. */
export interface RunRequest {
  readonly argv: ReadonlyArray<string>
  readonly cwd: string
  readonly env: Env
  readonly errIsTTY: boolean
  /** The client's umask; an older client sends none, and the daemon then runs no command that writes for it. */
  readonly umask?: number | undefined
}

/**
 * This process's umask. `process.umask()` without a mask is deprecated;
 * setting 0 and putting the mask back is safe in a single-threaded process
 * (the launcher, the daemon): nothing is created in between.
 */
export const processUmask = (): number => {
  const mask = process.umask(0)
  process.umask(mask)
  return mask
}

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
/** How long a daemon running a command may stay silent (it sends a heartbeat every 5 s, unless a long synchronous step holds it) before the client gives up. */
const SILENCE_MS = 120_000

/** How a request ended: answered; no daemon there (start one); or a daemon that did not answer in time or went away. */
export type Asked = "answered" | "absent" | "unresponsive"

/**
 * Send one request and hand each message of the answer to `onMessage`
 * until it returns true (the answer is complete).
 */
export const askDaemon = (socket: string, request: unknown, onMessage: (message: DaemonMessage) => boolean): Promise<Asked> =>
  new Promise((resolve) => {
    let done = false
    let connected = false
    let buffered = ""
    const connection = net.connect(socket)
    const finish = (asked: Asked) => {
      if (done) return
      done = true
      clearTimeout(timer)
      connection.destroy()
      resolve(asked)
    }
    let timer = setTimeout(() => finish("unresponsive"), ACK_TIMEOUT_MS)
    const heard = () => {
      clearTimeout(timer)
      timer = setTimeout(() => finish("unresponsive"), SILENCE_MS)
    }
    connection.setEncoding("utf8")
    connection.on("error", () => finish(connected ? "unresponsive" : "absent"))
    connection.on("close", () => finish(connected ? "unresponsive" : "absent"))
    connection.on("connect", () => {
      connected = true
      connection.write(`${JSON.stringify(request)}\n`)
    })
    connection.on("data", (chunk: string) => {
      buffered += chunk
      let newline = buffered.indexOf("\n")
      while (newline !== -1 && !done) {
        let message: unknown
        try {
          message = JSON.parse(buffered.slice(0, newline))
        } catch {
          message = undefined
        }
        buffered = buffered.slice(newline + 1)
        if (typeof message !== "object" || message === null) return finish("unresponsive")
        heard()
        if (!("ack" in message) && onMessage(message as DaemonMessage)) finish("answered")
        newline = buffered.indexOf("\n")
      }
    })
  })

/**
 * Run a command line through the daemon, with this process's umask, its
 * output written here as it comes. The exit code; "local" when the daemon does not serve this
 * command; "absent" when there is no daemon (the caller starts one) and
 * "unresponsive" when one did not answer in time, before any output.
 */
export const runViaDaemon = async (
  socket: string,
  argv: ReadonlyArray<string>,
  io: Pick<Io, "cwd" | "env" | "out" | "err" | "errIsTTY">
): Promise<number | "local" | "absent" | "unresponsive"> => {
  let outcome: number | "local" | undefined
  let wrote = false
  const run: RunRequest = { argv, cwd: io.cwd, env: io.env, errIsTTY: io.errIsTTY, umask: processUmask() }
  const asked = await askDaemon(socket, { run }, (message) => {
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
  if (asked === "answered" && outcome !== undefined) return outcome
  if (!wrote) return asked === "absent" ? "absent" : "unresponsive"
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
      env: {
        PATH: env["PATH"] ?? "/usr/bin:/bin",
        LANG: env["LANG"] ?? "C.UTF-8",
        ...(env["TZ"] === undefined ? {} : { TZ: env["TZ"] })
      }
    })
    child.on("error", () => {})
    child.unref()
  } catch {
    // No daemon this time: this command, and the next, run in their own process.
  }
}
