/**
 * A real MariaDB server for tests: a throwaway `mariadbd` on loopback with its
 * own temporary data directory, started and stopped by the test suite.
 *
 * Set BD_TEST_MYSQL_URL (and BD_TEST_MYSQL_PASSWORD) to use an existing server
 * instead. Install MariaDB locally with `scripts/ci-mariadb.sh`.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process"
import { randomBytes } from "node:crypto"
import { existsSync, readFileSync, rmSync } from "node:fs"
import { mkdtemp } from "node:fs/promises"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { createConnection, type Connection, type ConnectionOptions } from "mysql2/promise"

export interface MariaDbBed {
  /** mysql://user@host:port/database, without the password */
  readonly url: string
  readonly password: string
  readonly host: string
  readonly port: number
  readonly database: string
  readonly user: string
  /** unix socket of a local bed ("" for an external server) */
  readonly socket: string
  /** Create a fresh, empty database (dropped first if it exists) usable by `user`; returns its url. */
  createDatabase(name: string): Promise<string>
  /** Stop the server process abruptly (SIGKILL by default) and wait for it to exit. */
  kill(signal?: NodeJS.Signals): Promise<void>
  /** Start the server again on the same port and data directory. */
  restart(): Promise<void>
  /** Clean shutdown, then remove the temporary directory. Idempotent. */
  stop(): Promise<void>
}

/** MariaDB is not installed (outside CI): tests may skip, printing `message`. */
export class MariaDbMissingError extends Error {}

const READY_TIMEOUT_MS = 30_000
const STOP_TIMEOUT_MS = 20_000
const INSTALL_HINT =
  "MariaDB is not installed (no mariadbd / mariadb-install-db found). Install it with " +
  "`sudo scripts/ci-mariadb.sh` (Debian/Ubuntu: apt-get install mariadb-server mariadb-client), " +
  "or point BD_TEST_MYSQL_URL / BD_TEST_MYSQL_PASSWORD at a server."

const findBinary = (name: string): string | undefined => {
  const dirs = [...(process.env["PATH"] ?? "").split(":"), "/usr/sbin", "/usr/local/sbin", "/usr/bin", "/usr/local/bin"]
  return dirs.filter((d) => d !== "").map((d) => join(d, name)).find((p) => existsSync(p))
}

const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

const checkName = (name: string): string => {
  if (!/^[A-Za-z0-9_]{1,64}$/.test(name)) throw new Error(`invalid database name: ${JSON.stringify(name)}`)
  return name
}

const withConnection = async <A>(options: ConnectionOptions, f: (c: Connection) => Promise<A>): Promise<A> => {
  const connection = await createConnection(options)
  try {
    return await f(connection)
  } finally {
    await connection.end().catch(() => connection.destroy())
  }
}

const urlOf = (user: string, host: string, port: number, database: string) =>
  `mysql://${encodeURIComponent(user)}@${host}:${port}/${database}`

// Emergency cleanup of running beds when this process ends without stop():
// on exit, and on the signals that end it (vitest stops its fork workers with SIGTERM).
const emergencies = new Set<() => void>()
const EXIT_SIGNALS: ReadonlyArray<NodeJS.Signals> = ["SIGTERM", "SIGINT", "SIGHUP"]
const runEmergencies = () => {
  for (const cleanup of emergencies) cleanup()
  emergencies.clear()
}
const onSignal = (signal: NodeJS.Signals) => {
  runEmergencies()
  unwatch()
  // Let the signal do what it would have done without us.
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal)
}
const watch = (cleanup: () => void) => {
  if (emergencies.size === 0) {
    process.on("exit", runEmergencies)
    for (const signal of EXIT_SIGNALS) process.on(signal, onSignal)
  }
  emergencies.add(cleanup)
}
function unwatch(cleanup?: () => void) {
  if (cleanup !== undefined) emergencies.delete(cleanup)
  if (emergencies.size > 0) return
  process.off("exit", runEmergencies)
  for (const signal of EXIT_SIGNALS) process.off(signal, onSignal)
}

const removeDir = (dir: string) => rmSync(dir, { recursive: true, force: true, maxRetries: 5 })

const exitOf = (child: ChildProcess): Promise<void> =>
  child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve()
    : new Promise((resolve) => child.once("exit", () => resolve()))

export const startMariaDb = async (): Promise<MariaDbBed> => {
  const mariadbd = findBinary("mariadbd")
  const installDb = findBinary("mariadb-install-db")
  if (mariadbd === undefined || installDb === undefined) throw new MariaDbMissingError(INSTALL_HINT)

  const dir = await mkdtemp(join(tmpdir(), "bd-mariadb-"))
  const datadir = join(dir, "data")
  const socket = join(dir, "mysqld.sock")
  const logFile = join(dir, "error.log")
  const asRoot = process.getuid?.() === 0
  // Options shared by install and server: small memory, no DNS, everything inside `dir`.
  const common = [
    `--datadir=${datadir}`,
    `--tmpdir=${dir}`,
    ...(asRoot ? ["--user=root"] : []),
    "--innodb-buffer-pool-size=32M",
    "--innodb-log-file-size=16M",
    "--skip-name-resolve"
  ]
  const install = spawnSync(installDb, ["--no-defaults", ...common, "--auth-root-authentication-method=normal", "--skip-test-db"], {
    encoding: "utf8"
  })
  if (install.status !== 0) {
    removeDir(dir)
    throw new Error(`mariadb-install-db failed (${install.status ?? install.signal}):\n${install.stdout}\n${install.stderr}`)
  }

  const port = await freePort()
  const serverArgs = [
    "--no-defaults",
    ...common,
    `--socket=${socket}`,
    `--port=${port}`,
    "--bind-address=127.0.0.1",
    `--pid-file=${join(dir, "mysqld.pid")}`,
    `--log-error=${logFile}`,
    "--performance-schema=OFF",
    "--max-connections=200",
    "--key-buffer-size=1M",
    "--aria-pagecache-buffer-size=8M"
  ]
  const root: ConnectionOptions = { socketPath: socket, user: "root" }
  const user = "bd"
  const database = "bd"
  const password = randomBytes(12).toString("hex")
  const host = "127.0.0.1"
  let child: ChildProcess | undefined
  let stopped = false

  // If the test process ends without stop(), take the server and its files with it.
  const emergency = () => {
    child?.kill("SIGKILL")
    removeDir(dir)
  }
  watch(emergency)

  const logTail = () => (existsSync(logFile) ? readFileSync(logFile, "utf8").split("\n").slice(-20).join("\n") : "")

  const launch = async () => {
    rmSync(socket, { force: true }) // left behind by a killed server
    // setpriv --pdeathsig: the server dies with this process even if it is killed hard.
    const setpriv = findBinary("setpriv")
    const proc = setpriv !== undefined
      ? spawn(setpriv, ["--pdeathsig", "SIGKILL", mariadbd, ...serverArgs], { stdio: "ignore" })
      : spawn(mariadbd, serverArgs, { stdio: "ignore" })
    child = proc
    let spawnError: Error | undefined
    proc.once("error", (e) => (spawnError = e))
    const deadline = Date.now() + READY_TIMEOUT_MS
    for (;;) {
      if (spawnError !== undefined || proc.exitCode !== null || proc.signalCode !== null) {
        throw new Error(`mariadbd exited before accepting connections: ${spawnError?.message ?? ""}\n${logTail()}`)
      }
      try {
        await withConnection({ ...root, connectTimeout: 1_000 }, (c) => c.query("SELECT 1"))
        return
      } catch (e) {
        if (Date.now() > deadline) {
          proc.kill("SIGKILL")
          await exitOf(proc)
          throw new Error(`mariadbd not ready after ${READY_TIMEOUT_MS} ms: ${String(e)}\n${logTail()}`)
        }
        await sleep(50)
      }
    }
  }

  const kill = async (signal: NodeJS.Signals = "SIGKILL") => {
    if (child === undefined) return
    const proc = child
    proc.kill(signal)
    await exitOf(proc)
  }

  const shutdown = async () => {
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return
    const proc = child
    const timer = setTimeout(() => proc.kill("SIGKILL"), STOP_TIMEOUT_MS)
    proc.kill("SIGTERM") // mariadbd shuts down cleanly on SIGTERM
    await exitOf(proc)
    clearTimeout(timer)
  }

  const stop = async () => {
    if (stopped) return
    stopped = true
    try {
      await shutdown()
    } finally {
      unwatch(emergency)
      removeDir(dir)
    }
  }

  try {
    await launch()
    await withConnection({ ...root, multipleStatements: true }, (c) =>
      c.query(
        `CREATE DATABASE \`${database}\`;
         CREATE USER '${user}'@'${host}' IDENTIFIED BY '${password}';
         GRANT ALL PRIVILEGES ON \`${database}\`.* TO '${user}'@'${host}';
         GRANT ALL PRIVILEGES ON \`bd\\_%\`.* TO '${user}'@'${host}';`
      )
    )
  } catch (e) {
    await stop()
    throw e
  }

  return {
    url: urlOf(user, host, port, database),
    password,
    host,
    port,
    database,
    user,
    socket,
    createDatabase: async (name) => {
      const db = checkName(name)
      await withConnection({ ...root, multipleStatements: true }, (c) =>
        c.query(
          `DROP DATABASE IF EXISTS \`${db}\`; CREATE DATABASE \`${db}\`;
           GRANT ALL PRIVILEGES ON \`${db}\`.* TO '${user}'@'${host}';`
        )
      )
      return urlOf(user, host, port, db)
    },
    kill,
    restart: async () => {
      if (stopped) throw new Error("MariaDB bed already stopped")
      await shutdown()
      await launch()
    },
    stop
  }
}

/** The server named by BD_TEST_MYSQL_URL (password: BD_TEST_MYSQL_PASSWORD), if set. */
export const mariaDbFromEnv = async (): Promise<MariaDbBed | undefined> => {
  const raw = process.env["BD_TEST_MYSQL_URL"]
  if (raw === undefined || raw === "") return undefined
  const parsed = new URL(raw)
  const user = decodeURIComponent(parsed.username) || "root"
  const password = process.env["BD_TEST_MYSQL_PASSWORD"] ?? decodeURIComponent(parsed.password)
  const host = parsed.hostname
  const port = parsed.port === "" ? 3306 : Number(parsed.port)
  const database = checkName(decodeURIComponent(parsed.pathname.slice(1)) || "bd")
  const options: ConnectionOptions = { host, port, user, password, multipleStatements: true }
  await withConnection(options, (c) => c.query(`CREATE DATABASE IF NOT EXISTS \`${database}\``))
  const created = new Set<string>()
  const unavailable = (what: string) => async () => {
    throw new Error(`MariaDB bed: ${what}() is unavailable against an external server (BD_TEST_MYSQL_URL)`)
  }
  return {
    url: urlOf(user, host, port, database),
    password,
    host,
    port,
    database,
    user,
    socket: "",
    createDatabase: async (name) => {
      const db = checkName(name)
      await withConnection(options, (c) => c.query(`DROP DATABASE IF EXISTS \`${db}\`; CREATE DATABASE \`${db}\``))
      created.add(db)
      return urlOf(user, host, port, db)
    },
    kill: unavailable("kill"),
    restart: unavailable("restart"),
    // Leave the external server running; drop only the databases this bed created.
    stop: async () => {
      if (created.size === 0) return
      const sql = [...created].map((db) => `DROP DATABASE IF EXISTS \`${db}\`;`).join(" ")
      created.clear()
      await withConnection(options, (c) => c.query(sql))
    }
  }
}

/**
 * The external server if BD_TEST_MYSQL_URL is set, else a fresh local one.
 * Without MariaDB installed: a plain Error under CI=true (a failure), otherwise a
 * MariaDbMissingError whose message says how to install it (tests may skip).
 */
export const requireMariaDb = async (): Promise<MariaDbBed> => {
  const external = await mariaDbFromEnv()
  if (external !== undefined) return external
  try {
    return await startMariaDb()
  } catch (e) {
    if (e instanceof MariaDbMissingError && process.env["CI"] === "true") {
      throw new Error(`MariaDB is required in CI but missing. ${e.message}`)
    }
    throw e
  }
}
