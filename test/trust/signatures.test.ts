/**
 * Signed batches, end to end over a real git endpoint: a forged batch (signed
 * with another town's key, an event tampered with, a false source_system) is
 * refused whole with nothing of it ingested; `bd federation verify` checks
 * what was ingested against the signed batches held in the shadow repository.
 */
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { EXIT, ensureBuilt, forgeBatch, git, show, type Town, townRefs, World } from "../federation/support.js"
import { eventsOf, privateKeyOf, publicKeyOf, readBatch, resigned, rewriteBatch, signatureFile } from "./support.js"

let world: World
let a: Town
let b: Town
let c: Town
let hub: { path: string; url: string }
/** The genuine batches of A at the hub. */
let batch1: string
let batch2: string
let first: string
let second: string

beforeAll(async () => {
  await ensureBuilt()
  world = new World("trust-sig")
  hub = world.fileEndpoint("hub.git")
  ;[a, b, c] = await world.makeTowns([
    { name: "sigA", prefix: "sa", peers: [{ name: "hub", endpoint: hub.url }] },
    { name: "sigB", prefix: "sb", peers: [{ name: "hub", endpoint: hub.url }] },
    // C only lends its key to the forger.
    { name: "sigC", prefix: "sc" }
  ])
  first = await a.create("first of A", ["--assignee", "alice"])
  await a.ok(["federation", "push"])
  await b.ok(["federation", "pull"])
  batch1 = townRefs(hub.path).get(a.townId)!
  // Batch 2: a creation and an update, so that a refusal is seen to be whole.
  second = await a.create("second of A")
  await a.ok(["update", first, "--title", "first of A, renamed"])
  await a.ok(["federation", "push"])
  batch2 = townRefs(hub.path).get(a.townId)!
  expect(batch2).not.toBe(batch1)
  expect(eventsOf(readBatch(hub.path, batch2).events).map((e) => e["type"])).toEqual(["IssueCreated", "IssueUpdated"])
}, 120_000)

afterAll(() => world?.cleanup())

const setHubTip = (commit: string) => {
  const current = townRefs(hub.path).get(a.townId)!
  git(hub.path, ["update-ref", `refs/beads/towns/${a.townId}`, commit, current])
}

/** B pulls a forged batch 2: refused with exit 10 naming the peer and the town; B holds exactly what it held. */
const expectRefused = async (forged: string, reason: RegExp) => {
  const listBefore = await b.list()
  const sharedBefore = await b.sharedIds()
  const ingestedBefore = git(path.join(b.beadsDir, "federation", "remote.git"), ["rev-parse", `refs/beads/towns/${a.townId}`])
  setHubTip(forged)
  try {
    const r = await b.run(["federation", "pull"])
    expect(r.code, show(r)).toBe(EXIT.integrity)
    expect(r.stdout + r.stderr, show(r)).toContain(`refused a batch of town ${a.townId} from peer hub`)
    expect(r.stdout + r.stderr, show(r)).toMatch(reason)
    const json = await b.json(["federation", "pull"], EXIT.integrity)
    expect(json.error).toMatchObject({ code: "BatchRefused" })
    expect(json.peers[0].error.message).toContain(a.townId)
    expect(await b.list()).toEqual(listBefore)
    expect(await b.sharedIds()).toEqual(sharedBefore)
    expect(git(path.join(b.beadsDir, "federation", "remote.git"), ["rev-parse", `refs/beads/towns/${a.townId}`])).toBe(ingestedBefore)
    const titles = (await b.list()).map((i) => i["title"])
    expect(titles).toEqual(["first of A"])
  } finally {
    setHubTip(batch2)
  }
}

describe.sequential("forged batches are refused whole", () => {
  it("B trusted A's key at the first pull and holds batch 1 only", async () => {
    expect((await b.list()).map((i) => i["id"])).toEqual([first])
    const trust = await b.json(["federation", "trust", "list"])
    expect(trust.towns).toEqual([expect.objectContaining({ town: a.townId, key: publicKeyOf(a), how: "first-use" })])
  })

  it("batch 2 re-signed with another town's key (C's town.key)", async () => {
    const forged = rewriteBatch(hub.path, batch2, (files) => ({ ...files, signature: signatureFile(files.meta, privateKeyOf(c)) }))
    // The forged signature is a good one, by the wrong key.
    expect(JSON.parse(readBatch(hub.path, forged).signature).key).toBe(publicKeyOf(c))
    await expectRefused(forged, /now signs with another key/)
  })

  it("an event tampered with, the old meta and signature kept (hash mismatch)", async () => {
    const forged = forgeBatch(hub.path, batch2, ({ events, meta }) => ({ events: events.replace("second of A", "second of A, forged"), meta }))
    await expectRefused(forged, /events\.jsonl does not match the hash/)
  })

  it("an event tampered with and the meta's hash fixed, the old signature kept", async () => {
    const forged = rewriteBatch(hub.path, batch2, (files) => {
      const edited = resigned((events) => {
        events[0]!["data"]["fields"]["title"] = "second of A, forged"
      }, privateKeyOf(a))(files)
      return { ...edited, signature: files.signature }
    })
    await expectRefused(forged, /signature does not verify/)
  })

  it("an IssueCreated claiming a false source_system, re-signed with A's own key", async () => {
    const forged = rewriteBatch(
      hub.path,
      batch2,
      resigned((events) => {
        events[0]!["data"]["fields"]["source_system"] = c.townId
      }, privateKeyOf(a))
    )
    await expectRefused(forged, new RegExp(`claiming source_system ${c.townId}`))
  })

  it("an IssueCreated claiming C as source_system, signed with C's key", async () => {
    const forged = rewriteBatch(
      hub.path,
      batch2,
      resigned((events) => {
        events[0]!["data"]["fields"]["source_system"] = c.townId
      }, privateKeyOf(c))
    )
    await expectRefused(forged, /another key|source_system/)
  })

  it("with the genuine batch back, B ingests it and verify passes", async () => {
    const pulled = await b.json(["federation", "pull"])
    expect(pulled.peers[0]).toMatchObject({ ok: true, batches: 1, events: 2 })
    expect((await b.list()).map((i) => [i["id"], i["title"]]).sort()).toEqual(
      [[first, "first of A, renamed"], [second, "second of A"]].sort()
    )
    const verify = await b.ok(["federation", "verify"])
    expect(verify.stdout).toMatch(/^signatures: 3 event\(s\) of 1 other town\(s\) match 2 signed batch\(es\) from trusted keys$/m)
  })
})

describe.sequential("bd federation verify checks ingested events against the signed batches held", () => {
  const shadow = () => path.join(b.beadsDir, "federation", "remote.git")
  const ref = () => `refs/beads/towns/${a.townId}`

  const expectVerifyFails = async (tip: string, reason: RegExp) => {
    const held = git(shadow(), ["rev-parse", ref()])
    git(shadow(), ["update-ref", ref(), tip, held])
    try {
      const r = await b.run(["federation", "verify"])
      expect(r.code, show(r)).toBe(EXIT.integrity)
      expect(r.stdout + r.stderr, show(r)).toMatch(reason)
      const json = await b.run(["--json", "federation", "verify"])
      expect(json.code, show(json)).toBe(EXIT.integrity)
    } finally {
      git(shadow(), ["update-ref", ref(), held, tip])
    }
  }

  it("passes on the genuine shadow repository", async () => {
    const r = await b.ok(["federation", "verify"])
    expect(r.stdout).toMatch(/^signatures: .*signed batch\(es\)/m)
    const json = await b.json(["federation", "verify"])
    expect(json.ingested).toEqual({ events: 3, batches: 2, towns: 1 })
  })

  it("fails when the held batch's events.jsonl was rewritten (signature and meta kept)", async () => {
    const held = git(shadow(), ["rev-parse", ref()])
    const forged = forgeBatch(shadow(), held, ({ events, meta }) => ({ events: events.replace("second of A", "second of Z"), meta }))
    await expectVerifyFails(forged, /does not match the hash|signature/)
  })

  it("fails when the held batch was replaced by a validly signed one whose content differs from the log", async () => {
    const held = git(shadow(), ["rev-parse", ref()])
    const forged = rewriteBatch(
      shadow(),
      held,
      resigned((events) => {
        events[0]!["data"]["fields"]["title"] = "second of A, as the batch says"
      }, privateKeyOf(a))
    )
    await expectVerifyFails(forged, /differs from the signed batch/)
  })

  it("fails when the shadow repository no longer holds the batch an ingested event came in", async () => {
    const held = git(shadow(), ["rev-parse", ref()])
    const parent = git(shadow(), ["rev-parse", `${held}^`])
    await expectVerifyFails(parent, /in no signed batch/)
  })

  it("fails when the held batch is signed by a key the trust store does not accept for the town", async () => {
    const held = git(shadow(), ["rev-parse", ref()])
    const forged = rewriteBatch(shadow(), held, (files) => ({ ...files, signature: signatureFile(files.meta, privateKeyOf(c)) }))
    await expectVerifyFails(forged, /another key|trust/)
  })

  it("passes again once the shadow repository is restored", async () => {
    await b.ok(["federation", "verify"])
  })
})
