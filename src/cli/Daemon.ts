/**
 * The bd daemon: a process that keeps bd loaded and runs commands for `bd`
 * processes that ask over a Unix socket (the client is
 * src/cli/DaemonClient.ts). Starting Node and evaluating Effect and
 * @effect/cli costs a new process about 100 ms; a command the daemon runs
 * costs the client little more than starting Node, and runs on code the
 * daemon has compiled already.
 *
 * It runs the commands that only read, and one that writes: `bd import
 * FILE [--dry-run]` (src/cli/DaemonServed.ts decides). Every request
 * carries its own directory, environment and umask, and its output goes
 * back over the socket. What could do something else here than in the
 * client runs in the client: the daemon answers `{local: true}` to every
 * other command, to a client in another time zone, to a write from a
 * client with another umask, and to an import whose FILE is not a regular
 * file it opens as the client would (a FIFO, /dev/stdin, a missing file).
 * An import takes the town's writer lock under the daemon's pid (two at
 * once wait for each other, as two processes do) and appends all or
 * nothing; a client that goes away interrupts it, and the lock is
 * released. An import is idempotent, so a client that gives up on the
 * daemon (no acknowledgment within 2 s, or the daemon died before any
 * output) and runs it itself imports nothing twice. If the daemon is gone,
 * slow to answer or refuses, the client runs the command itself. One
 * daemon runs per socket (a lock file beside it holds its pid); it stops
 * after a while without requests, or on `bd daemon stop`, once the
 * commands it runs have ended.
 */
import * as fs from "node:fs"
import * as net from "node:net"
import { type DaemonMessage, processUmask, type RunRequest } from "./DaemonClient.js"
import { type DaemonProcess, servedByDaemon } from "./DaemonServed.js"
import { isOwnLiveProcess } from "../layers/Processes.js"
import { internalErrorText, main } from "./main.js"

export const DEFAULT_IDLE_MS = 10 * 60 * 1000

const TEXT_SLICE = 1 << 20

type Request = { readonly run: RunRequest } | { readonly status: true } | { readonly stop: true }

const isRequest = (value: unknown): value is Request => {
  if (typeof value !== "object" || value === null) return false
  if ("status" in value || "stop" in value) return true
  const run = (value as { run?: Partial<RunRequest> }).run
  return typeof run === "object" && run !== null && Array.isArray(run.argv) && run.argv.every((arg) => typeof arg === "string") &&
    typeof run.cwd === "string" && typeof run.env === "object" && run.env !== null && typeof run.errIsTTY === "boolean" &&
    (run.umask === undefined || Number.isInteger(run.umask))
}

/**
 * Whether `pid` is a bd daemon of this user: alive, ours (a process of
 * another user that now has the pid answers EPERM) and, where /proc says,
 * started as one.
 */
const isDaemon = (pid: number): boolean => {
  if (!isOwnLiveProcess(pid)) return false
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("--bd-daemon")
  } catch {
    return true
  }
}

const readPid = (file: string): number | undefined => {
  try {
    const pid = Number(fs.readFileSync(file, "utf8"))
    return Number.isInteger(pid) && pid > 0 ? pid : undefined
  } catch {
    return undefined
  }
}

/**
 * Take the lock beside the socket; false when a daemon holds it. The lock
 * appears whole (a file with our pid, hard-linked into place). A lock whose
 * daemon is gone is moved aside and removed, unless what was moved is not
 * the lock that was found stale (another daemon took it meanwhile): that
 * one is put back and this daemon gives way.
 */
const takeLock = (lock: string): boolean => {
  const mine = `${lock}.${process.pid}`
  const aside = `${lock}.stale.${process.pid}`
  try {
    fs.writeFileSync(mine, String(process.pid), { mode: 0o600 })
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        fs.linkSync(mine, lock)
        return true
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "EEXIST") return false
      }
      const holder = readPid(lock)
      if (holder !== undefined && isDaemon(holder)) return false
      try {
        fs.renameSync(lock, aside)
      } catch {
        continue
      }
      if (readPid(aside) !== holder) {
        try {
          fs.linkSync(aside, lock)
        } catch {
          // Someone holds it already.
        }
        return false
      }
    }
    return false
  } catch {
    return false
  } finally {
    fs.rmSync(mine, { force: true })
    fs.rmSync(aside, { force: true })
  }
}

/** A request line longer than this, or not complete within REQUEST_MS, is refused. */
const MAX_REQUEST_BYTES = 8 * 1024 * 1024
const REQUEST_MS = 5_000
/** While a command runs, the client hears from the daemon this often (it gives up after a long silence). */
const HEARTBEAT_MS = 5_000

/** Output in slices, so that no message is too long a string however much a command prints; never between the halves of a surrogate pair. */
const slices = (text: string): ReadonlyArray<string> => {
  if (text.length <= TEXT_SLICE) return [text]
  const out: Array<string> = []
  let at = 0
  while (at < text.length) {
    let end = Math.min(text.length, at + TEXT_SLICE)
    const last = text.charCodeAt(end - 1)
    if (end < text.length && last >= 0xd800 && last <= 0xdbff) end--
    out.push(text.slice(at, end))
    at = end
  }
  return out
}

/** Serve on `socket` until idle for `idleMs` or told to stop. Returns when a daemon is already serving there. */
export const serve = (socket: string, idleMs: number = DEFAULT_IDLE_MS): void => {
  const lock = `${socket}.lock`
  if (!takeLock(lock)) return
  // We hold the lock, so a socket file left here belongs to a daemon that is gone.
  fs.rmSync(socket, { force: true })
  const since = new Date().toISOString()
  // Neither changes while the daemon runs: a request must match both to run here.
  const own: DaemonProcess = { tz: process.env["TZ"] ?? "", umask: processUmask() }
  let served = 0
  let active = 0
  let leaving = false
  let idle: NodeJS.Timeout | undefined
  let bound: number | undefined

  /**
   * Closing the server unlinks the socket's path, so it is closed only
   * while the path is still ours; a daemon that lost its socket and lock
   * to another exits, once the commands it runs have ended.
   */
  const ownsSocket = (): boolean => {
    try {
      return bound !== undefined && fs.statSync(socket).ino === bound
    } catch {
      return false
    }
  }
  let stopped = false
  const stop = () => {
    if (stopped) return
    stopped = true
    if (idle !== undefined) clearTimeout(idle)
    if (readPid(lock) === process.pid) fs.rmSync(lock, { force: true })
    if (ownsSocket()) server.close()
    else leave()
  }
  /** Exit once the connections that reached this daemon are done: a command running here, an import among them, ends first. */
  const leave = () => {
    leaving = true
    if (active === 0) process.exit(0)
  }
  const rearm = () => {
    if (idle !== undefined) clearTimeout(idle)
    idle = setTimeout(() => {
      if (active === 0) stop()
      else rearm()
    }, idleMs)
  }

  const answer = async (connection: net.Socket, request: Request) => {
    const send = (message: DaemonMessage) => {
      if (!connection.destroyed) connection.write(`${JSON.stringify(message)}\n`)
    }
    send({ ack: true })
    if ("status" in request) {
      send({ status: { pid: process.pid, served, since, socket } })
    } else if ("stop" in request) {
      send({ stopping: true })
      stop()
    } else if (!servedByDaemon(request.run, own)) {
      send({ local: true })
    } else {
      const { argv, cwd, env, errIsTTY } = request.run
      served++
      // A client that goes away interrupts its command.
      const abandoned = new AbortController()
      connection.once("close", () => abandoned.abort())
      const heartbeat = setInterval(() => send({ ack: true }), HEARTBEAT_MS)
      const code = await main(argv, {
        cwd,
        env,
        errIsTTY,
        out: (text) => slices(text).forEach((o) => send({ o })),
        err: (text) => slices(text).forEach((e) => send({ e })),
        signal: abandoned.signal
      }).catch((error: unknown) => {
        send({ e: internalErrorText(error) })
        return 1
      })
      clearInterval(heartbeat)
      send({ exit: code })
    }
    connection.end()
  }

  const server = net.createServer((connection) => {
    rearm()
    active++
    connection.on("close", () => {
      active--
      if (leaving && active === 0) process.exit(0)
    })
    connection.on("error", () => {})
    connection.setEncoding("utf8")
    const late = setTimeout(() => connection.destroy(), REQUEST_MS)
    let buffered = ""
    connection.on("data", (chunk: string) => {
      buffered += chunk
      const newline = buffered.indexOf("\n")
      if (newline === -1) {
        if (buffered.length > MAX_REQUEST_BYTES) connection.destroy()
        return
      }
      clearTimeout(late)
      connection.removeAllListeners("data")
      let request: unknown
      try {
        request = JSON.parse(buffered.slice(0, newline))
      } catch {
        request = undefined
      }
      if (isRequest(request)) void answer(connection, request)
      else connection.destroy()
    })
    connection.on("close", () => clearTimeout(late))
  })
  server.on("error", () => stop())
  server.listen(socket, () => {
    fs.chmodSync(socket, 0o600)
    bound = fs.statSync(socket).ino
    // Another daemon that took the lock meanwhile (a takeover race) serves; this one leaves without touching its files.
    if (readPid(lock) !== process.pid) process.exit(0)
    rearm()
    // A daemon whose socket path was taken from it can no longer be reached: it stops.
    setInterval(() => {
      if (!ownsSocket()) stop()
    }, 30_000).unref()
  })
}
