/**
 * Two versions of one town's events: town A publishes T1 to an endpoint it
 * shares with B, and T3 to one it shares with C, who relays A's T3 branch
 * to an endpoint B also reads. The fixed rule: a town holds the most
 * complete version it has received (T1, then T2, T3, T4), switching to it
 * once it reaches as far as the one held. So B, taking T3 first and T1
 * after, ends exactly where B2 ends, taking T1 first and T3 after.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { ensureBuilt, show, type Town, townRefs, World } from "../federation/support.js"
import { pseudonymOf } from "./support.js"

let world: World
let a: Town
let b: Town
let b2: Town
let c: Town
const ep: Record<string, { path: string; url: string }> = {}
let first: string

beforeAll(async () => {
  await ensureBuilt()
  world = new World("trust-versions")
  for (const name of ["direct", "masked", "relay"]) ep[name] = world.fileEndpoint(`${name}.git`)
  ;[a, b, b2, c] = await world.makeTowns([
    { name: "origin", prefix: "or" },
    { name: "bee", prefix: "be" },
    { name: "beetwo", prefix: "bt" },
    { name: "sea", prefix: "se" }
  ])
  await a.ok(["federation", "add-peer", "direct", ep["direct"]!.url, "--sovereignty", "T1"])
  await a.ok(["federation", "add-peer", "masked", ep["masked"]!.url, "--sovereignty", "T3"])
  await c.ok(["federation", "add-peer", "masked", ep["masked"]!.url])
  await c.ok(["federation", "add-peer", "relay", ep["relay"]!.url])
  for (const town of [b, b2]) {
    await town.ok(["federation", "add-peer", "direct", ep["direct"]!.url])
    await town.ok(["federation", "add-peer", "relay", ep["relay"]!.url])
  }
  first = await a.create("first plan", ["--assignee", "alice", "-d", "written by alice"])
  await a.ok(["--actor", "bob", "update", first, "--owner", "bob", "--status", "in_progress"])
  await a.ok(["federation", "push"])
  // C takes A's T3 branch and relays it.
  await c.ok(["federation", "pull", "masked"])
  await c.ok(["federation", "push", "relay"])
}, 120_000)

afterAll(() => world?.cleanup())

describe("a town that receives two versions of one town's events", () => {
  it("the relay endpoint holds A's T3 version, with pseudonyms only", async () => {
    const relayed = await b.json(["federation", "pull", "relay"])
    expect(relayed.peers[0]).toMatchObject({ ok: true, events: 2 })
    const held = await b.show(first)
    expect(held["assignee"]).toBe(pseudonymOf(a, "alice"))
    expect(held["owner"]).toBe(pseudonymOf(a, "bob"))
  })

  it("T3 first, then T1: B takes the T1 version in place of the T3 one", async () => {
    // B edits A's issue while it holds the T3 version: that later value must survive the switch.
    await b.ok(["update", first, "--title", "first plan, as B sees it"])
    const direct = await b.json(["federation", "pull", "direct"])
    expect(direct.peers[0], JSON.stringify(direct)).toMatchObject({
      ok: true,
      events: 0,
      upgraded: [{ town: a.townId, from: "T3", tier: "T1", events: 2 }]
    })
    const held = await b.show(first)
    expect(held).toMatchObject({ assignee: "alice", owner: "bob", status: "in_progress", title: "first plan, as B sees it" })
    // B now holds (and would relay) A's T1 branch, the very commits A published.
    expect(townRefs(`${b.beadsDir}/federation/remote.git`).get(a.townId)).toBe(townRefs(ep["direct"]!.path).get(a.townId))
    // Every event B holds of A checks out against the signed batches it holds now.
    const verified = await b.run(["federation", "verify"])
    expect(verified.code, show(verified)).toBe(0)
    // Pulling again changes nothing.
    const again = await b.json(["federation", "pull"])
    for (const peer of again.peers) expect(peer).toMatchObject({ ok: true, events: 0, upgraded: [] })
  })

  it("T1 first, then T3: B2 keeps its T1 version and says why", async () => {
    await b2.ok(["federation", "pull", "direct"])
    const relayed = await b2.run(["federation", "pull", "relay"])
    expect(relayed.code, show(relayed)).toBe(0)
    expect(relayed.stdout).toContain(`has town ${a.townId} at tier T3; this town keeps the tier T1 version it holds, which is more complete`)
    expect(await b2.show(first)).toMatchObject({ assignee: "alice", owner: "bob" })
  })

  it("the two orders converge: same work items, same events of A", async () => {
    // Undo B's own edit's difference by giving B2 the same edit history: compare A's fields only.
    const strip = (issue: Record<string, unknown>) => {
      const { title: _t, updated_at: _u, ...rest } = issue
      return rest
    }
    expect(strip(await b.show(first))).toEqual(strip(await b2.show(first)))
    const ofA = async (town: Town) => (await town.sharedIds()).filter((id) => id.startsWith(`${a.townId}:`))
    expect(await ofA(b)).toEqual(await ofA(b2))
  })

  it("a longer but less complete version waits: B keeps T1 until A's T1 branch reaches as far", async () => {
    const second = await a.create("second plan", ["--assignee", "carol"])
    await a.ok(["federation", "push", "masked"])
    await c.ok(["federation", "pull", "masked"])
    await c.ok(["federation", "push", "relay"])
    const relayed = await b.run(["federation", "pull", "relay"])
    expect(relayed.code, show(relayed)).toBe(0)
    expect(relayed.stdout).toContain("keeps the tier T1 version it holds, which is more complete")
    expect((await b.list()).map((issue) => issue["id"])).not.toContain(second)
    await a.ok(["federation", "push", "direct"])
    await b.ok(["federation", "pull", "direct"])
    expect(await b.show(second)).toMatchObject({ assignee: "carol" })
  })

  it("a shorter more complete version waits too: B3 keeps T3 until A's T1 branch is as long", async () => {
    // B3 reads only the relay first (T3, three events), then a stale copy of the direct endpoint.
    const stale = world.fileEndpoint("stale.git")
    const b3 = await world.town("beethree", { prefix: "bh" })
    await b3.ok(["federation", "add-peer", "relay", ep["relay"]!.url])
    await b3.ok(["federation", "pull", "relay"])
    // A stale endpoint: A's T1 branch as it was after the first push (two events).
    await a.ok(["federation", "add-peer", "stale", stale.url, "--sovereignty", "T1"])
    const r = await b3.run(["federation", "add-peer", "stale", stale.url])
    expect(r.code, show(r)).toBe(0)
    const stalePush = await a.run(["federation", "push", "stale"])
    expect(stalePush.code, show(stalePush)).toBe(0)
    const branch = townRefs(stale.path).get(a.townId)!
    expect(branch).toBeDefined()
    // Cut the stale endpoint back to A's first T1 batch.
    const { git } = await import("../federation/support.js")
    const firstBatch = git(stale.path, ["rev-list", "--reverse", branch]).split("\n")[0]!
    git(stale.path, ["update-ref", `refs/beads/towns/${a.townId}`, firstBatch])
    const pulled = await b3.run(["federation", "pull", "stale"])
    expect(pulled.code, show(pulled)).toBe(0)
    expect(pulled.stdout).toContain("keeps the tier T3 version it holds, until it reaches event")
    expect((await b3.show(first))["assignee"]).toBe(pseudonymOf(a, "alice"))
  })
})
