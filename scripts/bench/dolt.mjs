// The SQL projection (docs/DOLT.md), on a MariaDB server this module starts
// in a temporary directory (or BD_BENCH_MYSQL_URL / BD_BENCH_MYSQL_PASSWORD):
//
//   a. catch-up of 100,000 events into an empty projection (`bd dolt sync`,
//      one process, reading and folding the log included), in rows/s,
//      against loading the very same rows with the `mariadb` command-line
//      client from a SQL dump of them (`mariadb-dump` of the projection just
//      written: schema and extended INSERTs). Target: ratio >= 0.5.
//   b. the extra time a mutating command (`bd create`) takes with the
//      projection wired (dolt-native + dolt.url) against the same town
//      without it, as a ratio of medians. Target: <= 1.3.
//
// benchDolt({ quick, progress }) returns rows { name, subject, baseline,
// ratio, target, met, better, definition, note }, subject and baseline each
// { label, unit, median, samples }. Self-contained: it keeps its own copy of
// the built CLI, as dist/ may be rebuilt while it runs.
import { Effect, Either } from "effect"
import { spawn, spawnSync } from "node:child_process"
import { randomBytes } from "node:crypto"
import * as fs from "node:fs"
import { createServer } from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { EventLog, FileEventLogLive } from "../../dist/lib/index.js"
import { daemonEnvFor, freezeCli, stopDaemon } from "./processes.mjs"
import { townWorkload } from "./workload.mjs"


const DATA_TABLES = ["bd_events", "bd_issues", "bd_peers", "bd_sync_runs", "bd_conflicts"]
const BENCH_DATABASES = ["bd_bench_projection", "bd_bench_dump", "bd_bench_create"]

const FULL = { events: 100_000, catchUpReps: 3, createPairs: 21, warmup: 3 }
const QUICK = { events: 10_000, catchUpReps: 2, createPairs: 7, warmup: 2 }

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
}

const round = (value, digits = 3) => Number(value.toFixed(digits))

const findBinary = (name) =>
  [...(process.env.PATH ?? "").split(":"), "/usr/sbin", "/usr/local/sbin", "/usr/bin", "/usr/local/bin"]
    .filter((dir) => dir !== "")
    .map((dir) => path.join(dir, name))
    .find((file) => fs.existsSync(file))

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

const freePort = () =>
  new Promise((resolve, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address()
      server.close(() => resolve(port))
    })
  })

/** Run a program to completion; a non-zero exit fails the benchmark. Secrets go by environment, never argv. */
const runProgram = (file, args, { cwd, env, input }) => {
  const started = performance.now()
  const result = spawnSync(file, args, {
    cwd,
    env,
    input,
    stdio: [input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
    maxBuffer: 1024 * 1024 * 1024,
    encoding: "utf8",
    timeout: 30 * 60 * 1000
  })
  const ms = performance.now() - started
  if (result.error !== undefined) throw new Error(`${path.basename(file)} ${args.join(" ")}: ${result.error.message}`)
  if (result.status !== 0) throw new Error(`${path.basename(file)} ${args.join(" ")} exited with ${result.status ?? result.signal}:\n${result.stderr}${result.stdout}`)
  return { ms, stdout: result.stdout, stderr: result.stderr }
}

/** A throwaway mariadbd (as test/beds/mariadb.ts starts one), or the server of BD_BENCH_MYSQL_URL. */
const startServer = async (root) => {
  const external = process.env.BD_BENCH_MYSQL_URL ?? ""
  if (external !== "") {
    const url = new URL(external)
    return {
      host: url.hostname,
      port: Number(url.port || 3306),
      user: decodeURIComponent(url.username) || "root",
      password: process.env.BD_BENCH_MYSQL_PASSWORD ?? "",
      // Leave the server running; drop what the benchmark made.
      stop: async function () {
        sqlClient(this, undefined, { input: BENCH_DATABASES.map((db) => `DROP DATABASE IF EXISTS \`${db}\`;`).join(" ") })
      }
    }
  }
  const mariadbd = findBinary("mariadbd")
  const installDb = findBinary("mariadb-install-db")
  if (mariadbd === undefined || installDb === undefined) {
    throw new Error("MariaDB is not installed (mariadbd, mariadb-install-db): install it with sudo scripts/ci-mariadb.sh, or set BD_BENCH_MYSQL_URL")
  }
  const dir = path.join(root, "mariadb")
  fs.mkdirSync(dir, { recursive: true })
  const socket = path.join(dir, "mysqld.sock")
  const common = [
    `--datadir=${path.join(dir, "data")}`,
    `--tmpdir=${dir}`,
    ...(process.getuid?.() === 0 ? ["--user=root"] : []),
    "--innodb-buffer-pool-size=256M",
    "--skip-name-resolve"
  ]
  runProgram(installDb, ["--no-defaults", ...common, "--auth-root-authentication-method=normal", "--skip-test-db"], { cwd: dir, env: process.env })
  const port = await freePort()
  const setpriv = findBinary("setpriv")
  const args = ["--no-defaults", ...common, `--socket=${socket}`, `--port=${port}`, "--bind-address=127.0.0.1", `--log-error=${path.join(dir, "error.log")}`, "--performance-schema=OFF"]
  const child = setpriv !== undefined
    ? spawn(setpriv, ["--pdeathsig", "SIGKILL", mariadbd, ...args], { stdio: "ignore" })
    : spawn(mariadbd, args, { stdio: "ignore" })
  const client = findBinary("mariadb")
  const password = randomBytes(12).toString("hex")
  const deadline = Date.now() + 30_000
  for (;;) {
    const probe = spawnSync(client, ["--no-defaults", `--socket=${socket}`, "-uroot", "-e", "SELECT 1"], { stdio: "ignore" })
    if (probe.status === 0) break
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`mariadbd did not start:\n${fs.readFileSync(path.join(dir, "error.log"), "utf8")}`)
    await sleep(100)
  }
  runProgram(client, ["--no-defaults", `--socket=${socket}`, "-uroot"], {
    cwd: dir,
    env: process.env,
    input: `CREATE USER 'bench'@'127.0.0.1' IDENTIFIED BY '${password}'; GRANT ALL PRIVILEGES ON *.* TO 'bench'@'127.0.0.1';`
  })
  return {
    host: "127.0.0.1",
    port,
    user: "bench",
    password,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return
      const exited = new Promise((resolve) => child.once("exit", resolve))
      child.kill("SIGTERM")
      await Promise.race([exited, sleep(20_000).then(() => child.kill("SIGKILL"))])
    }
  }
}

/** The `mariadb` client on the server; the password by environment (MYSQL_PWD), never in argv. */
const sqlClient = (server, database, { input, inputFile } = {}) => {
  const client = findBinary("mariadb")
  const args = ["--no-defaults", "--batch", "--skip-column-names", `-h${server.host}`, `-P${server.port}`, `-u${server.user}`, ...(database === undefined ? [] : [database])]
  const env = { PATH: process.env.PATH ?? "/usr/bin:/bin", MYSQL_PWD: server.password }
  if (inputFile === undefined) return runProgram(client, args, { cwd: os.tmpdir(), env, input })
  // A dump of hundreds of MB goes through a file descriptor, as `mariadb db < dump.sql` does.
  const fd = fs.openSync(inputFile, "r")
  try {
    const started = performance.now()
    const result = spawnSync(client, args, { env, stdio: [fd, "pipe", "pipe"], encoding: "utf8", maxBuffer: 64 * 1024 * 1024 })
    if (result.status !== 0) throw new Error(`mariadb < ${inputFile} exited with ${result.status ?? result.signal}:\n${result.stderr}`)
    return { ms: performance.now() - started }
  } finally {
    fs.closeSync(fd)
  }
}

const freshDatabase = (server, name) => sqlClient(server, undefined, { input: `DROP DATABASE IF EXISTS \`${name}\`; CREATE DATABASE \`${name}\`;` })

const townEnv = (root, server, database) => ({
  PATH: process.env.PATH ?? "/usr/bin:/bin",
  HOME: path.join(root, "home"),
  BD_ACTOR: "bench",
  LANG: "C.UTF-8",
  ...daemonEnvFor(path.join(root, "cli", "bin", "bd.cjs")),
  ...(database === undefined
    ? {}
    : { BD_DOLT_URL: `mysql://${server.user}@${server.host}:${server.port}/${database}`, BD_DOLT_PASSWORD: server.password })
})

const makeTown = (bin, root, name) => {
  const dir = path.join(root, name)
  fs.mkdirSync(dir, { recursive: true })
  const env = townEnv(root)
  runProgram(process.execPath, [bin, "init", "--town", name], { cwd: dir, env })
  runProgram(process.execPath, [bin, "config", "set", "sync.mode", "dolt-native"], { cwd: dir, env })
  const { townId } = JSON.parse(fs.readFileSync(path.join(dir, ".beads", "town.json"), "utf8"))
  return { dir, townId, logDir: path.join(dir, ".beads", "log") }
}

/** `total` events of a busy town's workload, appended through the built library's event log in groups. */
const fillLog = async (town, total) => {
  const layer = FileEventLogLive({
    dir: town.logDir,
    town: town.townId,
    readonlyReason: undefined,
    lockTimeoutMs: 10_000,
    command: "bench",
    snapshotEvery: 2_000,
    notice: (message) => {
      throw new Error(`unexpected notice from the event log: ${message}`)
    }
  })
  const workload = townWorkload({ town: town.townId })
  for (let done = 0; done < total; done += 1_000) {
    const events = workload.batch(Math.min(1_000, total - done))
    await Effect.runPromise(
      Effect.flatMap(EventLog, (log) => log.transact(["clock"], () => Either.right({ events, result: events.length }))).pipe(Effect.provide(layer))
    )
  }
}

/** One side of a row: its median, unit and samples (as the other benchmark modules give them). */
const side = (label, unit, samples) => ({ label, unit, median: round(median(samples), 1), samples: samples.map((v) => round(v, 1)) })

const throughputRow = ({ name, unit, baselineLabel, subjectLabel, baseline, subject, target, note }) => {
  const ratio = median(subject) / median(baseline)
  return {
    name,
    subject: side(subjectLabel, unit, subject),
    baseline: side(baselineLabel, unit, baseline),
    ratio: round(ratio),
    target,
    met: ratio >= target,
    better: "higher",
    definition: `median subject ${unit} / median baseline ${unit}`,
    note
  }
}

const timeRow = ({ name, baselineLabel, subjectLabel, baseline, subject, target, note }) => {
  const ratio = median(subject) / median(baseline)
  return {
    name,
    subject: side(subjectLabel, "ms", subject),
    baseline: side(baselineLabel, "ms", baseline),
    ratio: round(ratio),
    target,
    met: ratio <= target,
    better: "lower",
    definition: "median subject time / median baseline time",
    note
  }
}

/** a. `bd dolt sync` into an empty database vs `mariadb < dump` of the same rows. */
const catchUpVersusDump = async (bin, root, server, sizes, progress) => {
  const town = makeTown(bin, root, "catchup")
  progress(`filling a log with ${sizes.events.toLocaleString("en-US")} events`)
  await fillLog(town, sizes.events)
  const dump = path.join(root, "projection.sql")
  let rows = 0
  const catchUp = () => {
    freshDatabase(server, "bd_bench_projection")
    const sync = runProgram(process.execPath, [bin, "--json", "dolt", "sync"], { cwd: town.dir, env: townEnv(root, server, "bd_bench_projection") })
    const report = JSON.parse(sync.stdout)
    if (report.events !== sizes.events) throw new Error(`bd dolt sync projected ${report.events} events, expected ${sizes.events}`)
    // The rows the tables hold at the end: what the dump holds too.
    const counted = sqlClient(server, "bd_bench_projection", {
      input: `SELECT ${DATA_TABLES.map((table) => `(SELECT COUNT(*) FROM ${table})`).join(" + ")};`
    })
    rows = Number(counted.stdout.trim().split("\n").pop())
    return sync.ms
  }
  const load = () => {
    freshDatabase(server, "bd_bench_dump")
    return sqlClient(server, "bd_bench_dump", { inputFile: dump }).ms
  }
  const subject = []
  const baseline = []
  for (let rep = 0; rep < sizes.catchUpReps; rep++) {
    // The first catch-up writes the rows the dump is made of; later rounds alternate which side goes first.
    const subjectFirst = rep % 2 === 0
    const syncMs = subjectFirst ? catchUp() : undefined
    if (!fs.existsSync(dump)) {
      runProgram(
        findBinary("mariadb-dump"),
        ["--no-defaults", `-h${server.host}`, `-P${server.port}`, `-u${server.user}`, "--skip-dump-date", `--result-file=${dump}`, "bd_bench_projection", ...DATA_TABLES],
        { cwd: root, env: { PATH: process.env.PATH ?? "/usr/bin:/bin", MYSQL_PWD: server.password } }
      )
    }
    const loadMs = load()
    const ms = syncMs ?? catchUp()
    subject.push(rows / (ms / 1000))
    baseline.push(rows / (loadMs / 1000))
    progress(`  round ${rep + 1}: bd dolt sync ${Math.round(ms)} ms, mariadb < dump ${Math.round(loadMs)} ms (${rows.toLocaleString("en-US")} rows)`)
  }
  return throughputRow({
    name: `catch-up of ${sizes.events.toLocaleString("en-US")} events into an empty projection (${rows.toLocaleString("en-US")} rows)`,
    unit: "rows/s",
    baselineLabel: "mariadb < dump",
    subjectLabel: "bd dolt sync",
    baseline,
    subject,
    target: 0.5,
    note: "subject: bd dolt sync, one process (reads the log, writes batched transactions); baseline: the mariadb client loading a mariadb-dump of the same tables"
  })
}

/** b. `bd create` with the projection wired vs the same town without dolt.url. */
const createOverhead = async (bin, root, server, sizes, progress) => {
  const withProjection = makeTown(bin, root, "create-with")
  const without = makeTown(bin, root, "create-without")
  freshDatabase(server, "bd_bench_create")
  const runCreate = (town, database, n) =>
    runProgram(process.execPath, [bin, "create", `Benchmark issue ${n}`], { cwd: town.dir, env: townEnv(root, server, database) }).ms
  for (let i = 0; i < sizes.warmup; i++) {
    runCreate(without, undefined, i)
    runCreate(withProjection, "bd_bench_create", i)
  }
  progress(`bd create with vs without the projection, ${sizes.createPairs} alternating pairs`)
  const baseline = []
  const subject = []
  for (let pair = 0; pair < sizes.createPairs; pair++) {
    if (pair % 2 === 0) {
      baseline.push(runCreate(without, undefined, pair))
      subject.push(runCreate(withProjection, "bd_bench_create", pair))
    } else {
      subject.push(runCreate(withProjection, "bd_bench_create", pair))
      baseline.push(runCreate(without, undefined, pair))
    }
  }
  return timeRow({
    name: "bd create with the SQL projection wired vs without (dolt-native)",
    baselineLabel: "without",
    subjectLabel: "with projection",
    baseline,
    subject,
    target: 1.3,
    note: "subject: the same command in a town whose dolt.url points at the MariaDB server (one batch, one transaction per command)"
  })
}

/** The Dolt projection benchmarks: rows { name, subject, baseline, ratio, target, met, ... }. */
export async function benchDolt({ quick = false, root: given, progress = (message) => console.log(`[dolt] ${message}`) } = {}) {
  const sizes = quick ? QUICK : FULL
  const root = given === undefined ? fs.mkdtempSync(path.join(os.tmpdir(), "bd-bench-dolt-")) : fs.mkdtempSync(path.join(given, "dolt-"))
  fs.mkdirSync(path.join(root, "home"), { recursive: true })
  const bin = freezeCli(root)
  progress("starting a MariaDB server")
  const server = await startServer(root)
  try {
    return [await catchUpVersusDump(bin, root, server, sizes, progress), await createOverhead(bin, root, server, sizes, progress)]
  } finally {
    await server.stop()
    stopDaemon(root)
    fs.rmSync(root, { recursive: true, force: true })
  }
}

// `node scripts/bench/dolt.mjs [--quick]` runs it alone.
if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const rows = await benchDolt({ quick: process.argv.includes("--quick") || process.env.BENCH_QUICK === "1" })
  console.log(JSON.stringify(rows, null, 2))
}
