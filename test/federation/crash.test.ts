/**
 * SIGKILL at random points of `bd federation push` and `pull`, with many
 * events pending; then sync to completion: nothing lost, nothing twice,
 * identical exports, and every log verifies.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { ensureBuilt, generatedIssues, git, parseJsonl, prng, type RunResult, show, sleep, type Town, townRefs, waitGroupGone, World } from "./support.js"

let world: World

beforeAll(async () => {
  await ensureBuilt()
  world = new World("crash")
}, 300_000)

afterAll(() => world?.cleanup())

const ITEMS = 200
const KILLS = 10

/**
 * Start `args` in `town`, SIGKILL the bd process after `delay` ms, and wait
 * until every process it started (git) has finished on its own.
 */
const killAfter = async (town: Town, args: ReadonlyArray<string>, delay: number): Promise<RunResult> => {
  const run = town.spawn(args)
  await sleep(delay)
  try {
    process.kill(run.child.pid!, "SIGKILL")
  } catch {
    // finished already
  }
  const result = await run.done
  await waitGroupGone(run.child.pid!)
  return result
}

describe("crashes", () => {
  it(`SIGKILL of push and pull at random points (${KILLS} each, ${ITEMS} items per town): nothing lost or duplicated, every log verifies`, async () => {
    const seed = Number(process.env["FED_SEED"] ?? Date.now() % 1_000_000)
    const random = prng(seed)
    const context = `seed ${seed} (rerun with FED_SEED=${seed})`
    const hub = world.fileEndpoint("crash/hub.git")
    const peers = [{ name: "hub", endpoint: hub.url }]
    const [a, b] = await world.makeTowns([
      { name: "crashA", prefix: "ka", peers },
      { name: "crashB", prefix: "kb", peers }
    ])
    const file = (town: Town, revision: number, n: number) => {
      const at = path.join(world.root, `${town.prefix}-${revision}.jsonl`)
      fs.writeFileSync(at, generatedIssues(town.prefix, n, revision))
      return at
    }
    await Promise.all([a, b].map((town) => town.ok(["import", file(town, 0, ITEMS)])))

    // Delays sweep the whole command (it takes about a second): 0-300 ms, then 200-500, 400-700, 600-900.
    const delay = (i: number) => Math.floor(random() * 300) + 200 * (i % 4)
    const outcomes: Array<string> = []
    const record = (town: Town, op: string, ms: number, r: RunResult) =>
      outcomes.push(`${town.name} ${op} +${ms}ms -> ${r.signal ?? `exit ${r.code}`}`)

    // Pushes, alternating towns, each with 20 more updates pending than the last time.
    for (let i = 0; i < KILLS; i++) {
      const town = i % 2 === 0 ? a : b
      await town.ok(["import", file(town, 1 + Math.floor(i / 2), 20)])
      const ms = delay(i)
      const r = await killAfter(town, ["federation", "push"], ms)
      record(town, "push", ms, r)
      // A push that was not killed must have succeeded.
      if (r.signal === null) expect(r.code, `${context}\n${show(r)}`).toBe(0)
    }
    // Both publish fully, so that each has hundreds of the other's events to pull.
    for (const town of [a, b]) {
      const r = await town.run(["federation", "push"])
      expect(r.code, `${context}\n${outcomes.join("\n")}\n${show(r)}`).toBe(0)
    }
    for (let i = 0; i < KILLS; i++) {
      const town = i % 2 === 0 ? b : a
      const ms = delay(i)
      const r = await killAfter(town, ["federation", "pull"], ms)
      record(town, "pull", ms, r)
      if (r.signal === null) expect(r.code, `${context}\n${show(r)}`).toBe(0)
    }
    if (process.env["FED_STATS"]) console.log(`${context}\n${outcomes.join("\n")}`)
    const killed = outcomes.filter((o) => o.endsWith("SIGKILL")).length
    expect(killed, `${context}\n${outcomes.join("\n")}`).toBeGreaterThanOrEqual(KILLS / 2)

    await world.syncUntilQuiet([a, b], { maxRounds: 4 }).catch((error) => {
      throw new Error(`${context}\n${outcomes.join("\n")}\n${String(error)}`)
    })

    const expected = [...parseJsonl(generatedIssues("ka", ITEMS, 5)), ...parseJsonl(generatedIssues("kb", ITEMS, 5))]
      .map((issue) => issue["id"] as string)
      .sort()
    const text = await world.expectSameExports([a, b])
    const exported = parseJsonl(text)
    expect(exported.map((i) => i["id"]), context).toEqual(expected)
    for (const issue of exported) {
      const n = Number(/gen(\d+)$/.exec(issue["id"])![1])
      // Items 0..19 went through 5 revisions, the rest only the first import.
      expect(issue["title"], context).toBe(n < 20 ? `generated ${issue["id"].slice(0, 2)} ${n}, revision 5` : `generated ${issue["id"].slice(0, 2)} ${n}`)
    }
    for (const town of [a, b]) {
      const listed = await town.list()
      expect(listed.map((i) => i["id"]).sort(), `${town.name}: ${context}`).toEqual(expected)
    }
    // Each town's shared events: once each, the same in both; 200 imports + 5 x 20 updates per town.
    const shared = await world.expectSameSharedEvents([a, b])
    for (const town of [a, b]) expect(shared.filter((id) => id.startsWith(`${town.townId}:`)), context).toHaveLength(ITEMS + 100)

    // The endpoint's branches count every event once.
    const tips = townRefs(hub.path)
    for (const town of [a, b]) {
      const meta = JSON.parse(git(hub.path, ["cat-file", "blob", `${tips.get(town.townId)}:meta.json`]))
      expect(meta.total, `${town.name}: ${context}`).toBe(ITEMS + 100)
    }
    for (const town of [a, b]) {
      const verified = await town.json(["federation", "verify"])
      expect(verified.ok, context).toBe(true)
    }
  }, 180_000)

  it("a town that lost its shadow repository (.beads/federation) and pushes first still syncs afterwards: nothing lost", async () => {
    const hub = world.fileEndpoint("lost/hub.git")
    const peers = [{ name: "hub", endpoint: hub.url }]
    const [a, b] = await world.makeTowns([
      { name: "lostA", prefix: "la", peers },
      { name: "lostB", prefix: "lb", peers }
    ])
    const one = await a.create("published before the loss")
    await a.ok(["federation", "push"])
    await b.ok(["federation", "pull"])

    // .beads/federation is local state (bd's .gitignore leaves it out); it is gone, the log is intact.
    fs.rmSync(path.join(a.beadsDir, "federation"), { recursive: true, force: true })
    const two = await a.create("made after the loss")
    const pushed = await a.run(["federation", "push"])
    // Whatever the push said (it may ask to pull first), a sync must then go through.
    const synced = await a.sync()
    expect(synced.code, `${show(pushed)}\n${show(synced)}`).toBe(0)
    await world.syncUntilQuiet([a, b])
    const text = await world.expectSameExports([a, b])
    expect(parseJsonl(text).map((i) => i["id"])).toEqual([one, two].sort())
  }, 120_000)
})
