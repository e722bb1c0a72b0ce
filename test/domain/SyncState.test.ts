/**
 * The sync slice (src/domain/SyncState.ts): folding a write group at once
 * (`evolveAll`, the shared counts copied once) gives what folding it event
 * by event does, whatever the towns are named.
 */
import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import { evolveSync, initialSync, SyncSlice } from "../../src/domain/SyncState.js"
import type { Envelope } from "../../src/events/Envelope.js"

const town = fc.constantFrom("0123456789abcdef", "fedcba9876543210", "__proto__", "constructor", "valueOf")

const event: fc.Arbitrary<Envelope> = fc.record({
  type: fc.constantFrom("IssueImported", "IssueUpdated", "PushCompleted", "PullCompleted", "SyncCompleted", "PushFailed", "PeerRemoved", "PeerAdded"),
  town,
  peer: fc.constantFrom("origin", "other"),
  at: fc.constantFrom("2025-01-06T09:00:00.000Z", "2025-01-07T09:00:00.000Z"),
  publishedSeq: fc.nat({ max: 50 })
}).map(({ at, peer, publishedSeq, town, type }) => ({
  seq: 1,
  id: `${town}:1`,
  town,
  townSeq: 1,
  lamport: 1,
  seen: {},
  type,
  at,
  actor: "alice",
  data: type.startsWith("Issue") ? { id: "bd-1" } : { peer, publishedSeq, message: "down" },
  prev: "",
  hash: ""
}))

describe("SyncSlice", () => {
  it.prop("folds a group at once as it folds it event by event", [fc.array(fc.array(event, { maxLength: 12 }), { maxLength: 4 })], ([groups]) => {
    let byEvent = initialSync
    let byGroup = initialSync
    for (const group of groups) {
      for (const e of group) byEvent = evolveSync(byEvent, e)
      byGroup = SyncSlice.evolveAll!(byGroup, group)
    }
    expect(byGroup).toEqual(byEvent)
    // A town named like a member of Object is counted as any other.
    const count = (name: string) => groups.flat().filter((e) => e.town === name && e.type.startsWith("Issue")).length
    for (const name of ["__proto__", "constructor", "valueOf"]) {
      expect(Object.hasOwn(byGroup.shared, name) ? byGroup.shared[name] : 0).toBe(count(name))
    }
  }, { fastCheck: { numRuns: 300 } })
})
