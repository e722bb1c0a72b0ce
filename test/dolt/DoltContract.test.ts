/**
 * The contract with a real Dolt server (`dolt sql-server`), which cannot be
 * installed on the machines this project is built on: these tests run only
 * when BD_TEST_DOLT_URL points at one (mysql://user@host:port/database; the
 * password in BD_TEST_DOLT_PASSWORD; the user may create databases), and
 * say plainly that they were skipped otherwise.
 *
 * What they check is what docs/DOLT.md promises from Dolt's documented
 * procedures: the server is recognised as Dolt; every catch-up batch ends
 * in one Dolt commit naming its event range (`dolt_log` grows); a clean
 * working set ("nothing to commit") is benign; PeerAdded / PeerRemoved are
 * mirrored with DOLT_REMOTE (a dolthub:// endpoint as DoltHub's remote
 * API URL), and replaying them is benign.
 */
import { Effect, Redacted } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { DoltSqlLive, type DoltTarget } from "../../src/layers/DoltSql.js"
import { doltCommit } from "../../src/layers/DoltVersioning.js"
import { Federation } from "../../src/services/Federation.js"
import { Issues } from "../../src/services/Issues.js"
import { catchUp, connect, doltServer, expectProjectionEqualsState, openTown, projectionOf, run, type Server, withEnv } from "./support.js"

const dolt = doltServer()
const missing = dolt.missing

let root = ""
const freshDolt = dolt.fresh

const scalar = async (server: Server, sql: string, params: ReadonlyArray<unknown> = []): Promise<unknown> => {
  const c = await connect(server)
  try {
    const [rows] = await c.query(sql, [...params])
    const first = (rows as Array<Record<string, unknown>>)[0]
    return first === undefined ? undefined : Object.values(first)[0]
  } finally {
    await c.end()
  }
}

const SKIPPED =
  "skipping the Dolt contract tests: BD_TEST_DOLT_URL is not set (no Dolt server here). Run them against one with " +
  "BD_TEST_DOLT_URL=mysql://root@127.0.0.1:3306/bd_contract BD_TEST_DOLT_PASSWORD=... npx vitest run test/dolt/DoltContract.test.ts"

// Vitest runs no hook of a file whose tests are all skipped, so the reason is also printed when the file is collected.
if (missing) console.log(SKIPPED)

beforeAll(() => {
  if (missing) {
    console.log(SKIPPED)
    return
  }
  root = fs.mkdtempSync(path.join(os.tmpdir(), "bd-dolt-contract-"))
})

afterAll(async () => {
  if (root !== "") fs.rmSync(root, { recursive: true, force: true })
  await dolt.dropAll()
})

describe("the projection on a real Dolt server (BD_TEST_DOLT_URL)", () => {
  it.skipIf(missing)("recognises Dolt, and commits each catch-up batch, naming its event range", { timeout: 120_000 }, async () => {
    const server = await freshDolt("bd_commits")
    const town = await Effect.runPromise(openTown(path.join(root, "commits"), "commits", undefined))
    for (let i = 0; i < 5; i++) await run(town, Effect.flatMap(Issues, (issues) => issues.create({ title: `issue ${i}'); --` })))
    const wired = withEnv(town, { BD_DOLT_URL: server.url, BD_DOLT_PASSWORD: server.password })
    const status = await Effect.runPromise(Effect.flatMap(projectionOf(wired), (p) => p.inspect))
    expect(status.server.dolt).toBe(true)
    const commitsBefore = Number(await scalar(server, "SELECT COUNT(*) FROM dolt_log"))
    const report = await Effect.runPromise(catchUp(wired, { batchSize: 2 }))
    expect(report.server?.dolt).toBe(true)
    expect(report.batches).toBe(3)
    expect(report.doltCommits).toBe(3)
    expect(Number(await scalar(server, "SELECT COUNT(*) FROM dolt_log"))).toBe(commitsBefore + 3)
    const c = await connect(server)
    const [log] = await c.query("SELECT message FROM dolt_log ORDER BY date DESC LIMIT 3")
    await c.end()
    expect((log as Array<{ message: string }>).map((row) => row.message).sort()).toEqual([
      `bd: project events 1..2 of town ${town.townId}`,
      `bd: project events 3..4 of town ${town.townId}`,
      `bd: project events 5..5 of town ${town.townId}`
    ])
    // Every later command is one more commit.
    await run(wired, Effect.flatMap(Issues, (issues) => issues.create({ title: "one more" })))
    expect(Number(await scalar(server, "SELECT COUNT(*) FROM dolt_log"))).toBe(commitsBefore + 4)
    expect(await scalar(server, "SELECT COUNT(*) FROM dolt_status")).toBe(0)
    await expectProjectionEqualsState(wired, server)
  })

  it.skipIf(missing)("treats a clean working set (nothing to commit) as benign", async () => {
    const server = await freshDolt("bd_clean")
    const url = new URL(server.url)
    const target: DoltTarget = {
      url: server.url,
      host: url.hostname,
      port: Number(url.port),
      user: url.username,
      database: url.pathname.slice(1),
      password: Redacted.make(server.password),
      poolSize: 1,
      connectTimeoutMs: 5_000,
      queryTimeoutMs: 30_000
    }
    const hash = await Effect.runPromise(doltCommit("bd: nothing").pipe(Effect.provide(DoltSqlLive(target))))
    expect(hash).toBeUndefined()
  })

  it.skipIf(missing)("mirrors PeerAdded and PeerRemoved as Dolt remotes, and replaying them is benign", { timeout: 120_000 }, async () => {
    const server = await freshDolt("bd_remotes")
    const town = await Effect.runPromise(openTown(path.join(root, "remotes"), "remotes", server))
    const add = (name: string, endpoint: string) =>
      run(town, Effect.flatMap(Federation, (f) => f.addPeer({ name, endpoint, sovereignty: undefined, credentials: undefined })))
    await add("hub", "dolthub://acme/beads")
    await add("bucket", "gs://acme-bucket/beads")
    expect(await scalar(server, "SELECT url FROM dolt_remotes WHERE name = ?", ["hub"])).toBe("https://doltremoteapi.dolthub.com/acme/beads")
    expect(await scalar(server, "SELECT COUNT(*) FROM dolt_remotes WHERE name = ?", ["bucket"])).toBe(1)
    await run(town, Effect.flatMap(Federation, (f) => f.removePeer("hub")))
    expect(await scalar(server, "SELECT COUNT(*) FROM dolt_remotes WHERE name = ?", ["hub"])).toBe(0)
    // Replay everything from seq 0: adding an existing remote and removing a missing one are benign.
    const c = await connect(server)
    await c.query("UPDATE bd_checkpoint SET last_seq = 0, last_hash = ? WHERE id = 1", ["0".repeat(64)])
    await c.query("CALL DOLT_COMMIT('-Am', 'test: move the checkpoint back')")
    await c.end()
    const report = await Effect.runPromise(catchUp(town))
    expect(report.warnings.filter((w) => /hub|bucket/.test(w))).toEqual([])
    expect(await scalar(server, "SELECT COUNT(*) FROM dolt_remotes WHERE name = ?", ["hub"])).toBe(0)
    expect(await scalar(server, "SELECT COUNT(*) FROM dolt_remotes WHERE name = ?", ["bucket"])).toBe(1)
    await expectProjectionEqualsState(town, server)
  })
})
