/**
 * Support for the projection's tests on a real MariaDB (test/beds/mariadb.ts):
 * towns run in-process on the library, one `townLayer` per command as `bd`
 * builds it, with `sync.mode: dolt-native` and `BD_DOLT_URL` /
 * `BD_DOLT_PASSWORD` in their environment, so the projection is wired by
 * src/layers/modes.ts exactly as for the CLI. The tables are read back with
 * plain mysql2 and compared with the rows the folded state maps to.
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import { Chunk, Effect, Either, Layer, Stream } from "effect"
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { createConnection, type Connection, type RowDataPacket } from "mysql2/promise"
import { afterAll, beforeAll, expect } from "vitest"
import type { GlobalFlags } from "../../src/cli/Globals.js"
import { processIo } from "../../src/cli/Io.js"
import { type TownServices, townLayer } from "../../src/cli/Runtime.js"
import { canonicalJson } from "../../src/events/Canonical.js"
import type { Envelope } from "../../src/events/Envelope.js"
import { EventLog, type LogHead } from "../../src/events/EventLog.js"
import { Config, setConfigValue } from "../../src/layers/Config.js"
import { townSecretsDir } from "../../src/layers/Credentials.js"
import {
  allRows,
  ConflictsTable,
  EventsTable,
  IssuesTable,
  PeersTable,
  type Row,
  SyncRunsTable,
  type TableSpec
} from "../../src/layers/DoltRows.js"
import { catchUpSourceOf, checkpointCacheFile, makeDoltProjection } from "../../src/layers/DoltProjection.js"
import { doltTarget } from "../../src/layers/DoltSql.js"
import { initTown } from "../../src/layers/Town.js"
import { ensureTownKeys } from "../../src/layers/TownKeys.js"
import { type MariaDbBed, MariaDbMissingError, requireMariaDb } from "../beds/mariadb.js"

export interface Server {
  readonly url: string
  readonly password: string
}

/**
 * Whether BD_TEST_MYSQL_URL points the suite at a server it did not start.
 * A test that stops or kills the server cannot run against such a one: it
 * skips, and this says so when the file is collected.
 */
export const externalServer = (what: string): boolean => {
  const external = (process.env["BD_TEST_MYSQL_URL"] ?? "") !== ""
  if (external) console.log(`skipping ${what}: BD_TEST_MYSQL_URL points at a server this suite did not start, and the test stops it`)
  return external
}

/**
 * A real Dolt server named by BD_TEST_DOLT_URL (none can be installed where
 * this project is built; `missing` then, and the contract tests skip and
 * say so): a fresh database per test (a Dolt database is a repository of
 * its own), all dropped by `dropAll`.
 */
export const doltServer = () => {
  const uri = process.env["BD_TEST_DOLT_URL"] ?? ""
  const password = process.env["BD_TEST_DOLT_PASSWORD"] ?? ""
  const created: Array<string> = []
  const admin = () => createConnection({ uri, password })
  return {
    missing: uri === "",
    fresh: async (name: string): Promise<Server> => {
      const database = `${name}_${Date.now().toString(36)}`
      const c = await admin()
      try {
        await c.query(`CREATE DATABASE \`${database}\``)
      } finally {
        await c.end()
      }
      created.push(database)
      const url = new URL(uri)
      return { url: `mysql://${url.username || "root"}@${url.hostname}:${url.port || "3306"}/${database}`, password }
    },
    dropAll: async (): Promise<void> => {
      if (uri === "" || created.length === 0) return
      const c = await admin()
      try {
        for (const database of created.splice(0)) await c.query(`DROP DATABASE IF EXISTS \`${database}\``)
      } finally {
        await c.end()
      }
    }
  }
}

export interface TestTown {
  readonly name: string
  readonly dir: string
  readonly beadsDir: string
  readonly townId: string
  readonly globals: GlobalFlags
}

/** A town in `root/name`, federating (dolt-native), projecting into `server` when given. */
export const openTown = (root: string, name: string, server: Server | undefined, extraEnv: Record<string, string> = {}) =>
  Effect.gen(function*() {
    const dir = path.join(root, name)
    const beadsDir = path.join(dir, ".beads")
    const home = path.join(root, `${name}-home`)
    fs.mkdirSync(beadsDir, { recursive: true })
    fs.mkdirSync(home, { recursive: true })
    const init = yield* initTown(beadsDir, { name, prefix: undefined, now: new Date().toISOString() })
    const env: Record<string, string | undefined> = {
      PATH: process.env["PATH"],
      HOME: home,
      XDG_CONFIG_HOME: path.join(home, ".config"),
      GIT_CONFIG_NOSYSTEM: "1",
      ...(server === undefined ? {} : { BD_DOLT_URL: server.url, BD_DOLT_PASSWORD: server.password }),
      BD_DOLT_CONNECT_TIMEOUT_MS: "2000",
      ...extraEnv
    }
    ensureTownKeys(townSecretsDir(env, home, init.town.townId), beadsDir)
    yield* setConfigValue(path.join(beadsDir, "config.yaml"), "sync.mode", "dolt-native")
    const globals: GlobalFlags = { json: false, db: dir, actor: "tester", readonly: false, cwd: dir, env, home, io: { ...processIo(), cwd: dir, env } }
    const town: TestTown = { name, dir, beadsDir, townId: init.town.townId, globals }
    return town
  })

/** The same town seen with another environment (another server, none). */
export const withEnv = (town: TestTown, env: Record<string, string | undefined>): TestTown => ({
  ...town,
  globals: { ...town.globals, env: { ...town.globals.env, ...env } }
})

/** Run `effect` as one command of `town`: its layers built for it and released after. */
export const inTown = <A, E>(town: TestTown, effect: Effect.Effect<A, E, TownServices>) =>
  effect.pipe(Effect.provide(Layer.provide(townLayer(town.globals, "test"), NodeContext.layer)))

export const run = <A, E>(town: TestTown, effect: Effect.Effect<A, E, TownServices>): Promise<A> =>
  Effect.runPromise(inTown(town, effect))

/** A bare git repository as a file:// endpoint. */
export const gitEndpoint = (root: string, name: string): string => {
  const dir = path.join(root, "endpoints", `${name}.git`)
  fs.mkdirSync(path.dirname(dir), { recursive: true })
  execFileSync("git", ["init", "--bare", "--quiet", dir], { stdio: "ignore", env: { PATH: process.env["PATH"] ?? "" } })
  return `file://${dir}`
}

// ---- comparing tables with the folded state ---------------------------------

interface TableCheck {
  readonly spec: TableSpec
  readonly json: ReadonlyArray<string>
  readonly booleans: ReadonlyArray<string>
}

const TABLES = {
  events: { spec: EventsTable, json: ["data", "seen"], booleans: [] },
  issues: { spec: IssuesTable, json: ["labels", "dependencies", "comments", "fields"], booleans: [] },
  peers: { spec: PeersTable, json: [], booleans: ["has_credentials"] },
  syncRuns: { spec: SyncRunsTable, json: ["data"], booleans: [] },
  conflicts: { spec: ConflictsTable, json: ["heads", "shown"], booleans: [] }
} as const satisfies Record<string, TableCheck>

export type Tables = { readonly [K in keyof typeof TABLES]: ReadonlyArray<ReadonlyArray<unknown>> }

export interface Snapshot {
  readonly tables: Tables
  readonly checkpoint: { readonly seq: number; readonly hash: string } | undefined
}

/** One cell as both sides compare it: JSON canonical (MariaDB keeps JSON as text, MySQL as a value), booleans as 0/1. */
const cell = (check: TableCheck, column: string, value: unknown): unknown => {
  if (value === null || value === undefined) return null
  if (check.json.includes(column)) return canonicalJson(typeof value === "string" ? JSON.parse(value) : value)
  if (check.booleans.includes(column)) return Number(value)
  if (typeof value === "bigint") return Number(value)
  return value
}

const normalize = (check: TableCheck, rows: ReadonlyArray<ReadonlyArray<unknown>>): ReadonlyArray<ReadonlyArray<unknown>> => {
  const keyIndexes = check.spec.key.map((key) => check.spec.columns.indexOf(key))
  const keyOf = (row: ReadonlyArray<unknown>) => JSON.stringify(keyIndexes.map((i) => row[i]))
  return rows
    .map((row) => row.map((value, i) => cell(check, check.spec.columns[i]!, value)))
    .sort((a, b) => (keyOf(a) < keyOf(b) ? -1 : keyOf(a) > keyOf(b) ? 1 : 0))
}

/** A plain mysql2 connection; JSON columns come back as their text (mysql2 would parse MariaDB's JSON otherwise). */
export const connect = (server: Server): Promise<Connection> =>
  createConnection({ uri: server.url, password: server.password, jsonStrings: true })

/** Every table and the checkpoint, as the server holds them. */
export const readTables = async (server: Server): Promise<Snapshot> => {
  const c = await connect(server)
  try {
    const tables: Record<string, ReadonlyArray<ReadonlyArray<unknown>>> = {}
    for (const [name, check] of Object.entries(TABLES)) {
      const [rows] = await c.query<Array<RowDataPacket>>(
        `SELECT ${check.spec.columns.map((col) => `\`${col}\``).join(", ")} FROM ${check.spec.name}`
      )
      tables[name] = normalize(check, rows.map((row) => check.spec.columns.map((col) => row[col] as unknown)))
    }
    const [cp] = await c.query<Array<RowDataPacket>>("SELECT last_seq, last_hash FROM bd_checkpoint WHERE id = 1")
    const row = cp[0]
    return {
      tables: tables as unknown as Tables,
      checkpoint: row === undefined ? undefined : { seq: Number(row["last_seq"]), hash: String(row["last_hash"]) }
    }
  } finally {
    await c.end().catch(() => c.destroy())
  }
}

export interface Folded {
  readonly head: LogHead
  readonly events: ReadonlyArray<Envelope>
  readonly snapshot: Snapshot
}

/** What the tables must hold: the rows of the town's folded state and its events. */
export const expectedTables = (town: TestTown) =>
  inTown(
    town,
    Effect.gen(function*() {
      const log = yield* EventLog
      const events = Chunk.toReadonlyArray(yield* Stream.runCollect(log.read()))
      const loaded = yield* log.load(["issues", "peers"])
      const rows = allRows(events, loaded.state.issues, loaded.state.peers)
      const tables: Record<string, ReadonlyArray<ReadonlyArray<unknown>>> = {}
      for (const [name, check] of Object.entries(TABLES)) {
        tables[name] = normalize(check, (rows as Record<string, ReadonlyArray<Row>>)[name]!)
      }
      const folded: Folded = {
        head: loaded.head,
        events,
        snapshot: { tables: tables as unknown as Tables, checkpoint: { seq: loaded.head.seq, hash: loaded.head.hash } }
      }
      return folded
    })
  )

/** Every table equals the folded state, table by table (for readable failures), and the checkpoint is the log's head. */
export const expectProjectionEqualsState = async (town: TestTown, server: Server): Promise<Folded> => {
  const expected = await Effect.runPromise(expectedTables(town))
  const actual = await readTables(server)
  for (const name of Object.keys(TABLES) as Array<keyof Tables>) {
    expect(actual.tables[name].length, `${town.name}: rows of ${name}`).toBe(expected.snapshot.tables[name].length)
    expect(actual.tables[name], `${town.name}: table ${name}`).toEqual(expected.snapshot.tables[name])
  }
  expect(actual.checkpoint, `${town.name}: checkpoint`).toEqual(expected.snapshot.checkpoint)
  return expected
}

/** A fresh database on the bed for one test, as a server description. */
export const freshServer = async (bed: MariaDbBed, name: string): Promise<Server> => ({
  url: await bed.createDatabase(name),
  password: bed.password
})

// ---- the projection itself, outside a command -------------------------------

/** The projection of `town`'s configured server, as `bd dolt sync` makes it. */
export const projectionOf = (town: TestTown, options: { readonly batchSize?: number } = {}) =>
  inTown(
    town,
    Effect.gen(function*() {
      const cfg = yield* Config
      const target = doltTarget(cfg)
      if (target === undefined) return yield* Effect.dieMessage(`${town.name} has no dolt.url`)
      return makeDoltProjection({
        target,
        town: town.townId,
        cacheFile: checkpointCacheFile(town.beadsDir),
        ...(options.batchSize === undefined ? {} : { batchSize: options.batchSize })
      })
    })
  )

/** `bd dolt sync`: catch up from the log now. */
export const catchUp = (town: TestTown, options: { readonly batchSize?: number } = {}) =>
  Effect.flatMap(projectionOf(town, options), (projection) =>
    inTown(town, Effect.flatMap(EventLog, (log) => Effect.flatMap(catchUpSourceOf(log), projection.catchUp))))

/** Events appended as they are, through the log (no decider, no validation): for data no command would let through. */
export const appendRaw = (town: TestTown, events: ReadonlyArray<{ readonly type: string; readonly data: unknown }>) =>
  inTown(
    town,
    Effect.flatMap(EventLog, (log) =>
      log.transact([], () =>
        Either.right({
          events: events.map((event) => ({ ...event, at: new Date().toISOString(), actor: "tester" })),
          result: undefined
        })))
  )

// ---- one MariaDB per test file ----------------------------------------------

export interface BedHandle {
  /** The bed, or a skip of the calling test when MariaDB is not installed (never under CI=true: that fails). */
  readonly get: (ctx: { skip: (note?: string) => void }) => MariaDbBed
  readonly root: () => string
}

/** Start a MariaDB bed (requireMariaDb) and a temporary root for the file; stop and remove both after. */
export const useMariaDb = (label: string): BedHandle => {
  let bed: MariaDbBed | undefined
  let skipReason = ""
  let root = ""
  beforeAll(async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), `bd-dolt-${label}-`))
    try {
      bed = await requireMariaDb()
    } catch (error) {
      if (!(error instanceof MariaDbMissingError)) throw error
      skipReason = error.message
      console.log(`skipping the ${label} tests: ${skipReason}`)
    }
  }, 120_000)
  afterAll(async () => {
    await bed?.stop()
    if (root !== "") fs.rmSync(root, { recursive: true, force: true })
  }, 120_000)
  return {
    get: (ctx) => {
      if (bed === undefined) {
        ctx.skip(skipReason)
        throw new Error(skipReason)
      }
      return bed
    },
    root: () => root
  }
}
