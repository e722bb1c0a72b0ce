/**
 * Conflicts over a real file:// endpoint: the same field edited offline in
 * two towns, seen by both, and closed by `sync --strategy ours|theirs`,
 * by `resolve --value` in a third town, or by two concurrent resolutions.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { EXIT, ensureBuilt, parseJsonl, show, type Town, World } from "./support.js"

let world: World

beforeAll(async () => {
  await ensureBuilt()
  world = new World("conflicts")
}, 300_000)

afterAll(() => world?.cleanup())

const firstDoc = (stdout: string): any => JSON.parse(stdout.split("\n").find((line) => line !== "")!)

/**
 * Towns sharing one hub, an item made by the first, known to all; then its
 * title edited offline in the first two. Returns after every town has synced
 * (so all know the conflict), with the checks that both report it.
 */
const conflictingTitles = async (label: string, names: ReadonlyArray<string>) => {
  const hub = world.fileEndpoint(`${label}/hub.git`)
  const peers = [{ name: "hub", endpoint: hub.url }]
  const towns = await Promise.all(names.map((name, i) => world.town(name, { prefix: `${label.slice(0, 2)}${i}`, peers })))
  const [a, b] = towns as [Town, Town]
  const id = await a.create("original title")
  await a.ok(["federation", "push"])
  await world.syncUntilQuiet(towns)

  await Promise.all([a.ok(["update", id, "--title", "title from A"]), b.ok(["update", id, "--title", "title from B"])])
  // A publishes first and has nothing to conflict with yet.
  const first = await a.sync()
  expect(first.code, show(first)).toBe(EXIT.ok)
  // B pulls A's edit: a conflict; B still pushes its own edit, then exits 13.
  const second = await b.sync()
  expect(second.code, show(second)).toBe(EXIT.conflicts)
  const doc = firstDoc(second.stdout)
  expect(doc.conflicts, show(second)).toBe(1)
  expect(doc.peers[0].pull.newConflicts).toEqual([`${id}/title`])
  expect(doc.peers[0].push, show(second)).toMatchObject({ published: 1 })
  // Everyone else pulls B's edit and sees the same conflict.
  for (const town of towns.filter((t) => t !== b)) {
    const r = await town.sync()
    expect(r.code, `[${town.name}] ${show(r)}`).toBe(EXIT.conflicts)
  }
  return { towns, a, b, id, second }
}

const titleOf = async (town: Town, id: string): Promise<string> => (await town.show(id))["title"] as string

describe.concurrent("conflicts", () => {
  it("the same title edited offline in two towns: both report it; sync --strategy ours makes that town's value win everywhere", async () => {
    const { a, b, id } = await conflictingTitles("ours", ["oursA", "oursB"])

    // Both towns report the same conflict with both values, and show the same (base-rule) winner meanwhile.
    const reported = await Promise.all([a.conflicts(), b.conflicts()])
    for (const [n, list] of reported.entries()) {
      expect(list, `${[a, b][n]!.name}`).toHaveLength(1)
      expect(list[0]).toMatchObject({ id: `${id}/title`, issue: id, field: "title" })
      expect(list[0]!.values.map((v) => v.value).sort()).toEqual(["title from A", "title from B"])
      expect(new Set(list[0]!.values.map((v) => v.town))).toEqual(new Set([a.townId, b.townId]))
    }
    expect(reported[1]![0]!.shown).toBe(reported[0]![0]!.shown)
    for (const town of [a, b]) {
      const text = await town.ok(["show", id])
      expect(text.stdout).toContain("CONFLICT on title")
      expect(text.stdout).toContain(`bd federation resolve ${id}/title`)
      expect(text.stdout).toContain(`"title from A"`)
      expect(text.stdout).toContain(`"title from B"`)
      const json = await town.show(id)
      expect(json["conflicts"]?.[0]?.values?.map((v: any) => v.value).sort()).toEqual(["title from A", "title from B"])
    }
    // While open, both hold the same state anyway.
    await world.expectSameExports([a, b])

    const resolved = await b.sync(undefined, ["--strategy", "ours"])
    expect(resolved.code, show(resolved)).toBe(EXIT.ok)
    expect(firstDoc(resolved.stdout)).toMatchObject({ ok: true, conflicts: 0, peers: [{ resolved: 1 }] })
    expect(await titleOf(b, id)).toBe("title from B")
    expect(await b.conflicts()).toEqual([])

    const adopted = await a.sync()
    expect(adopted.code, show(adopted)).toBe(EXIT.ok)
    expect(await titleOf(a, id)).toBe("title from B")
    expect(await a.conflicts()).toEqual([])
    await world.syncUntilQuiet([a, b])
    const text = await world.expectSameExports([a, b])
    expect(parseJsonl(text)[0]).toMatchObject({ id, title: "title from B" })
  })

  it("sync --strategy theirs: the other town's value wins everywhere", async () => {
    const { a, b, id } = await conflictingTitles("theirs", ["theirsA", "theirsB"])
    const resolved = await a.sync(undefined, ["--strategy", "theirs"])
    expect(resolved.code, show(resolved)).toBe(EXIT.ok)
    expect(firstDoc(resolved.stdout)).toMatchObject({ conflicts: 0, peers: [{ resolved: 1 }] })
    expect(await titleOf(a, id)).toBe("title from B")

    const adopted = await b.sync()
    expect(adopted.code, show(adopted)).toBe(EXIT.ok)
    expect(await b.conflicts()).toEqual([])
    await world.syncUntilQuiet([a, b])
    expect(parseJsonl(await world.expectSameExports([a, b]))[0]).toMatchObject({ id, title: "title from B" })
    // The choice travelled as A's shared ConflictResolved event.
    const resolutions = (await b.log()).filter((e) => e["type"] === "ConflictResolved")
    expect(resolutions.map((e) => [e["town"], e["data"]["strategy"], e["data"]["changes"]])).toEqual([
      [a.townId, "theirs", { title: "title from B" }]
    ])
  })

  it("bd federation resolve ID --value in a third town reaches the other two", async () => {
    const { towns, a, b, id } = await conflictingTitles("value", ["valueA", "valueB", "valueC"])
    const c = towns[2]!
    const seen = await c.conflicts()
    expect(seen.map((x) => x.id)).toEqual([`${id}/title`])

    const r = await c.json(["federation", "resolve", `${id}/title`, "--value", "settled by C"])
    expect(r).toEqual({ id: `${id}/title`, status: "resolved" })
    expect(await titleOf(c, id)).toBe("settled by C")
    // A second resolution of a closed conflict is refused.
    await c.expect(["federation", "resolve", `${id}/title`, "--ours"], 6)

    await world.syncUntilQuiet([c, a, b])
    for (const town of [a, b, c]) {
      expect(await town.conflicts(), town.name).toEqual([])
      expect(await titleOf(town, id), town.name).toBe("settled by C")
    }
    await world.expectSameExports([a, b, c])
    await world.expectSameSharedEvents([a, b, c])
  })

  it("two towns resolving the same conflict differently at the same time converge to one value (base rule), no conflict left", async () => {
    const { a, b, id } = await conflictingTitles("twice", ["twiceA", "twiceB"])
    // Each keeps its own value, before hearing of the other's resolution.
    await Promise.all([
      a.ok(["federation", "resolve", `${id}/title`, "--ours"]),
      b.ok(["federation", "resolve", `${id}/title`, "--ours"])
    ])
    expect(await titleOf(a, id)).toBe("title from A")
    expect(await titleOf(b, id)).toBe("title from B")

    await world.syncUntilQuiet([a, b], { allowed: [EXIT.ok, EXIT.conflicts] })
    // Settled: a sync in each exits 0 with nothing open.
    for (const town of [a, b]) {
      const r = await town.sync()
      expect(r.code, `[${town.name}] ${show(r)}`).toBe(EXIT.ok)
      expect(await town.conflicts()).toEqual([])
    }
    const issue = parseJsonl(await world.expectSameExports([a, b]))[0]!
    await world.expectSameSharedEvents([a, b])

    // The winner is the resolution with the higher (lamport, town id).
    const resolutions = (await a.log()).filter((e) => e["type"] === "ConflictResolved")
    expect(resolutions).toHaveLength(2)
    const winner = [...resolutions].sort((x, y) =>
      x["lamport"] !== y["lamport"] ? x["lamport"] - y["lamport"] : x["town"] < y["town"] ? -1 : x["town"] > y["town"] ? 1 : 0
    )[1]!
    expect(issue["title"]).toBe(winner["data"]["changes"]["title"])
  })

  it("sync --json with conflicts left open prints one result document (exit 13), like other multi-peer failures", async () => {
    // docs/ARCHITECTURE.md: under --json, a multi-peer command's errors are inside "the one result document".
    const { second } = await conflictingTitles("onedoc", ["onedocA", "onedocB"])
    expect(second.code).toBe(EXIT.conflicts)
    const docs = second.stdout.split("\n").filter((line) => line !== "")
    expect(docs, show(second)).toHaveLength(1)
    expect(JSON.parse(docs[0]!)).toMatchObject({ ok: false, conflicts: 1 })
  })
})
