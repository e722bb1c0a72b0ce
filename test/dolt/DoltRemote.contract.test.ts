/**
 * The Dolt transport against a real Dolt server (`dolt sql-server`), which
 * cannot be installed on the machines this project is built on: these
 * tests run only when BD_TEST_DOLT_URL points at one (mysql://user@host:port/db;
 * the password in BD_TEST_DOLT_PASSWORD; the user may create databases),
 * and say plainly that they were skipped otherwise. The endpoints are
 * file:// Dolt remotes in a directory the server can write: a temporary
 * directory by default (the server must then run on this machine), or
 * BD_TEST_DOLT_REMOTE_DIR.
 *
 * Each town has a database of its own on the server (its projection and its
 * Dolt remotes), and peers added `--via dolt`. What is checked is what
 * docs/DOLT.md promises: a push makes the branch `beads/towns/<town>` at the
 * endpoint, one Dolt commit per batch, holding only `bd_batches`; another
 * town fetches it, ingests the signed batches and converges; a town relays
 * what it holds to another endpoint; re-running is a no-op; status counts
 * nothing ahead or behind once all is exchanged.
 */
import { Effect, Either } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { Federation } from "../../src/services/Federation.js"
import { Issues } from "../../src/services/Issues.js"
import { Sync } from "../../src/services/Sync.js"
import { connect, doltServer, gitEndpoint, openTown, run, type Server, type TestTown } from "./support.js"

const dolt = doltServer()
const missing = dolt.missing

const SKIPPED =
  "skipping the Dolt remote contract tests: BD_TEST_DOLT_URL is not set (no Dolt server here). Run them against one with " +
  "BD_TEST_DOLT_URL=mysql://root@127.0.0.1:3306/bd_contract BD_TEST_DOLT_PASSWORD=... npx vitest run test/dolt/DoltRemote.contract.test.ts"

// Vitest runs no hook of a file whose tests are all skipped, so the reason is also printed when the file is collected.
if (missing) console.log(SKIPPED)

let root = ""
let remotes = ""

beforeAll(() => {
  if (missing) return
  root = fs.mkdtempSync(path.join(os.tmpdir(), "bd-dolt-remote-contract-"))
  remotes = process.env["BD_TEST_DOLT_REMOTE_DIR"] ?? path.join(root, "remotes")
  fs.mkdirSync(remotes, { recursive: true })
})

afterAll(async () => {
  if (root !== "") fs.rmSync(root, { recursive: true, force: true })
  await dolt.dropAll()
})

const freshDolt = dolt.fresh

const doltTown = async (name: string): Promise<{ town: TestTown; server: Server }> => {
  const server = await freshDolt(`bd_remote_${name}`)
  return { town: await Effect.runPromise(openTown(root, name, server)), server }
}

const endpoint = (name: string) => `file://${path.join(remotes, `${name}-${Date.now().toString(36)}`)}`

const addPeer = (town: TestTown, name: string, at: string) =>
  run(town, Effect.flatMap(Federation, (f) => f.addPeer({ name, endpoint: at, via: "dolt", sovereignty: undefined, credentials: undefined })))

const create = (town: TestTown, title: string) => run(town, Effect.flatMap(Issues, (issues) => issues.create({ title })))

const titles = (town: TestTown) =>
  run(town, Effect.map(Effect.flatMap(Issues, (issues) => issues.list({ status: undefined, assignee: undefined, type: undefined, all: true })), (list) => list.map((i) => String(i["title"])).sort()))

const push = async (town: TestTown, peer: string) => {
  const [outcome] = await run(town, Effect.flatMap(Sync, (sync) => sync.push(peer)))
  if (Either.isLeft(outcome!.result)) throw new Error(`${town.name} push ${peer}: ${outcome!.result.left.message}`)
  return outcome!.result.right
}

const pull = async (town: TestTown, peer: string) => {
  const [outcome] = await run(town, Effect.flatMap(Sync, (sync) => sync.pull(peer)))
  if (Either.isLeft(outcome!.result)) throw new Error(`${town.name} pull ${peer}: ${outcome!.result.left.message}`)
  return outcome!.result.right
}

const query = async (server: Server, sql: string, params: ReadonlyArray<unknown> = []) => {
  const c = await connect(server)
  try {
    const [rows] = await c.query(sql, [...params])
    return rows as Array<Record<string, unknown>>
  } finally {
    await c.end()
  }
}

describe("Dolt remotes on a real Dolt server (BD_TEST_DOLT_URL)", () => {
  it.skipIf(missing)("two towns exchange signed batches through a file:// Dolt remote and converge; re-running is a no-op", { timeout: 300_000 }, async () => {
    const a = await doltTown("a")
    const b = await doltTown("b")
    const hub = endpoint("hub")
    await addPeer(a.town, "hub", hub)
    await addPeer(b.town, "hub", hub)

    await create(a.town, "from a")
    const first = await push(a.town, "hub")
    expect(first.published).toBe(1)
    expect(first.updated).toEqual([a.town.townId])

    // B fetches A's branch: one batch, one Dolt commit, nothing but bd_batches in it.
    const got = await pull(b.town, "hub")
    expect(got.events).toBe(1)
    expect(got.trusted.map((t) => t.town)).toEqual([a.town.townId])
    const branch = `hub/beads/towns/${a.town.townId}`
    expect(await query(b.server, "SELECT batch FROM bd_batches AS OF ? ORDER BY batch", [branch])).toEqual([{ batch: 1 }])
    // The branch starts from the database's empty first commit: the projection's tables are not in it.
    await expect(query(b.server, "SELECT COUNT(*) FROM bd_issues AS OF ?", [branch])).rejects.toThrow()

    await create(b.town, "from b")
    await create(a.town, "a again")
    expect((await push(b.town, "hub")).updated).toEqual([b.town.townId])
    expect((await push(a.town, "hub")).updated).toEqual([a.town.townId])
    expect((await pull(a.town, "hub")).events).toBe(1)
    expect((await pull(b.town, "hub")).events).toBe(1)
    expect(await titles(a.town)).toEqual(["a again", "from a", "from b"])
    expect(await titles(b.town)).toEqual(await titles(a.town))

    // Nothing new: pulls ingest nothing, pushes move nothing, status counts nothing.
    expect((await pull(a.town, "hub")).events).toBe(0)
    expect(await push(a.town, "hub")).toMatchObject({ published: 0, updated: [], peerAhead: [] })
    expect(await push(b.town, "hub")).toMatchObject({ published: 0, updated: [], peerAhead: [] })
    const [status] = await run(a.town, Effect.flatMap(Sync, (sync) => sync.status("hub")))
    expect(status).toMatchObject({ reachable: true, ahead: 0, behind: 0 })
    // Every batch ingested checks against its signature again.
    expect(await run(b.town, Effect.flatMap(Sync, (sync) => sync.verifyIngested))).toMatchObject({ events: 2, towns: 1 })
  })

  it.skipIf(missing)("a town relays the branches it holds to another endpoint (Dolt to Dolt, and Dolt to git)", { timeout: 300_000 }, async () => {
    const a = await doltTown("ra")
    const c = await doltTown("rc")
    const d = await doltTown("rd")
    const e1 = endpoint("e1")
    const e2 = endpoint("e2")
    await addPeer(a.town, "e1", e1)
    await addPeer(c.town, "e1", e1)
    await addPeer(c.town, "e2", e2)
    await addPeer(d.town, "e2", e2)
    await create(a.town, "made in a")
    await push(a.town, "e1")
    expect((await pull(c.town, "e1")).events).toBe(1)
    // C holds A's branch and sends it on: A and D share no endpoint.
    expect((await push(c.town, "e2")).updated).toEqual([a.town.townId])
    expect((await pull(d.town, "e2")).events).toBe(1)
    expect(await titles(d.town)).toEqual(["made in a"])
    // And to a git endpoint: the batch that came through Dolt goes on as A's very git commit.
    const git = gitEndpoint(root, "relay")
    await run(c.town, Effect.flatMap(Federation, (f) => f.addPeer({ name: "g", endpoint: git, sovereignty: undefined, credentials: undefined })))
    expect((await push(c.town, "g")).updated).toEqual([a.town.townId])
    const e = await Effect.runPromise(openTown(root, "re", undefined))
    await run(e, Effect.flatMap(Federation, (f) => f.addPeer({ name: "g", endpoint: git, sovereignty: undefined, credentials: undefined })))
    expect((await pull(e, "g")).events).toBe(1)
    expect(await titles(e)).toEqual(["made in a"])
  })
})
