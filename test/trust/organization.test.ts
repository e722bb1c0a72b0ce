/**
 * Tier T2: data stays inside the organization. A push to a T2 peer of
 * another organization (or of none, or from a town with none) fails with
 * SovereigntyViolation (exit 14) and publishes nothing there; a town that
 * holds another town's T2 branch relays it only to peers of that town's
 * organization.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { ensureBuilt, show, type Town, townRefs, World } from "../federation/support.js"
import { allObjects, beadsRefs, branchBatches } from "./support.js"

const EXIT_SOVEREIGNTY = 14

let world: World
let a: Town
let b: Town
const ep: Record<string, { path: string; url: string }> = {}

beforeAll(async () => {
  await ensureBuilt()
  world = new World("trust-org")
  for (const name of ["acmeHub", "globex", "noOrg", "relayToGlobex", "relayToAcme", "fromNoOrgTown", "defaultTier"]) {
    ep[name] = world.fileEndpoint(`${name}.git`)
  }
  ;[a, b] = await world.makeTowns([{ name: "orgA", prefix: "oa" }, { name: "orgB", prefix: "ob" }])
  for (const town of [a, b]) await town.ok(["config", "set", "federation.organization", "acme"])
  await a.ok(["federation", "add-peer", "hub", ep["acmeHub"]!.url, "--sovereignty", "T2", "--organization", "acme"])
  await a.ok(["federation", "add-peer", "globex", ep["globex"]!.url, "--sovereignty", "T2", "--organization", "globex"])
  await a.ok(["federation", "add-peer", "noorg", ep["noOrg"]!.url, "--sovereignty", "T2"])
  await a.create("acme internal plan", ["--assignee", "alice-acme"])
}, 120_000)

afterAll(() => world?.cleanup())

const expectViolation = async (town: Town, peer: string, endpoint: string) => {
  const r = await town.run(["federation", "push", peer])
  expect(r.code, show(r)).toBe(EXIT_SOVEREIGNTY)
  expect(r.stdout + r.stderr, show(r)).toContain(`sovereignty: nothing was published to peer ${peer}`)
  const json = await town.json(["federation", "push", peer], EXIT_SOVEREIGNTY)
  expect(json.error).toMatchObject({ code: "SovereigntyViolation" })
  expect(beadsRefs(endpoint), `refs at ${endpoint}`).toEqual([])
}

describe("T2 pushes", () => {
  it("to a peer of another organization: exit 14, nothing at its endpoint", async () => {
    await expectViolation(a, "globex", ep["globex"]!.path)
  })

  it("to a peer whose organization is not known: exit 14, nothing at its endpoint", async () => {
    await expectViolation(a, "noorg", ep["noOrg"]!.path)
  })

  it("from a town without federation.organization: exit 14, nothing at the endpoint", async () => {
    const z = await world.town("orgless", { prefix: "oz" })
    await z.ok(["federation", "add-peer", "hub", ep["fromNoOrgTown"]!.url, "--sovereignty", "T2", "--organization", "acme"])
    await z.create("no organization here")
    const r = await z.run(["federation", "push"])
    expect(r.code, show(r)).toBe(EXIT_SOVEREIGNTY)
    expect(r.stdout, show(r)).toMatch(/federation\.organization/)
    expect(beadsRefs(ep["fromNoOrgTown"]!.path)).toEqual([])
    // federation.sovereignty T2 is the tier of peers without one of their own.
    await z.ok(["config", "set", "federation.sovereignty", "T2"])
    await z.ok(["federation", "add-peer", "plain", ep["defaultTier"]!.url])
    const plain = await z.run(["federation", "push", "plain"])
    expect(plain.code, show(plain)).toBe(EXIT_SOVEREIGNTY)
    expect(beadsRefs(ep["defaultTier"]!.path)).toEqual([])
    // A sync fails the same way, and publishes nothing either.
    const synced = await z.run(["federation", "sync", "plain"])
    expect(synced.code, show(synced)).toBe(EXIT_SOVEREIGNTY)
    expect(beadsRefs(ep["defaultTier"]!.path)).toEqual([])
  })

  it("to a peer of the same organization: published, the batch says T2 and the organization", async () => {
    const pushed = await a.json(["federation", "push", "hub"])
    expect(pushed.peers[0]).toMatchObject({ ok: true, published: 1 })
    expect([...townRefs(ep["acmeHub"]!.path).keys()]).toEqual([a.townId])
    expect(branchBatches(ep["acmeHub"]!.path, a.townId).map((batch) => batch.meta)).toEqual([
      expect.objectContaining({ tier: "T2", organization: "acme" })
    ])
    // The refused peers still have nothing.
    expect(beadsRefs(ep["globex"]!.path)).toEqual([])
    expect(beadsRefs(ep["noOrg"]!.path)).toEqual([])
  })
})

describe("relaying T2 branches", () => {
  beforeAll(async () => {
    await b.ok(["federation", "add-peer", "hub", ep["acmeHub"]!.url, "--sovereignty", "T2", "--organization", "acme"])
    // B's own data is T1 to these two; only the relayed branch of A is at stake.
    await b.ok(["federation", "add-peer", "toGlobex", ep["relayToGlobex"]!.url, "--organization", "globex"])
    await b.ok(["federation", "add-peer", "toAcme", ep["relayToAcme"]!.url, "--organization", "acme"])
    await b.ok(["federation", "pull", "hub"])
    expect((await b.list()).map((i) => i["title"])).toEqual(["acme internal plan"])
    await b.create("B's own public item")
  }, 60_000)

  it("B does not relay A's T2 branch to a peer of another organization", async () => {
    const pushed = await b.json(["federation", "push", "toGlobex"])
    expect(pushed.peers[0]).toMatchObject({ ok: true })
    expect([...townRefs(ep["relayToGlobex"]!.path).keys()]).toEqual([b.townId])
    const raw = allObjects(ep["relayToGlobex"]!.path)
    expect(raw.includes("acme internal plan"), "A's item reached the other organization").toBe(false)
    expect(raw.includes("alice-acme"), "A's assignee reached the other organization").toBe(false)
  })

  it("B relays A's T2 branch to a peer of A's organization", async () => {
    const pushed = await b.json(["federation", "push", "toAcme"])
    expect(pushed.peers[0]).toMatchObject({ ok: true })
    expect([...townRefs(ep["relayToAcme"]!.path).keys()].sort()).toEqual([a.townId, b.townId].sort())
    expect(townRefs(ep["relayToAcme"]!.path).get(a.townId)).toBe(townRefs(ep["acmeHub"]!.path).get(a.townId))
  })

  it("a sync with the other organization's peer still does not relay it", async () => {
    const synced = await b.run(["federation", "sync", "toGlobex"])
    expect(synced.code, show(synced)).toBe(0)
    expect([...townRefs(ep["relayToGlobex"]!.path).keys()]).toEqual([b.townId])
  })
})

describe("an organization learned from the towns at the endpoint", () => {
  let learner: Town
  let endpoint: { path: string; url: string }

  beforeAll(async () => {
    endpoint = world.fileEndpoint("learned.git")
    learner = await world.town("learner", { prefix: "ln" })
    await learner.ok(["config", "set", "federation.organization", "acme"])
    await learner.ok(["federation", "add-peer", "shared", endpoint.url, "--sovereignty", "T2"])
    await learner.create("acme roadmap")
  }, 60_000)

  it("before anything is known of the endpoint, a T2 push is refused and says how to learn it", async () => {
    const r = await learner.run(["federation", "push", "shared"])
    expect(r.code, show(r)).toBe(EXIT_SOVEREIGNTY)
    expect(r.stdout, show(r)).toContain("pull from the peer to learn it")
    expect(beadsRefs(endpoint.path)).toEqual([])
  })

  it("once every town publishing there declares acme, the peer is of acme and the T2 push goes through", async () => {
    const m = await world.town("member", { prefix: "mb" })
    await m.ok(["config", "set", "federation.organization", "acme"])
    await m.ok(["federation", "add-peer", "shared", endpoint.url])
    await m.create("member item")
    await m.ok(["federation", "push", "shared"])
    const synced = await learner.run(["federation", "sync", "shared"])
    expect(synced.code, show(synced)).toBe(0)
    const peers = await learner.json(["federation", "list-peers"])
    expect(peers).toEqual([expect.objectContaining({ name: "shared", learnedOrganization: "acme" })])
    expect(peers[0].organization).toBeUndefined()
    expect(branchBatches(endpoint.path, learner.townId).map((batch) => batch.meta)).toEqual([
      expect.objectContaining({ tier: "T2", organization: "acme" })
    ])
  })

  it("when a town of another organization publishes there too, the organization is no longer known: refused again", async () => {
    const g = await world.town("outsider", { prefix: "ou" })
    await g.ok(["config", "set", "federation.organization", "globex"])
    await g.ok(["federation", "add-peer", "shared", endpoint.url])
    await g.create("globex item")
    await g.ok(["federation", "push", "shared"])
    await learner.create("acme secret")
    const synced = await learner.run(["federation", "sync", "shared"])
    expect(synced.code, show(synced)).toBe(EXIT_SOVEREIGNTY)
    const peers = await learner.json(["federation", "list-peers"])
    expect(peers[0].learnedOrganization).toBeUndefined()
    expect(allObjects(endpoint.path).includes("acme secret"), "T2 data reached an endpoint another organization reads").toBe(false)
  })
})
