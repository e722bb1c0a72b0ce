/**
 * The SQL projection on a real MariaDB: after random command sequences in
 * two federating towns (edits, labels, closes, syncs over a git endpoint,
 * conflicts and their resolution, peers added and removed, failing syncs),
 * every table equals what the folded state maps to; catching up is
 * idempotent, survives a checkpoint moved back, and rebuilds a projection
 * that no longer matches the log; the database of another town is refused.
 *
 * Replay one sequence: DOLT_SEED=<seed> npx vitest run test/dolt/DoltProjection.test.ts
 */
import { Effect, Either, FastCheck as fc } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { describe, expect, it } from "vitest"
import { Federation } from "../../src/services/Federation.js"
import { Issues } from "../../src/services/Issues.js"
import { Sync } from "../../src/services/Sync.js"
import { appliedVersion, ensureSchema, SCHEMA_VERSION } from "../../src/layers/DoltSchema.js"
import { checkpointCacheFile } from "../../src/layers/DoltProjection.js"
import { DoltSqlLive } from "../../src/layers/DoltSql.js"
import {
  catchUp,
  connect,
  expectProjectionEqualsState,
  freshServer,
  gitEndpoint,
  openTown,
  projectionOf,
  readTables,
  run,
  type Server,
  type TestTown,
  useMariaDb,
  withEnv
} from "./support.js"

const maria = useMariaDb("projection")

const ALL = { status: undefined, assignee: undefined, type: undefined, all: true } as const

const TITLES = [
  "Fix the sync of peers",
  "'); DROP TABLE bd_issues; --",
  "O'Brien said \"hi\"",
  "back\\slash \\\\ and \\' quote",
  "ünïcödé 🚀 שלום 中文",
  "100% _wild_ `ticks`"
]
const LABELS = ["backend", "x'); DELETE FROM bd_events; --", "a\\b", "ü🚀"]

type Step =
  | { readonly _tag: "create"; readonly town: number; readonly title: string; readonly labels: ReadonlyArray<string> }
  | { readonly _tag: "retitle"; readonly town: number; readonly issue: number; readonly title: string }
  | { readonly _tag: "label"; readonly town: number; readonly issue: number; readonly label: string }
  | { readonly _tag: "close"; readonly town: number; readonly issue: number }
  | { readonly _tag: "reopen"; readonly town: number; readonly issue: number }
  | { readonly _tag: "sync"; readonly town: number }
  | { readonly _tag: "resolve"; readonly town: number; readonly side: "ours" | "theirs" }
  | { readonly _tag: "addPeer"; readonly town: number; readonly name: string }
  | { readonly _tag: "removePeer"; readonly town: number; readonly name: string }

const town = fc.nat({ max: 1 })
const issue = fc.nat({ max: 5 })
const title = fc.oneof(fc.constantFrom(...TITLES), fc.string({ minLength: 1, maxLength: 20 }).filter((t) => t.trim() !== ""))

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ _tag: fc.constant("create" as const), town, title, labels: fc.subarray(LABELS, { maxLength: 2 }) }) },
  { weight: 4, arbitrary: fc.record({ _tag: fc.constant("retitle" as const), town, issue, title }) },
  { weight: 2, arbitrary: fc.record({ _tag: fc.constant("label" as const), town, issue, label: fc.constantFrom(...LABELS) }) },
  { weight: 1, arbitrary: fc.record({ _tag: fc.constant("close" as const), town, issue }) },
  { weight: 1, arbitrary: fc.record({ _tag: fc.constant("reopen" as const), town, issue }) },
  { weight: 3, arbitrary: fc.record({ _tag: fc.constant("sync" as const), town }) },
  { weight: 1, arbitrary: fc.record({ _tag: fc.constant("resolve" as const), town, side: fc.constantFrom("ours" as const, "theirs" as const) }) },
  { weight: 1, arbitrary: fc.record({ _tag: fc.constant("addPeer" as const), town, name: fc.constantFrom("mirror", "backup") }) },
  { weight: 1, arbitrary: fc.record({ _tag: fc.constant("removePeer" as const), town, name: fc.constantFrom("mirror", "backup") }) }
)

const pickIssue = (n: number) =>
  Effect.map(Effect.flatMap(Issues, (issues) => issues.list(ALL)), (list) => {
    const ids = list.map((fields) => String(fields["id"])).sort()
    return ids.length === 0 ? undefined : ids[n % ids.length]
  })

/** One step as the command would run it; refusals (a closed issue closed again, an unknown peer) are fine. */
const runStep = (towns: ReadonlyArray<TestTown>, step: Step): Promise<unknown> => {
  const t = towns[step.town % towns.length]!
  const onIssue = (n: number, f: (id: string) => Effect.Effect<unknown, unknown, Issues>) =>
    run(t, Effect.either(Effect.flatMap(pickIssue(n), (id) => (id === undefined ? Effect.void : f(id)))))
  switch (step._tag) {
    case "create":
      return run(t, Effect.either(Effect.flatMap(Issues, (i) => i.create({ title: step.title, labels: step.labels, description: step.title }))))
    case "retitle":
      return onIssue(step.issue, (id) => Effect.flatMap(Issues, (i) => i.update(id, { set: { title: step.title } })))
    case "label":
      return onIssue(step.issue, (id) => Effect.flatMap(Issues, (i) => i.update(id, { set: {}, addLabels: [step.label] })))
    case "close":
      return onIssue(step.issue, (id) => Effect.flatMap(Issues, (i) => i.close(id, "done'); --")))
    case "reopen":
      return onIssue(step.issue, (id) => Effect.flatMap(Issues, (i) => i.reopen(id)))
    case "sync":
      return run(t, Effect.either(Effect.flatMap(Sync, (s) => s.sync(undefined, undefined))))
    case "resolve":
      return run(
        t,
        Effect.either(Effect.gen(function*() {
          const sync = yield* Sync
          const open = yield* sync.conflicts
          if (open[0] !== undefined) yield* sync.resolve(open[0].id, { _tag: "Side", side: step.side }, step.side)
        }))
      )
    case "addPeer":
      return run(
        t,
        Effect.either(Effect.flatMap(Federation, (f) =>
          f.addPeer({ name: step.name, endpoint: `dolthub://org/${step.name}`, sovereignty: undefined, credentials: undefined })))
      )
    case "removePeer":
      return run(t, Effect.either(Effect.flatMap(Federation, (f) => f.removePeer(step.name))))
  }
}

let worlds = 0

/** Two towns sharing a git endpoint, each projecting into a fresh database. */
const twoTowns = async (root: string, servers: readonly [Server, Server]) => {
  const world = path.join(root, `world-${++worlds}`)
  const hub = gitEndpoint(world, "hub")
  const towns = [
    await Effect.runPromise(openTown(world, "alpha", servers[0])),
    await Effect.runPromise(openTown(world, "beta", servers[1]))
  ] as const
  for (const t of towns) {
    await run(t, Effect.flatMap(Federation, (f) => f.addPeer({ name: "hub", endpoint: hub, sovereignty: undefined, credentials: undefined })))
  }
  return towns
}

describe("the SQL projection on MariaDB", () => {
  it("equals the folded state after random command sequences in two federating towns", { timeout: 600_000 }, async (ctx) => {
    const bed = maria.get(ctx)
    let round = 0
    const seed = process.env["DOLT_SEED"] === undefined ? Date.now() : Number(process.env["DOLT_SEED"])
    console.log(`random command sequences: DOLT_SEED=${seed}`)
    let conflictsSeen = 0
    let syncRunsSeen = 0
    await fc.assert(
      fc.asyncProperty(fc.array(stepArb, { minLength: 12, maxLength: 30 }), async (steps) => {
        round++
        const servers = [await freshServer(bed, `bd_rand_${round}_a`), await freshServer(bed, `bd_rand_${round}_b`)] as const
        const towns = await twoTowns(maria.root(), servers)
        // Make a conflict likely: both towns hold an issue and change its title concurrently.
        await runStep(towns, { _tag: "create", town: 0, title: "shared", labels: [] })
        await runStep(towns, { _tag: "sync", town: 0 })
        await runStep(towns, { _tag: "sync", town: 1 })
        for (const step of steps) await runStep(towns, step)
        await runStep(towns, { _tag: "sync", town: 0 })
        for (const [i, t] of towns.entries()) {
          await expectProjectionEqualsState(t, servers[i]!)
          const tables = await readTables(servers[i]!)
          conflictsSeen += tables.tables.conflicts.length
          syncRunsSeen += tables.tables.syncRuns.length
        }
      }),
      { numRuns: 3, seed, endOnFailure: true }
    )
    console.log(`checked ${round} sequence(s); ${conflictsSeen} open conflict row(s) and ${syncRunsSeen} sync run row(s) compared`)
    expect(syncRunsSeen).toBeGreaterThan(0)
  })

  it("an open conflict is a row while it is open, and goes when it is resolved", { timeout: 120_000 }, async (ctx) => {
    const bed = maria.get(ctx)
    const servers = [await freshServer(bed, "bd_conflict_a"), await freshServer(bed, "bd_conflict_b")] as const
    const towns = await twoTowns(maria.root(), servers)
    await runStep(towns, { _tag: "create", town: 0, title: "shared", labels: [] })
    await runStep(towns, { _tag: "sync", town: 0 })
    await runStep(towns, { _tag: "sync", town: 1 })
    await runStep(towns, { _tag: "retitle", town: 0, issue: 0, title: "alpha's '); DROP TABLE bd_conflicts; --" })
    await runStep(towns, { _tag: "retitle", town: 1, issue: 0, title: "beta's \\ title" })
    await runStep(towns, { _tag: "sync", town: 0 })
    await runStep(towns, { _tag: "sync", town: 1 })
    await expectProjectionEqualsState(towns[1], servers[1])
    const open = (await readTables(servers[1])).tables.conflicts
    expect(open).toHaveLength(1)
    expect(open[0]!.slice(0, 3)).toEqual([expect.stringMatching(/^bd-/), "title", expect.stringMatching(/\/title$/)])
    expect(open[0]![3]).toContain("DROP TABLE bd_conflicts")
    await runStep(towns, { _tag: "resolve", town: 1, side: "ours" })
    await expectProjectionEqualsState(towns[1], servers[1])
    expect((await readTables(servers[1])).tables.conflicts).toEqual([])
  })

  it("catching up again writes nothing and changes no row", async (ctx) => {
    const bed = maria.get(ctx)
    const server = await freshServer(bed, "bd_twice")
    const t = await Effect.runPromise(openTown(path.join(maria.root(), "twice"), "twice", server))
    for (let i = 0; i < 5; i++) await run(t, Effect.flatMap(Issues, (issues) => issues.create({ title: `issue ${i}` })))
    const before = await readTables(server)
    const report = await Effect.runPromise(catchUp(t))
    expect(report.events).toBe(0)
    expect(report.batches).toBe(0)
    expect(await readTables(server)).toEqual(before)
    await expectProjectionEqualsState(t, server)
  })

  it("a checkpoint moved back (rows written, checkpoint lost) is caught up without a duplicate row", async (ctx) => {
    const bed = maria.get(ctx)
    const server = await freshServer(bed, "bd_back")
    const t = await Effect.runPromise(openTown(path.join(maria.root(), "back"), "back", server))
    for (let i = 0; i < 8; i++) await run(t, Effect.flatMap(Issues, (issues) => issues.create({ title: `issue ${i}`, labels: ["l"] })))
    const c = await connect(server)
    const [rows] = await c.query("SELECT hash FROM bd_events WHERE seq = 3")
    await c.query("UPDATE bd_checkpoint SET last_seq = 3, last_hash = ? WHERE id = 1", [(rows as Array<{ hash: string }>)[0]!.hash])
    await c.end()
    const report = await Effect.runPromise(catchUp(t, { batchSize: 2 }))
    expect(report.from.seq).toBe(3)
    expect(report.events).toBe(5)
    expect(report.batches).toBe(3)
    await expectProjectionEqualsState(t, server)
  })

  it("a command writes at once after the checkpoint this machine wrote, and takes the ordinary way when that is no longer where the projection stands", async (ctx) => {
    const bed = maria.get(ctx)
    const server = await freshServer(bed, "bd_following")
    const t = await Effect.runPromise(openTown(path.join(maria.root(), "following"), "following", server))
    const create = (title: string) => run(t, Effect.flatMap(Issues, (issues) => issues.create({ title, labels: ["l"] })))
    for (let i = 0; i < 3; i++) await create(`issue ${i}`)
    const cache = checkpointCacheFile(t.beadsDir)
    expect(JSON.parse(fs.readFileSync(cache, "utf8"))).toMatchObject({ seq: 3, server: "mysql" })
    await expectProjectionEqualsState(t, server)

    // Someone moved the checkpoint back: the claim from seq 3 is refused, and the catch-up goes on from seq 1.
    const c = await connect(server)
    const [rows] = await c.query("SELECT hash FROM bd_events WHERE seq = 1")
    await c.query("UPDATE bd_checkpoint SET last_seq = 1, last_hash = ? WHERE id = 1", [(rows as Array<{ hash: string }>)[0]!.hash])
    await create("after the move")
    await expectProjectionEqualsState(t, server)

    // The tables went: the claim fails on the server, and the ordinary way makes them again.
    await c.query("DROP TABLE bd_checkpoint, bd_schema_version, bd_events, bd_issues, bd_peers, bd_sync_runs, bd_conflicts")
    await create("after the drop")
    await expectProjectionEqualsState(t, server)

    // A newer schema version: refused, as before, and nothing is written.
    await c.query("INSERT INTO bd_schema_version (version, applied_at) VALUES (?, 'later')", [SCHEMA_VERSION + 1])
    const before = await readTables(server)
    await create("under a newer schema")
    expect(await readTables(server)).toEqual(before)
    await c.end()
  })

  it("a projection that no longer matches the log is emptied and rebuilt", async (ctx) => {
    const bed = maria.get(ctx)
    const server = await freshServer(bed, "bd_diverged")
    const t = await Effect.runPromise(openTown(path.join(maria.root(), "diverged"), "diverged", server))
    for (let i = 0; i < 4; i++) await run(t, Effect.flatMap(Issues, (issues) => issues.create({ title: `issue ${i}` })))
    const c = await connect(server)
    await c.query("UPDATE bd_checkpoint SET last_hash = ? WHERE id = 1", ["f".repeat(64)])
    await c.query("INSERT INTO bd_issues (id, title, fields) VALUES ('stale-1', 'from another history', '{}')")
    await c.end()
    const report = await Effect.runPromise(catchUp(t))
    expect(report.reset).toBe(true)
    expect(report.events).toBe(4)
    await expectProjectionEqualsState(t, server)
  })

  it("refuses the database of another town, and writes nothing to it", async (ctx) => {
    const bed = maria.get(ctx)
    const server = await freshServer(bed, "bd_other")
    const root = path.join(maria.root(), "other")
    const first = await Effect.runPromise(openTown(root, "first", server))
    const second = await Effect.runPromise(openTown(root, "second", server))
    await run(first, Effect.flatMap(Issues, (issues) => issues.create({ title: "first's" })))
    const before = await readTables(server)
    // The command itself succeeds: the projection's failure is a notice.
    await run(second, Effect.flatMap(Issues, (issues) => issues.create({ title: "second's" })))
    const error = await Effect.runPromise(Effect.flip(catchUp(second)))
    expect(error._tag).toBe("DoltProjectionMismatch")
    expect(error.message).toContain(first.townId)
    expect(await readTables(server)).toEqual(before)
  })

  it("creates its schema once, records the version, and migrating again changes nothing", async (ctx) => {
    const bed = maria.get(ctx)
    const server = await freshServer(bed, "bd_schema")
    const t = await Effect.runPromise(openTown(path.join(maria.root(), "schema"), "schema", server))
    const projection = await Effect.runPromise(projectionOf(t))
    const status = await Effect.runPromise(projection.inspect)
    expect(status).toEqual({ server: { dolt: false, version: expect.stringMatching(/MariaDB/) }, schemaVersion: 0, checkpoint: undefined })
    await run(t, Effect.flatMap(Issues, (issues) => issues.create({ title: "one" })))
    const twice = Effect.gen(function*() {
      const a = yield* ensureSchema(projection.target.url)
      const b = yield* ensureSchema(projection.target.url)
      return [a, b, yield* appliedVersion]
    }).pipe(Effect.provide(DoltSqlLive(projection.target)))
    expect(await Effect.runPromise(twice)).toEqual([SCHEMA_VERSION, SCHEMA_VERSION, SCHEMA_VERSION])
    const c = await connect(server)
    const [versions] = await c.query("SELECT version FROM bd_schema_version")
    const [tables] = await c.query("SHOW TABLES")
    await c.end()
    expect(versions).toEqual([{ version: 1 }])
    expect((tables as Array<Record<string, string>>).map((row) => Object.values(row)[0]).sort()).toEqual([
      "bd_checkpoint",
      "bd_conflicts",
      "bd_events",
      "bd_issues",
      "bd_peers",
      "bd_schema_version",
      "bd_sync_runs"
    ])
    await expectProjectionEqualsState(t, server)
  })

  it("catching up into an empty database takes every event, in batches", async (ctx) => {
    const bed = maria.get(ctx)
    const root = path.join(maria.root(), "late")
    const t = await Effect.runPromise(openTown(root, "late", undefined))
    await run(t, Effect.flatMap(Issues, (issues) => issues.importRecords(
      Array.from({ length: 2_500 }, (_, n) => ({ id: `bd-late${n}`, title: `imported ${n}`, status: "open", priority: n % 5 })),
      false
    )))
    const server = await freshServer(bed, "bd_late")
    const wired = withEnv(t, { BD_DOLT_URL: server.url, BD_DOLT_PASSWORD: server.password })
    const report = await Effect.runPromise(catchUp(wired))
    expect(report.events).toBeGreaterThanOrEqual(2_500)
    expect(report.batches).toBe(Math.ceil(report.events / 1_000))
    expect(report.rows.issues).toBe(2_500)
    await expectProjectionEqualsState(wired, server)
    // The next command takes the quick path: one batch of what it appended.
    await run(wired, Effect.flatMap(Issues, (issues) => issues.create({ title: "after" })))
    await expectProjectionEqualsState(wired, server)
  })

  it("two catch-ups at once never interleave: the later one stops, and nothing is duplicated", { timeout: 120_000 }, async (ctx) => {
    const bed = maria.get(ctx)
    const t = await Effect.runPromise(openTown(path.join(maria.root(), "race"), "race", undefined))
    await run(t, Effect.flatMap(Issues, (issues) => issues.importRecords(
      Array.from({ length: 3_000 }, (_, n) => ({ id: `bd-race${n}`, title: `imported ${n}` })),
      false
    )))
    const server = await freshServer(bed, "bd_race")
    const wired = withEnv(t, { BD_DOLT_URL: server.url, BD_DOLT_PASSWORD: server.password })
    const outcomes = await Promise.all([0, 1].map(() => Effect.runPromise(Effect.either(catchUp(wired, { batchSize: 200 })))))
    const tags = outcomes.map((o) => (Either.isRight(o) ? "done" : o.left._tag)).sort()
    expect(tags).toEqual(["DoltProjectionBusy", "done"])
    const again = await Effect.runPromise(catchUp(wired))
    expect(again.events).toBe(0)
    await expectProjectionEqualsState(wired, server)
  })
})
