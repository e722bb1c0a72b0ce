/** The checks of a fetched batch (`batchProblem`): what makes one unfit to ingest. */
import { describe, expect, it } from "@effect/vitest"
import { BATCH_VERSION, type BatchMeta, batchProblem, missingDependency } from "../../src/domain/Batch.js"
import type { ForeignEvent } from "../../src/events/Envelope.js"

const TOWN = "0123456789abcdef"

const event = (townSeq: number): ForeignEvent => ({
  id: `${TOWN}:${townSeq}`,
  town: TOWN,
  townSeq,
  lamport: townSeq,
  seen: {},
  type: "IssueUpdated",
  at: "2025-01-06T09:00:00.000Z",
  actor: "alice",
  data: { id: "bd-1", changes: { title: `title ${townSeq}` } }
})

const meta = (events: ReadonlyArray<ForeignEvent>): BatchMeta => ({
  version: BATCH_VERSION,
  town: TOWN,
  batch: 1,
  first: events[0]!.townSeq,
  last: events[events.length - 1]!.townSeq,
  count: events.length,
  total: events.length,
  eventsHash: "0".repeat(64),
  publishedAt: "2025-01-06T09:00:00.000Z",
  tier: "T1"
})

describe("batchProblem", () => {
  it("finds nothing wrong with a town's first batch of events in order", () => {
    const events = [event(1), event(2), event(5)]
    expect(batchProblem(TOWN, meta(events), events, undefined)).toBeUndefined()
  })

  it("refuses an event whose townSeq is not a whole number, even when its id matches it", () => {
    for (const townSeq of [1.5, Number.MAX_SAFE_INTEGER + 2]) {
      const events = [event(1), event(townSeq)]
      expect(batchProblem(TOWN, meta(events), events, undefined)).toBe(`event ${TOWN}:${townSeq} has a townSeq that is not a whole number`)
    }
  })
})

describe("missingDependency", () => {
  it("waits for a town the event saw and this town lacks, a town named like a member of Object included", () => {
    for (const town of ["fedcba9876543210", "valueOf", "__proto__", "constructor"]) {
      const seen = JSON.parse(`{${JSON.stringify(town)}:3}`) as Record<string, number>
      const waiting = { ...event(4), seen }
      expect(missingDependency(waiting, {}, "ownTown")).toBe(town)
      expect(missingDependency(waiting, JSON.parse(`{${JSON.stringify(town)}:3}`) as Record<string, number>, "ownTown")).toBeUndefined()
    }
  })
})
