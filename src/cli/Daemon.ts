/**
 * The bd daemon: a process that keeps bd loaded and runs the commands that
 * only read, for `bd` processes that ask over a Unix socket (the client is
 * src/cli/DaemonClient.ts). Starting Node and evaluating Effect and
 * @effect/cli costs a new process about 90 ms; a command the daemon runs
 * costs the client little more than starting Node.
 *
 * It runs only commands that read: nothing they do depends on being in the
 * process that asked (no lock, no write, no prompt, no subprocess), and if
 * the daemon is gone, slow to answer or refuses, the client runs the
 * command itself. Every request carries its own directory and
 * environment, and its output goes back over the socket. One daemon runs
 * per socket (a lock file beside it holds its pid); it stops after a while
 * without requests, or on `bd daemon stop`.
 */
import * as fs from "node:fs"
import * as net from "node:net"
import type { DaemonMessage } from "./DaemonClient.js"
import { splitGlobalFlags } from "./GlobalFlags.js"
import { main } from "./main.js"

/** The command lines the daemon runs: they read the town and print, nothing else. */
const SERVED: ReadonlyArray<ReadonlyArray<string>> = [
  ["federation", "list-peers"],
  ["federation", "log"],
  ["federation", "conflicts"],
  ["list"],
  ["show"],
  ["config", "list"],
  ["config", "get"]
]

/** Interactive @effect/cli modes need the client's terminal. */
const INTERACTIVE = new Set(["--wizard", "--completions"])

export const servedByDaemon = (argv: ReadonlyArray<string>): boolean => {
  const { rest } = splitGlobalFlags(argv)
  if (rest.some((arg) => INTERACTIVE.has(arg.split("=")[0]!))) return false
  return SERVED.some((command) => command.every((word, i) => rest[i] === word))
}

export const DEFAULT_IDLE_MS = 10 * 60 * 1000

const TEXT_SLICE = 1 << 20

interface RunRequest {
  readonly argv: ReadonlyArray<string>
  readonly cwd: string
  readonly env: Readonly<Record<string, string | undefined>>
  readonly errIsTTY: boolean
}

type Request = { readonly run: RunRequest } | { readonly status: true } | { readonly stop: true }

const isRequest = (value: unknown): value is Request => {
  if (typeof value !== "object" || value === null) return false
  if ("status" in value || "stop" in value) return true
  const run = (value as { run?: Partial<RunRequest> }).run
  return typeof run === "object" && run !== null && Array.isArray(run.argv) && run.argv.every((arg) => typeof arg === "string") &&
    typeof run.cwd === "string" && typeof run.env === "object" && run.env !== null && typeof run.errIsTTY === "boolean"
}

/** A zombie (exited, not yet reaped: a daemon's parent is gone, and not every init reaps) is not alive. */
const isZombie = (pid: number): boolean => {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8")
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) === "Z"
  } catch {
    return false
  }
}

export const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM"
  }
  return !isZombie(pid)
}

/** Take the lock beside the socket; false when a live daemon holds it. A lock whose process is gone is taken over. */
const takeLock = (lock: string): boolean => {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      fs.writeFileSync(lock, String(process.pid), { flag: "wx", mode: 0o600 })
      return true
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") return false
      const holder = Number(fs.readFileSync(lock, "utf8"))
      if (Number.isInteger(holder) && holder > 0 && isAlive(holder)) return false
      fs.rmSync(lock, { force: true })
    }
  }
  return false
}

/** Serve on `socket` until idle for `idleMs` or told to stop. Returns when a daemon is already serving there. */
export const serve = (socket: string, idleMs: number = DEFAULT_IDLE_MS): void => {
  const lock = `${socket}.lock`
  if (!takeLock(lock)) return
  // We hold the lock, so a socket file left here belongs to a daemon that is gone.
  fs.rmSync(socket, { force: true })
  const since = new Date().toISOString()
  let served = 0
  let active = 0
  let idle: NodeJS.Timeout | undefined

  const stop = () => {
    if (idle !== undefined) clearTimeout(idle)
    server.close()
    fs.rmSync(socket, { force: true })
    fs.rmSync(lock, { force: true })
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
    // Output in slices, so that no message is too long a string however much a command prints.
    const sendText = (stream: "o" | "e", text: string) => {
      for (let at = 0; at < text.length || at === 0; at += TEXT_SLICE) {
        send((stream === "o" ? { o: text.slice(at, at + TEXT_SLICE) } : { e: text.slice(at, at + TEXT_SLICE) }))
      }
    }
    send({ ack: true })
    if ("status" in request) {
      send({ status: { pid: process.pid, served, since, socket } })
    } else if ("stop" in request) {
      send({ stopping: true })
      stop()
    } else if (!servedByDaemon(request.run.argv)) {
      send({ local: true })
    } else {
      const { argv, cwd, env, errIsTTY } = request.run
      served++
      const code = await main(argv, {
        cwd,
        env,
        errIsTTY,
        out: (text) => sendText("o", text),
        err: (text) => sendText("e", text)
      }).catch((error: unknown) => {
        send({ e: `bd: internal error: ${error instanceof Error ? error.stack : String(error)}\n` })
        return 1
      })
      send({ exit: code })
    }
    connection.end()
  }

  const server = net.createServer((connection) => {
    rearm()
    active++
    connection.on("close", () => {
      active--
    })
    connection.on("error", () => {})
    connection.setEncoding("utf8")
    let buffered = ""
    connection.on("data", (chunk: string) => {
      buffered += chunk
      const newline = buffered.indexOf("\n")
      if (newline === -1) return
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
  })
  server.on("error", () => stop())
  server.listen(socket, () => {
    fs.chmodSync(socket, 0o600)
    rearm()
  })
}
