/**
 * Endpoint problems over file://: a vanished endpoint, a town branch
 * rewritten at the endpoint (amended history, force-pushed unrelated
 * commit, or moved back), corrupted batches, and paths that are no git
 * repository. A bad branch or batch is refused whole; nothing of it is
 * ingested.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { EXIT, ensureBuilt, forgeBatch, git, sha256, show, type Town, townRefs, World } from "./support.js"

let world: World

beforeAll(async () => {
  await ensureBuilt()
  world = new World("endpoints")
}, 300_000)

afterAll(() => world?.cleanup())

const STACK = /^\s+at /m

/** Two towns on one hub; `a` publishes one batch per title given. */
const pair = async (label: string) => {
  const hub = world.fileEndpoint(`${label}/hub.git`)
  const peers = [{ name: "hub", endpoint: hub.url }]
  const [a, b] = await world.makeTowns([
    { name: `${label}A`, prefix: `${label.slice(0, 3)}a`, peers },
    { name: `${label}B`, prefix: `${label.slice(0, 3)}b`, peers }
  ])
  const publish = async (title: string): Promise<{ id: string; commit: string }> => {
    const id = await a.create(title)
    await a.ok(["federation", "push"])
    return { id, commit: townRefs(hub.path).get(a.townId)! }
  }
  return { hub, a, b, publish }
}

/** Replace the title in every event line, and (optionally) fix meta.json's eventsHash to match. */
const retitle = (title: string, fixHash: boolean) => ({ events, meta }: { events: string; meta: string }) => {
  const lines = events.split("\n").filter((line) => line !== "").map((line) => {
    const event = JSON.parse(line)
    if (event.data?.fields?.title !== undefined) event.data.fields.title = title
    return JSON.stringify(event)
  })
  const next = lines.join("\n") + "\n"
  if (!fixHash) return { events: next, meta }
  const parsed = JSON.parse(meta)
  parsed.eventsHash = sha256(next)
  return { events: next, meta: `${JSON.stringify(parsed, null, 2)}\n` }
}

const pullFails = async (town: Town, code: number, tag: string, message: RegExp) => {
  const text = await town.run(["federation", "pull"])
  expect(text.code, show(text)).toBe(code)
  expect(text.stdout + text.stderr, show(text)).not.toMatch(STACK)
  expect(text.stdout, show(text)).toMatch(message)
  const json = await town.run(["--json", "federation", "pull"])
  expect(json.code, show(json)).toBe(code)
  const docs = json.stdout.split("\n").filter((line) => line !== "")
  expect(docs, show(json)).toHaveLength(1)
  const doc = JSON.parse(docs[0]!)
  expect(doc.ok).toBe(false)
  expect(doc.error.code, show(json)).toBe(tag)
  expect(doc.error.message, show(json)).toMatch(message)
  return { text, doc }
}

describe.concurrent("endpoint problems", () => {
  it("the endpoint directory deleted: pull exits 11 with one readable line", async () => {
    const { hub, a, publish } = await pair("gone")
    await publish("before the endpoint vanished")
    fs.rmSync(hub.path, { recursive: true, force: true })
    const { text } = await pullFails(a, EXIT.unreachable, "RemoteUnreachable", /unreachable/)
    const out = text.stdout.split("\n").filter((line) => line !== "")
    expect(out, show(text)).toHaveLength(1)
    expect(out[0]).toMatch(new RegExp(`^hub: error: peer hub \\(file://${hub.path.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\\) is unreachable: \\S.*$`))
    expect(text.stderr).toMatch(/^Error: 1 of 1 peer\(s\) failed\nHint: .+\n$/)
    // sync does not push to a peer it cannot reach.
    const synced = await a.sync()
    expect(synced.code, show(synced)).toBe(EXIT.unreachable)
    expect(fs.existsSync(hub.path)).toBe(false)
  }, 120_000)

  it("a town branch rewritten at the endpoint (amended history): pull exits 10 and nothing of that town is ingested", async () => {
    const { hub, a, b, publish } = await pair("amend")
    const first = await publish("first, ingested by B")
    await b.ok(["federation", "pull"])
    const second = await publish("second, never ingested by B")
    const before = await b.list()
    expect(before.map((i) => i["id"])).toEqual([first.id])

    // History rewritten: batch 1 amended (another title, consistent hash), batch 2 re-parented onto it.
    const forged1 = forgeBatch(hub.path, first.commit, retitle("forged title", true), null)
    const forged2 = forgeBatch(hub.path, second.commit, (files) => files, forged1)
    git(hub.path, ["update-ref", `refs/beads/towns/${a.townId}`, forged2])

    const { doc } = await pullFails(b, EXIT.integrity, "IntegrityError", /rewritten/)
    expect(doc.error.message).toContain(a.townId)
    expect(await b.list()).toEqual(before)
    // The origin itself notices its own branch was rewritten.
    await pullFails(a, EXIT.integrity, "IntegrityError", /rewritten/)
    // And it cannot push over it (never forced): rejected, the endpoint unchanged.
    const pushed = await a.run(["federation", "push"])
    expect(pushed.code, show(pushed)).toBe(EXIT.rejected)
    expect(townRefs(hub.path).get(a.townId)).toBe(forged2)
  }, 120_000)

  it("an unrelated commit force-pushed over a town branch: pull exits 10 and nothing of it is ingested", async () => {
    const { hub, a, b, publish } = await pair("force")
    const first = await publish("genuine")
    await b.ok(["federation", "pull"])
    const before = await b.list()

    // Someone with write access forges a root batch elsewhere and force-pushes it.
    const scratch = path.join(world.root, "force-scratch.git")
    git(world.root, ["init", "--bare", "--quiet", scratch])
    git(scratch, ["fetch", "--quiet", hub.url, "refs/beads/towns/*:refs/beads/towns/*"])
    const forged = forgeBatch(scratch, first.commit, retitle("forged by force", true), null)
    git(scratch, ["push", "--quiet", "--force", hub.url, `${forged}:refs/beads/towns/${a.townId}`])
    expect(townRefs(hub.path).get(a.townId)).toBe(forged)

    await pullFails(b, EXIT.integrity, "IntegrityError", /rewritten/)
    expect(await b.list()).toEqual(before)
    expect(before[0]!["title"]).toBe("genuine")
  }, 120_000)

  it("a town branch moved back to an older batch is a stale copy, not an error: nothing is lost, a relaying push restores it", async () => {
    // A town that relays may meet an endpoint holding an older batch of a town it is ahead on:
    // that is not a rewrite (the older batch is part of what was ingested).
    const { hub, a, b, publish } = await pair("older")
    const first = await publish("one")
    const second = await publish("two")
    await b.ok(["federation", "pull"])
    const before = await b.list()
    git(hub.path, ["update-ref", `refs/beads/towns/${a.townId}`, first.commit])

    const pulled = await b.json(["federation", "pull"])
    expect(pulled.peers[0]).toMatchObject({ ok: true, events: 0, batches: 0 })
    expect(await b.list()).toEqual(before)
    await b.ok(["federation", "push"])
    expect(townRefs(hub.path).get(a.townId)).toBe(second.commit)
  }, 120_000)

  it("a corrupted batch (events.jsonl does not match meta.json's eventsHash) is refused with exit 10; the batches before it are kept", async () => {
    const { hub, a, b, publish } = await pair("hash")
    const first = await publish("sound batch")
    const second = await publish("batch to corrupt")
    const bad = forgeBatch(hub.path, second.commit, retitle("tampered", false))
    git(hub.path, ["update-ref", `refs/beads/towns/${a.townId}`, bad, second.commit])

    const { doc } = await pullFails(b, EXIT.integrity, "BatchRefused", /does not match the hash/)
    expect(doc.error.message).toContain(a.townId)
    const held = await b.list()
    expect(held.map((i) => [i["id"], i["title"]])).toEqual([[first.id, "sound batch"]])
    const shared = await b.sharedIds()
    // Of A, exactly the one event of the sound batch.
    expect(shared.filter((id) => id.startsWith(`${a.townId}:`))).toHaveLength(1)
    expect((await b.log()).some((e) => JSON.stringify(e["data"]).includes("tampered"))).toBe(false)
    await b.ok(["federation", "verify"])
    // The genuine second batch cannot be pushed over the bad one: rejected (never forced).
    const pushed = await a.run(["federation", "push"])
    expect(pushed.code, show(pushed)).toBe(EXIT.rejected)
    expect(pushed.stdout + pushed.stderr).toMatch(/rejected/)
    // Several peers failing: the exit code is the first failure's (peers in name order).
    // (A file:// endpoint that was never created is empty until the first push creates it; a plain file is no endpoint.)
    const gone = world.fileEndpoint("hash/aaa-gone.git")
    fs.mkdirSync(path.dirname(gone.path), { recursive: true })
    fs.writeFileSync(gone.path, "not a repository\n")
    await b.addPeer({ name: "aaa-gone", endpoint: gone.url })
    const all = await b.run(["federation", "pull"])
    expect(all.code, show(all)).toBe(EXIT.unreachable)
    expect(all.stdout.split("\n").filter((line) => line.includes(": error: "))).toHaveLength(2)
  }, 120_000)

  it("a batch whose event claims another town is refused with exit 10; nothing of it is ingested", async () => {
    const { hub, a, b, publish } = await pair("claim")
    const first = await publish("item with a forged town")
    const forged = forgeBatch(hub.path, first.commit, ({ events, meta }) => {
      const next = events.split("\n").filter((line) => line !== "").map((line) => {
        const event = JSON.parse(line)
        event.town = b.townId
        return JSON.stringify(event)
      }).join("\n") + "\n"
      const parsed = JSON.parse(meta)
      parsed.eventsHash = sha256(next)
      return { events: next, meta: `${JSON.stringify(parsed, null, 2)}\n` }
    })
    git(hub.path, ["update-ref", `refs/beads/towns/${a.townId}`, forged, first.commit])

    // The batch's signature covers meta.json, which carries the events' hash: the forgery fails there,
    // or (were it re-signed) on the town claim.
    await pullFails(b, EXIT.integrity, "BatchRefused", /claims town|signature does not verify/)
    expect(await b.list()).toEqual([])
    expect((await b.sharedIds()).filter((id) => !id.startsWith(`${b.townId}:`))).toEqual([])
    // Several peers failing: the exit code is the first failure's (peers in name order).
    const gone = world.fileEndpoint("claim/zzz-gone.git")
    fs.mkdirSync(path.dirname(gone.path), { recursive: true })
    fs.writeFileSync(gone.path, "not a repository\n")
    await b.addPeer({ name: "zzz-gone", endpoint: gone.url })
    const all = await b.run(["federation", "pull"])
    expect(all.code, show(all)).toBe(EXIT.integrity)
    expect(all.stdout.split("\n").filter((line) => line.includes(": error: "))).toHaveLength(2)
  }, 120_000)

  it("an endpoint path that is a plain file, or a directory that is no git repository: exit 11", async () => {
    const file = world.fileEndpoint("plain/file.git")
    fs.mkdirSync(path.dirname(file.path), { recursive: true })
    fs.writeFileSync(file.path, "not a repository\n")
    const dir = world.fileEndpoint("plain/dir.git")
    fs.mkdirSync(dir.path, { recursive: true })
    fs.writeFileSync(path.join(dir.path, "README"), "just a directory\n")
    const town = await world.town("plain", { prefix: "pl", peers: [{ name: "file", endpoint: file.url }, { name: "dir", endpoint: dir.url }] })
    await town.create("going nowhere")
    for (const peer of ["file", "dir"]) {
      for (const op of ["pull", "push", "sync"]) {
        const r = await town.run(["--json", "federation", op, peer])
        expect(r.code, show(r)).toBe(EXIT.unreachable)
        const doc = JSON.parse(r.stdout.split("\n")[0]!)
        expect(doc.error.code, show(r)).toBe("RemoteUnreachable")
        expect(doc.error.message).not.toContain("\n")
      }
    }
    expect(fs.readFileSync(file.path, "utf8")).toBe("not a repository\n")
    expect(fs.readdirSync(dir.path)).toEqual(["README"])
    // Both peers at once: the first failure's code.
    const both = await town.run(["federation", "pull"])
    expect(both.code, show(both)).toBe(EXIT.unreachable)
    expect(both.stdout.split("\n").filter((line) => line.includes(": error: "))).toHaveLength(2)
  }, 120_000)
})
