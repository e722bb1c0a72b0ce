/**
 * Sovereignty tiers as they reach real endpoints: one town pushes the same
 * work (in two pushes) to a T1, a T2, a T3 and a T4 peer, each its own bare
 * repository, and the raw git objects there are read back with
 * `git cat-file`. `federation.exclude_types` keeps chores out of all four.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { ensureBuilt, git, isSharedType, type Town, townRefs, World } from "../federation/support.js"
import { allObjects, branchBatches, branchBlobs, pseudonymOf, stringsIn } from "./support.js"

/** Every person the source town names, each spelled so that it cannot occur by chance. */
const PEOPLE = {
  actor: "ursula-actor-q7",
  otherActor: "vera-actor-k2",
  assignee: "zelda-assignee-m4",
  laterAssignee: "yuri-assignee-w9",
  owner: "olga-owner-j3",
  creator: "carl-creator-h8",
  reviewer: "rita-reviewer-x5",
  commenter: "cora-commenter-b6",
  deleter: "dave-deleter-n1"
} as const
/** A person named only inside a dependency record (beads writes `created_by` there too). */
const DEPENDER = "dora-depender-t0"
const IDENTIFIERS = Object.values(PEOPLE)
const IDENTIFIER_FIELDS = ["assignee", "owner", "created_by", "deleted_by", "reviewer"]

const CHORE_TITLE = "omega secret chore"
const IMPORTED_CHORE_TITLE = "omega imported chore"

let world: World
let s: Town
let r: Town
const ep: Record<"T1" | "T2" | "T3" | "T4", { path: string; url: string }> = {} as any
const ids: Record<string, string> = {}

const importFile = (dir: string): string => {
  const file = path.join(dir, "people.jsonl")
  const records = [
    {
      id: "so-imp1",
      title: "imported with people",
      status: "open",
      priority: 2,
      issue_type: "task",
      assignee: PEOPLE.assignee,
      owner: PEOPLE.owner,
      created_by: PEOPLE.creator,
      reviewer: PEOPLE.reviewer,
      created_at: "2026-01-02T03:04:05Z",
      updated_at: "2026-01-03T04:05:06Z",
      comments: [{ id: 1, issue_id: "so-imp1", author: PEOPLE.commenter, text: "a comment", created_at: "2026-01-02T05:06:07Z" }]
    },
    {
      id: "so-imp2",
      title: "imported and deleted",
      status: "tombstone",
      priority: 3,
      issue_type: "bug",
      created_by: PEOPLE.creator,
      created_at: "2026-01-04T10:11:12Z",
      updated_at: "2026-01-05T13:14:15Z",
      deleted_at: "2026-01-05T13:14:15Z",
      deleted_by: PEOPLE.deleter,
      delete_reason: "duplicate"
    },
    {
      id: "so-dep1",
      title: "imported with a dependency",
      status: "open",
      priority: 2,
      issue_type: "task",
      created_at: "2026-01-06T07:08:09Z",
      updated_at: "2026-01-06T07:08:09Z",
      dependencies: [{ issue_id: "so-dep1", depends_on_id: "so-imp1", type: "blocks", created_at: "2026-01-06T08:09:10Z", created_by: DEPENDER }]
    },
    {
      id: "so-chore9",
      title: IMPORTED_CHORE_TITLE,
      status: "open",
      priority: 4,
      issue_type: "chore",
      created_at: "2026-01-07T07:08:09Z",
      updated_at: "2026-01-07T07:08:09Z"
    }
  ]
  fs.writeFileSync(file, records.map((record) => JSON.stringify(record)).join("\n") + "\n")
  return file
}

beforeAll(async () => {
  await ensureBuilt()
  world = new World("trust-tiers")
  for (const tier of ["T1", "T2", "T3", "T4"] as const) ep[tier] = world.fileEndpoint(`${tier}.git`)
  ;[s, r] = await world.makeTowns([
    { name: "sov", prefix: "so", env: { USER: PEOPLE.actor } },
    { name: "recv", prefix: "re", peers: [{ name: "t3", endpoint: ep.T3.url }] }
  ])
  await s.ok(["config", "set", "federation.identifier_fields", "reviewer"])
  await s.ok(["config", "set", "federation.exclude_types", "chore"])
  await s.ok(["config", "set", "federation.organization", "acme"])
  for (const tier of ["T1", "T2", "T3", "T4"] as const) {
    await s.ok(["federation", "add-peer", tier.toLowerCase(), ep[tier].url, "--sovereignty", tier, ...(tier === "T2" ? ["--organization", "acme"] : [])])
  }

  // First push.
  ids["alpha"] = await s.create("alpha task", ["--assignee", PEOPLE.assignee, "-t", "task"])
  ids["chore"] = await s.create(CHORE_TITLE, ["-t", "chore", "--assignee", PEOPLE.assignee])
  await s.ok(["update", ids["alpha"]!, "--owner", PEOPLE.owner])
  await s.ok(["--actor", PEOPLE.otherActor, "update", ids["alpha"]!, "--notes", "noted by another person"])
  await s.ok(["import", importFile(s.dir)])
  await s.ok(["federation", "push"])

  // Second push: the same people again, on another issue too.
  ids["beta"] = await s.create("beta task", ["--assignee", PEOPLE.assignee])
  await s.ok(["update", ids["alpha"]!, "--assignee", PEOPLE.laterAssignee])
  await s.ok(["close", ids["beta"]!, "--reason", "done"])
  await s.ok(["update", ids["chore"]!, "--title", `${CHORE_TITLE}, renamed`])
  await s.ok(["federation", "push"])
}, 120_000)

afterAll(() => world?.cleanup())

/** Everything at an endpoint as text: every object, and every blob of every batch of every town branch. */
const everything = (tier: keyof typeof ep): string => `${allObjects(ep[tier].path)}\n${[...branchBlobs(ep[tier].path).values()].join("\n")}`

const eventsAt = (tier: keyof typeof ep) => branchBatches(ep[tier].path, s.townId).flatMap((b) => b.events)

/** The source town's own shared events, by id, as its log holds them. */
const sourceEvents = async (): Promise<Map<string, Record<string, any>>> =>
  new Map((await s.log()).filter((e) => e["town"] === s.townId && isSharedType(e["type"])).map((e) => [e["id"] as string, e]))

/** Events that concern the chore (which must never leave the town). */
const isChoreEvent = (e: Record<string, any>) => e["data"]?.["id"] === ids["chore"] || e["data"]?.["id"] === "so-chore9"

describe("what each tier publishes", () => {
  it("each endpoint holds the source town's branch only, two batches long", () => {
    for (const tier of ["T1", "T2", "T3", "T4"] as const) {
      expect([...townRefs(ep[tier].path).keys()], tier).toEqual([s.townId])
      const batches = branchBatches(ep[tier].path, s.townId)
      expect(batches.map((b) => [b.meta["batch"], b.meta["tier"]]), tier).toEqual([[1, tier], [2, tier]])
    }
  })

  it("T1 (and T2, same organization) get everything: every identifier, events as the source holds them", async () => {
    const source = await sourceEvents()
    for (const tier of ["T1", "T2"] as const) {
      const raw = everything(tier)
      for (const id of [...IDENTIFIERS, DEPENDER]) expect(raw.includes(id), `${tier} lacks ${id}`).toBe(true)
      const events = eventsAt(tier)
      const expected = [...source.values()].filter((e) => !isChoreEvent(e)).map((e) => e["id"])
      expect(events.map((e) => e["id"]), tier).toEqual(expected)
      for (const event of events) {
        const held = source.get(event["id"])!
        expect({ actor: event["actor"], at: event["at"], data: event["data"] }, `${tier} ${event["id"]}`).toEqual({
          actor: held["actor"],
          at: held["at"],
          data: held["data"]
        })
      }
    }
  })

  it("T3: no identifier of the source town in any object; keyed pseudonyms where they were", () => {
    const raw = everything("T3")
    for (const id of IDENTIFIERS) expect(raw.includes(id), `T3 holds ${id}`).toBe(false)
    // Each person is there under the pseudonym the town's key gives them.
    for (const id of IDENTIFIERS) expect(raw.includes(pseudonymOf(s, id)), `T3 lacks the pseudonym of ${id}`).toBe(true)
    // And nothing else looks like one (the dependency's person is checked on its own, below).
    const known = new Set([...IDENTIFIERS, DEPENDER].map((id) => pseudonymOf(s, id)))
    expect([...new Set(raw.match(/p-[0-9a-f]{16}/g))].filter((p) => !known.has(p))).toEqual([])
  })

  it("T3: the same person gets the same pseudonym across two pushes and two issues", async () => {
    const batches = branchBatches(ep.T3.path, s.townId)
    const created = (batch: number, id: string) => batches[batch]!.events.find((e) => e["type"] === "IssueCreated" && e["data"]["id"] === id)!
    const alpha = created(0, ids["alpha"]!)
    const beta = created(1, ids["beta"]!)
    const zelda = pseudonymOf(s, PEOPLE.assignee)
    expect(alpha["data"]["fields"]["assignee"]).toBe(zelda)
    expect(beta["data"]["fields"]["assignee"]).toBe(zelda)
    const imported = batches[0]!.events.find((e) => e["data"]["id"] === "so-imp1")!
    expect(imported["data"]["fields"]).toMatchObject({
      assignee: zelda,
      owner: pseudonymOf(s, PEOPLE.owner),
      created_by: pseudonymOf(s, PEOPLE.creator),
      reviewer: pseudonymOf(s, PEOPLE.reviewer),
      comments: [expect.objectContaining({ author: pseudonymOf(s, PEOPLE.commenter), text: "a comment", created_at: "2026-01-02T05:06:07Z" })]
    })
    const deleted = batches[0]!.events.find((e) => e["data"]["id"] === "so-imp2")!
    expect(deleted["data"]["fields"]["deleted_by"]).toBe(pseudonymOf(s, PEOPLE.deleter))
    const reassigned = batches[1]!.events.find((e) => e["type"] === "IssueUpdated" && e["data"]["id"] === ids["alpha"])!
    expect(reassigned["data"]["changes"]["assignee"]).toBe(pseudonymOf(s, PEOPLE.laterAssignee))

    // Actors: the one person in both batches under one pseudonym; the other one under theirs.
    const source = await sourceEvents()
    for (const batch of batches) {
      for (const event of batch.events) {
        const held = source.get(event["id"])!
        expect(event["actor"], event["id"]).toBe(pseudonymOf(s, held["actor"]))
        // Times are kept as they were at T3.
        expect(event["at"], event["id"]).toBe(held["at"])
      }
    }
    const actors = batches.map((b) => new Set(b.events.map((e) => e["actor"])))
    expect(actors[0]!.has(pseudonymOf(s, PEOPLE.actor)) && actors[1]!.has(pseudonymOf(s, PEOPLE.actor))).toBe(true)
    expect(actors[0]!.has(pseudonymOf(s, PEOPLE.otherActor))).toBe(true)
  })

  it("T4: no identifier and no pseudonym in any object; actors anonymous", () => {
    const raw = everything("T4")
    for (const id of IDENTIFIERS) expect(raw.includes(id), `T4 holds ${id}`).toBe(false)
    expect(raw.match(/p-[0-9a-f]{16}/g)).toBeNull()
    for (const event of eventsAt("T4")) {
      expect(event["actor"], event["id"]).toBe("anonymous")
      for (const part of ["fields", "changes"]) {
        const values = event["data"][part] as Record<string, unknown> | undefined
        if (values === undefined) continue
        for (const field of IDENTIFIER_FIELDS) expect(Object.keys(values), `${event["id"]} ${part}`).not.toContain(field)
        for (const comment of (values["comments"] as Array<Record<string, unknown>> | undefined) ?? []) {
          expect(Object.keys(comment)).not.toContain("author")
        }
      }
    }
  })

  it("T4: every timestamp (event at, issue fields, comments, meta publishedAt, commit dates) is 00:00:00 of its day", async () => {
    const source = await sourceEvents()
    const timestamps: Array<{ path: string; value: string }> = []
    for (const batch of branchBatches(ep.T4.path, s.townId)) {
      expect(batch.meta["publishedAt"]).toMatch(/^\d{4}-\d{2}-\d{2}T00:00:00Z$/)
      for (const event of batch.events) {
        // The day is the source's day.
        expect(event["at"].slice(0, 10)).toBe(source.get(event["id"])!["at"].slice(0, 10))
        const found = stringsIn(event, event["id"]).filter((s) => /^\d{4}-\d{2}-\d{2}T/.test(s.value))
        // Dependencies are checked on their own (below).
        timestamps.push(...found.filter((t) => !t.path.includes(".dependencies[")))
      }
    }
    expect(timestamps.length).toBeGreaterThan(20)
    for (const t of timestamps) expect(t.value, t.path).toMatch(/^\d{4}-\d{2}-\d{2}T00:00:00Z$/)
    expect(timestamps.map((t) => t.path)).toEqual(expect.arrayContaining([
      expect.stringMatching(/\.at$/),
      expect.stringMatching(/\.fields\.created_at$/),
      expect.stringMatching(/\.fields\.updated_at$/),
      expect.stringMatching(/\.fields\.deleted_at$/),
      expect.stringMatching(/\.changes\.closed_at$/),
      expect.stringMatching(/\.comments\[0\]\.created_at$/)
    ]))
    const dates = git(ep.T4.path, ["log", "--format=%aI%n%cI", `refs/beads/towns/${s.townId}`]).split("\n")
    expect(dates.length).toBe(4)
    for (const date of dates) expect(date).toMatch(/^\d{4}-\d{2}-\d{2}T00:00:00(Z|\+00:00)$/)
    // And not at T3, where times stay as they are.
    const t3 = git(ep.T3.path, ["log", "--format=%aI%n%cI", `refs/beads/towns/${s.townId}`]).split("\n")
    expect(t3.length).toBe(4)
  })

  // beads writes `created_by` (a person) and `created_at` in every dependency
  // record; they name and time people like the issue's own fields do.
  it("T3: the person in a dependency record is not published as they are", () => {
    expect(everything("T1").includes(DEPENDER)).toBe(true)
    expect(everything("T3").includes(DEPENDER), "T3 publishes dependencies[].created_by as it is").toBe(false)
  })

  it("T4: the person in a dependency record is not published, and its time is cut to the day", () => {
    expect(everything("T4").includes(DEPENDER), "T4 publishes dependencies[].created_by as it is").toBe(false)
    const dep = eventsAt("T4").find((e) => e["data"]["id"] === "so-dep1")!
    const times = stringsIn(dep["data"]["fields"]["dependencies"], "dependencies").filter((x) => /^\d{4}-\d{2}-\d{2}T/.test(x.value))
    expect(times.length).toBe(1)
    for (const t of times) expect(t.value, t.path).toMatch(/T00:00:00Z$/)
  })

  it("the receiving town ingests the T3 data: `bd show` shows pseudonyms", async () => {
    const pulled = await r.json(["federation", "pull"])
    expect(pulled.peers[0]).toMatchObject({ ok: true, batches: 2 })
    const alpha = await r.show(ids["alpha"]!)
    expect(alpha).toMatchObject({
      title: "alpha task",
      assignee: pseudonymOf(s, PEOPLE.laterAssignee),
      owner: pseudonymOf(s, PEOPLE.owner),
      created_by: pseudonymOf(s, PEOPLE.actor)
    })
    expect(await r.show(ids["beta"]!)).toMatchObject({ assignee: pseudonymOf(s, PEOPLE.assignee), status: "closed" })
    const text = await r.ok(["show", ids["beta"]!])
    expect(text.stdout).toContain(`Assignee: ${pseudonymOf(s, PEOPLE.assignee)}`)
    const everythingAtR = (await r.list()).map((i) => JSON.stringify(i)).join("\n")
    for (const id of IDENTIFIERS) expect(everythingAtR).not.toContain(id)
  })

  it("`bd federation status` shows each peer's tier", async () => {
    const status = await s.json<Array<{ peer: string; sovereignty: string }>>(["federation", "status"])
    expect(status.map((p) => [p.peer, p.sovereignty]).sort()).toEqual([["t1", "T1"], ["t2", "T2"], ["t3", "T3"], ["t4", "T4"]])
  })
})

describe("federation.exclude_types", () => {
  it("no issue of an excluded type reaches any endpoint, at any tier; the others do", () => {
    for (const tier of ["T1", "T2", "T3", "T4"] as const) {
      const raw = everything(tier)
      for (const absent of [CHORE_TITLE, IMPORTED_CHORE_TITLE, ids["chore"]!, "so-chore9"]) {
        expect(raw.includes(absent), `${tier} holds ${absent}`).toBe(false)
      }
      for (const present of ["alpha task", "beta task", "imported with people", ids["alpha"]!, ids["beta"]!]) {
        expect(raw.includes(present), `${tier} lacks ${present}`).toBe(true)
      }
      expect(eventsAt(tier).filter(isChoreEvent), tier).toEqual([])
    }
  })

  it("the excluded issues stay in the source town", async () => {
    const titles = (await s.list()).map((i) => i["title"])
    expect(titles).toEqual(expect.arrayContaining([`${CHORE_TITLE}, renamed`, IMPORTED_CHORE_TITLE]))
    const received = (await r.list()).map((i) => i["title"])
    expect(received).not.toContain(`${CHORE_TITLE}, renamed`)
    expect(received).not.toContain(IMPORTED_CHORE_TITLE)
  })
})
