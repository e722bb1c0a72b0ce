/**
 * Towns converging over file:// endpoints: a shared rendezvous, a chain of
 * endpoints with a relaying town in the middle, and concurrent edits of
 * different fields of one issue.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { ensureBuilt, git, parseJsonl, quietSync, show, townRefs, World } from "./support.js"

let world: World

beforeAll(async () => {
  await ensureBuilt()
  world = new World("rendezvous")
}, 300_000)

afterAll(() => world?.cleanup())

describe.concurrent("file:// endpoints", () => {
  it("three towns share one file:// endpoint (created on first push), converge byte-identically, and a re-sync is a no-op", async () => {
    const hub = world.fileEndpoint("rendezvous/hub.git")
    const peers = [{ name: "hub", endpoint: hub.url }]
    const [a, b, c] = await world.makeTowns([
      { name: "alpha", prefix: "al", peers },
      { name: "beta", prefix: "be", peers },
      { name: "gamma", prefix: "ga", peers }
    ])
    const towns = [a, b, c]

    // Each town: three items, one retitled, one closed (5 shared events each).
    const made = await Promise.all(towns.map(async (town) => {
      const ids = [
        await town.create(`${town.name} one`),
        await town.create(`${town.name} two`, ["--priority", "1"]),
        await town.create(`${town.name} three`, ["--labels", "x,y"])
      ]
      await town.ok(["update", ids[1]!, "--title", `${town.name} two, retitled`])
      await town.ok(["close", ids[2]!, "--reason", "done"])
      return ids
    }))

    expect(fs.existsSync(hub.path)).toBe(false)
    const pushed = await a.json(["federation", "push"])
    expect(pushed.peers[0], JSON.stringify(pushed)).toMatchObject({ ok: true, peer: "hub", published: 5, updated: [a.townId] })
    expect(fs.existsSync(path.join(hub.path, "HEAD")), "the first push creates a bare repository").toBe(true)
    expect(git(hub.path, ["rev-parse", "--is-bare-repository"])).toBe("true")

    const rounds = await world.syncUntilQuiet(towns)
    // beta and gamma publish in round 1, alpha gets them in round 2, round 3 is quiet.
    expect(rounds.length).toBeLessThanOrEqual(3)

    const text = await world.expectSameExports(towns)
    const issues = parseJsonl(text)
    expect(issues.map((i) => i["id"])).toEqual(made.flat().sort())
    for (const [n, town] of towns.entries()) {
      const [one, two, three] = made[n]!.map((id) => issues.find((i) => i["id"] === id)!)
      expect(one!["title"]).toBe(`${town.name} one`)
      expect(two!["title"]).toBe(`${town.name} two, retitled`)
      expect(two!["priority"]).toBe(1)
      expect(three!["status"]).toBe("closed")
      for (const issue of [one, two, three]) expect(issue!["source_system"]).toBe(town.townId)
    }
    const shared = await world.expectSameSharedEvents(towns)
    expect(shared).toHaveLength(15)

    // One branch per town at the endpoint, nothing else.
    expect([...townRefs(hub.path).keys()].sort()).toEqual(towns.map((t) => t.townId).sort())

    // Once more: nothing moves, nothing new is held.
    for (const town of towns) {
      const r = await town.sync()
      expect(r.code, show(r)).toBe(0)
      expect(quietSync(JSON.parse(r.stdout.split("\n")[0]!)), show(r)).toBe(true)
    }
    expect(await world.expectSameSharedEvents(towns)).toEqual(shared)
    expect(await world.expectSameExports(towns)).toBe(text)
    const listed = await b.list()
    expect(listed.map((i) => i["id"]).sort()).toEqual(made.flat().sort())
    expect(await c.conflicts()).toEqual([])
  })

  it("the first `bd federation sync` of a town creates a file:// endpoint that does not exist yet", async () => {
    // DESIGN: the endpoint is a bare repository "created on first push for file://"; sync is pull then push.
    const hub = world.fileEndpoint("first-sync/hub.git")
    const town = await world.town("first", { prefix: "fs", peers: [{ name: "hub", endpoint: hub.url }] })
    await town.create("made before the endpoint exists")
    const r = await town.sync()
    expect(r.code, show(r)).toBe(0)
    expect(fs.existsSync(path.join(hub.path, "HEAD"))).toBe(true)
    expect(townRefs(hub.path).has(town.townId)).toBe(true)
  })

  it("chain A-E1-B-E2-C: A and C share no endpoint and converge through B's relaying", async () => {
    const e1 = world.fileEndpoint("chain/e1.git")
    const e2 = world.fileEndpoint("chain/e2.git")
    const [a, b, c] = await world.makeTowns([
      { name: "chainA", prefix: "ca", peers: [{ name: "e1", endpoint: e1.url }] },
      { name: "chainB", prefix: "cb", peers: [{ name: "e1", endpoint: e1.url }, { name: "e2", endpoint: e2.url }] },
      { name: "chainC", prefix: "cc", peers: [{ name: "e2", endpoint: e2.url }] }
    ])
    const [a1, b1, c1] = await Promise.all([a.create("made in A"), b.create("made in B"), c.create("made in C")])

    // The ends publish first (creating the endpoints), then everyone syncs until nothing moves.
    await Promise.all([a.ok(["federation", "push"]), c.ok(["federation", "push"])])
    await world.syncUntilQuiet([a, b, c], { maxRounds: 6 })

    const text = await world.expectSameExports([a, b, c])
    expect(parseJsonl(text).map((i) => i["id"])).toEqual([a1, b1, c1].sort())
    expect((await a.show(c1))["title"]).toBe("made in C")
    expect((await c.show(a1))["title"]).toBe("made in A")

    // B relays the very objects it fetched: both endpoints hold the same commit for every town.
    const refs1 = townRefs(e1.path)
    const refs2 = townRefs(e2.path)
    expect([...refs1.keys()].sort()).toEqual([a.townId, b.townId, c.townId].sort())
    expect(Object.fromEntries(refs2)).toEqual(Object.fromEntries(refs1))

    // Edits travel both ways through B too: C retitles A's item, A closes C's item.
    await Promise.all([
      c.ok(["update", a1, "--title", "made in A, retitled in C"]),
      a.ok(["close", c1, "--reason", "closed in A"])
    ])
    await world.syncUntilQuiet([a, b, c], { maxRounds: 7 })
    const after = parseJsonl(await world.expectSameExports([a, b, c]))
    expect(after.find((i) => i["id"] === a1)!["title"]).toBe("made in A, retitled in C")
    expect(after.find((i) => i["id"] === c1)!["status"]).toBe("closed")
    await world.expectSameSharedEvents([a, b, c])
    for (const town of [a, b, c]) expect(await town.conflicts()).toEqual([])
  })

  it("different fields of one issue changed in two towns: no conflict, both changes kept", async () => {
    const hub = world.fileEndpoint("fields/hub.git")
    const peers = [{ name: "hub", endpoint: hub.url }]
    const [a, b] = await world.makeTowns([
      { name: "fieldsA", prefix: "fa", peers },
      { name: "fieldsB", prefix: "fb", peers }
    ])
    const id = await a.create("shared item", ["--description", "original description", "--priority", "2"])
    await a.ok(["federation", "push"])
    await world.syncUntilQuiet([a, b])

    // Offline: A retitles; B changes priority and description and adds a label.
    await Promise.all([
      a.ok(["update", id, "--title", "retitled in A"]),
      b.ok(["update", id, "--priority", "0", "--description", "described in B", "--add-label", "from-b"])
    ])
    const rounds = await world.syncUntilQuiet([a, b])
    for (const round of rounds) for (const r of round) expect(r.doc.conflicts, show(r.result)).toBe(0)

    const issue = parseJsonl(await world.expectSameExports([a, b]))[0]!
    expect(issue).toMatchObject({ id, title: "retitled in A", priority: 0, description: "described in B", labels: ["from-b"] })
    expect(await a.conflicts()).toEqual([])
    expect(await b.conflicts()).toEqual([])
    expect((await b.show(id))["conflicts"]).toBeUndefined()
  })
})
