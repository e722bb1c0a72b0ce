/**
 * The trust store end to end: trust on first use, a key change refused until
 * a person accepts it, a revoked key refused, a key pinned with
 * `add-peer --trust-key`, and invalid keys refused.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { EXIT, ensureBuilt, show, type Town, World } from "../federation/support.js"
import { dropTownKeys, publicKeyOf } from "./support.js"

let world: World

beforeAll(async () => {
  await ensureBuilt()
  world = new World("trust-store")
}, 120_000)

afterAll(() => world?.cleanup())

const trustOf = async (town: Town, of: Town) => {
  const list = await town.json(["federation", "trust", "list"])
  return (list.towns as Array<Record<string, any>>).find((t) => t["town"] === of.townId)
}

const titles = async (town: Town) => (await town.list()).map((i) => i["title"] as string).sort()

describe.sequential("trust on first use, key change, revocation", () => {
  let a: Town
  let b: Town
  let hub: { path: string; url: string }
  let firstKey: string
  let secondKey: string

  beforeAll(async () => {
    hub = world.fileEndpoint("hub.git")
    ;[a, b] = await world.makeTowns([
      { name: "tofuA", prefix: "ta", peers: [{ name: "hub", endpoint: hub.url }] },
      { name: "tofuB", prefix: "tb", peers: [{ name: "hub", endpoint: hub.url }] }
    ])
    firstKey = publicKeyOf(a)
  }, 120_000)

  it("no key is recorded before the first pull", async () => {
    const r = await b.ok(["federation", "trust", "list"])
    expect(r.stdout).toMatch(/No town keys recorded yet/)
    expect(await b.json(["federation", "trust", "list"])).toEqual({ towns: [], pinned: [] })
  })

  it("the first pull records A's key (first use) and says so", async () => {
    expect(firstKey).toMatch(/^MCowBQYDK2VwAyEA/)
    await a.create("one")
    await a.ok(["federation", "push"])
    const r = await b.ok(["federation", "pull"])
    expect(r.stdout).toContain(`hub: trusting town ${a.townId} with key …${firstKey.slice(-16)} (first use)`)
    expect(await trustOf(b, a)).toMatchObject({ town: a.townId, key: firstKey, how: "first-use", revoked: [] })
    const text = await b.ok(["federation", "trust", "list"])
    expect(text.stdout).toMatch(new RegExp(`^${a.townId}\\s+${firstKey.replace(/[+/]/g, "\\$&")}\\s+first-use\\s`, "m"))
    // A second pull records nothing more.
    const again = await b.json(["federation", "pull"])
    expect(again.peers[0].trusted).toEqual([])
  })

  it("A's key changes: refused (exit 10, naming peer and town) with nothing ingested", async () => {
    dropTownKeys(a)
    await a.create("two, under a new key")
    await a.ok(["federation", "push"])
    secondKey = publicKeyOf(a)
    expect(secondKey).toMatch(/^MCowBQYDK2VwAyEA/)
    expect(secondKey).not.toBe(firstKey)
    const before = await b.sharedIds()
    const r = await b.run(["federation", "pull"])
    expect(r.code, show(r)).toBe(EXIT.integrity)
    expect(r.stdout, show(r)).toContain(`refused a batch of town ${a.townId} from peer hub`)
    expect(r.stdout, show(r)).toContain(`bd federation trust add ${a.townId} ${secondKey}`)
    expect(await titles(b)).toEqual(["one"])
    expect(await b.sharedIds()).toEqual(before)
    expect(await trustOf(b, a)).toMatchObject({ key: firstKey, how: "first-use" })
  })

  it("`trust add TOWN NEWKEY` accepts the new key: the next pull ingests", async () => {
    await b.ok(["federation", "trust", "add", a.townId, secondKey])
    expect(await trustOf(b, a)).toMatchObject({ key: secondKey, how: "accepted" })
    const pulled = await b.json(["federation", "pull"])
    expect(pulled.peers[0]).toMatchObject({ ok: true, events: 1, trusted: [] })
    expect(await titles(b)).toEqual(["one", "two, under a new key"])
  })

  // The batches B ingested under A's first key were genuine, and that key was
  // never revoked: accepting a new key must not make them fail verification.
  it("`bd federation verify` still passes after an accepted key change", async () => {
    const r = await b.run(["federation", "verify"])
    expect(r.code, show(r)).toBe(0)
    expect(r.stdout).toMatch(/^signatures: 2 event\(s\) of 1 other town\(s\) match 2 signed batch\(es\)/m)
  })

  it("`trust revoke TOWN` refuses the next batches, nothing of them ingested", async () => {
    const revoked = await b.json(["federation", "trust", "revoke", a.townId])
    expect(revoked).toMatchObject({ town: a.townId, key: secondKey, status: "revoked" })
    expect(await trustOf(b, a)).toMatchObject({ key: null, how: null, revoked: [secondKey] })
    await a.create("three, after the revocation")
    await a.ok(["federation", "push"])
    const before = await b.sharedIds()
    const r = await b.run(["federation", "pull"])
    expect(r.code, show(r)).toBe(EXIT.integrity)
    expect(r.stdout, show(r)).toContain(`refused a batch of town ${a.townId} from peer hub: the key of town ${a.townId} was revoked`)
    expect(await titles(b)).toEqual(["one", "two, under a new key"])
    expect(await b.sharedIds()).toEqual(before)
    // Still refused on the next try.
    expect((await b.run(["federation", "pull"])).code).toBe(EXIT.integrity)
  })

  it("revoking a town with no trusted key, or adding an invalid key: exit 4", async () => {
    const none = await b.run(["federation", "trust", "revoke", "0123456789abcdef"])
    expect(none.code, show(none)).toBe(4)
    const bad = await b.run(["federation", "trust", "add", a.townId, "not-a-key"])
    expect(bad.code, show(bad)).toBe(4)
    expect(await trustOf(b, a)).toMatchObject({ key: null, revoked: [secondKey] })
  })
})

describe("a revoked town that changes its key", () => {
  // After `trust revoke`, the town has no trusted key. A batch signed with yet
  // another key is a key change like any other: it must wait for a person
  // (`trust add`), not be recorded silently as a "first use".
  it("is refused until `trust add`, not trusted on first use again", async () => {
    const hub = world.fileEndpoint("revoked.git")
    const [a, b] = await world.makeTowns([
      { name: "revA", prefix: "ra", peers: [{ name: "hub", endpoint: hub.url }] },
      { name: "revB", prefix: "rb", peers: [{ name: "hub", endpoint: hub.url }] }
    ])
    await a.create("before")
    await a.ok(["federation", "push"])
    await b.ok(["federation", "pull"])
    await b.ok(["federation", "trust", "revoke", a.townId])
    dropTownKeys(a)
    await a.create("under a new key, after the revocation")
    await a.ok(["federation", "push"])
    const r = await b.run(["federation", "pull"])
    expect(r.code, show(r)).toBe(EXIT.integrity)
    expect(await titles(b)).toEqual(["before"])
    await b.ok(["federation", "trust", "add", a.townId, publicKeyOf(a)])
    await b.ok(["federation", "pull"])
    expect(await titles(b)).toEqual(["before", "under a new key, after the revocation"])
  })
})

describe("keys pinned with add-peer --trust-key", () => {
  it("a pinned key is listed, and the first pull records it as pinned", async () => {
    const hub = world.fileEndpoint("pinned.git")
    const [a, d] = await world.makeTowns([
      { name: "pinA", prefix: "pa", peers: [{ name: "hub", endpoint: hub.url }] },
      { name: "pinD", prefix: "pd" }
    ])
    const key = publicKeyOf(a)
    await a.create("from a pinned town")
    await a.ok(["federation", "push"])
    const added = await d.json(["federation", "add-peer", "hub", hub.url, "--trust-key", key])
    expect(added).toMatchObject({ name: "hub", status: "added" })
    const listed = await d.json(["federation", "trust", "list"])
    expect(listed.towns).toEqual([])
    expect(listed.pinned).toEqual([expect.objectContaining({ key, peer: "hub" })])
    expect((await d.ok(["federation", "trust", "list"])).stdout).toContain(`pinned for peer hub: ${key}`)
    const r = await d.ok(["federation", "pull"])
    expect(r.stdout).toContain(`hub: trusting town ${a.townId} with key …${key.slice(-16)} (pinned)`)
    expect(await trustOf(d, a)).toMatchObject({ town: a.townId, key, how: "pinned" })
    expect(await titles(d)).toEqual(["from a pinned town"])
  })

  it("an invalid key string is refused with exit 4 and no peer is added", async () => {
    const d = await world.town("pinBad", { prefix: "pb" })
    const ep = world.fileEndpoint("never.git")
    const valid = publicKeyOf(d)
    for (const bad of [
      "not-a-key",
      valid.slice(0, -4),
      // Base64 of the right length, not an Ed25519 SPKI key.
      Buffer.alloc(44, 7).toString("base64"),
      `${valid}AAAA`
    ]) {
      const r = await d.run(["federation", "add-peer", "hub", ep.url, "--trust-key", bad])
      expect(r.code, show(r)).toBe(4)
      expect(await d.json(["federation", "list-peers"])).toEqual([])
      expect(await d.json(["federation", "trust", "list"])).toEqual({ towns: [], pinned: [] })
    }
  })
})
