/**
 * Folding a more complete version of events already folded (EventsUpgraded)
 * gives the state that folding that version from the start would have given:
 * the winning values, the conflict heads and the open conflicts alike.
 */
import { HashSet } from "effect"
import { describe, expect, it } from "vitest"
import { encodeIssues, evolve, evolveAll, initialIssues, type IssuesState } from "../../src/domain/IssueState.js"
import type { Envelope, VersionVector } from "../../src/events/Envelope.js"

let seq = 0
const event = (town: string, townSeq: number, lamport: number, seen: VersionVector, type: string, data: unknown): Envelope => ({
  seq: ++seq,
  id: `${town}:${townSeq}`,
  town,
  townSeq,
  lamport,
  seen,
  type,
  data,
  at: "2026-11-25T10:00:00.000Z",
  actor: "someone",
  prev: "",
  hash: ""
})

/** A's events in one version: `person` renders the people A names (identity, a pseudonym, or removal). */
const eventsOfA = (person: (name: string) => string | undefined) => {
  const people = (fields: Record<string, string>) =>
    Object.fromEntries(Object.entries(fields).flatMap(([k, v]) => (person(v) === undefined ? [] : [[k, person(v)]])))
  return [
    event("A", 1, 1, {}, "IssueCreated", {
      id: "x-1",
      fields: { id: "x-1", title: "plan", status: "open", created_at: "2026-11-25T09:30:00Z", ...people({ assignee: "alice", created_by: "alice" }) }
    }),
    event("A", 2, 2, { A: 1 }, "IssueUpdated", { id: "x-1", changes: { ...people({ owner: "alice" }), priority: 1 } }),
    event("A", 3, 3, { A: 2 }, "IssueUpdated", { id: "x-1", changes: people({ reviewer: "dave" }) })
  ]
}

/** Other towns' events on the same issue: one that saw A:1 and changes the assignee, one concurrent with A:2 on owner. */
const others = [
  event("B", 1, 2, { A: 1 }, "IssueUpdated", { id: "x-1", changes: { assignee: "bob" } }),
  event("C", 1, 2, { A: 1 }, "IssueUpdated", { id: "x-1", changes: { owner: "carol" } })
]

const fold = (events: ReadonlyArray<Envelope>, from: IssuesState = initialIssues) => events.reduce(evolve, from)

const view = (state: IssuesState) => ({
  issues: encodeIssues(state),
  conflicts: Array.from(HashSet.values(state.conflicts)).sort()
})

const upgrade = (versions: ReadonlyArray<Envelope>, from: string): Envelope =>
  event("Z", 1, 9, {}, "EventsUpgraded", {
    town: "A",
    tier: "T1",
    from,
    events: versions.map(({ seq: _s, prev: _p, hash: _h, ...published }) => published)
  })

const full = eventsOfA((name) => name)
const tiers = {
  T3: eventsOfA((name) => `p-${name}`),
  T4: eventsOfA(() => undefined)
}

describe("EventsUpgraded", () => {
  for (const [tier, lesser] of Object.entries(tiers)) {
    for (const [order, arrange] of [
      ["A's events first", (a: ReadonlyArray<Envelope>) => [...a, ...others]],
      ["the others first", (a: ReadonlyArray<Envelope>) => [...others, ...a]],
      ["interleaved", (a: ReadonlyArray<Envelope>) => [a[0]!, others[0]!, a[1]!, others[1]!, a[2]!]]
    ] as const) {
      it(`${tier} version, then T1: the state of T1 all along (${order})`, () => {
        const expected = view(fold(arrange(full)))
        const upgraded = view(fold([upgrade(full, tier)], fold(arrange(lesser))))
        expect(upgraded).toEqual(expected)
        // The owner conflict (A:2 against C:1) is open either way, with A's real value in its heads.
        expect(upgraded.conflicts).toEqual(["x-1/owner"])
      })
    }
  }

  it("without an upgrade, the versions differ (the check above can fail)", () => {
    expect(view(fold([...tiers.T3, ...others]))).not.toEqual(view(fold([...full, ...others])))
  })

  it("folded as one write group (evolveAll, a map edited in place), the same state", () => {
    const events = [...tiers.T4, ...others, upgrade(full, "T4")]
    expect(view(evolveAll(initialIssues, events))).toEqual(view(fold(events)))
    expect(view(evolveAll(initialIssues, events))).toEqual(view(fold([...full, ...others])))
  })

  it("folding the same upgrade twice changes nothing more", () => {
    const once = fold([upgrade(full, "T3")], fold([...tiers.T3, ...others]))
    expect(view(fold([upgrade(full, "T3")], once))).toEqual(view(once))
  })

  it("a later event still wins over an upgraded value", () => {
    const later = event("B", 2, 5, { A: 3, B: 1 }, "IssueUpdated", { id: "x-1", changes: { reviewer: "erin" } })
    const state = fold([upgrade(full, "T4")], fold([...tiers.T4, ...others, later]))
    expect(view(state)).toEqual(view(fold([...full, ...others, later])))
    expect(encodeIssues(state)[0]!.fields["reviewer"]).toBe("erin")
  })
})
