/**
 * The snapshot entries of the issues slice (`encodeIssueEntries`): each is
 * the JSON of the encoded issue, or, for an issue still exactly as the event
 * that made it left it, a reference to that event's line, which a reader
 * turns back into the same entry (`entryOf`).
 */
import { describe, expect, it } from "@effect/vitest"
import { encodeIssues, IssuesSlice } from "../../src/domain/IssueState.js"
import type { Envelope, NewEvent } from "../../src/events/Envelope.js"
import type { LineOrigin, LineRef, OriginOf } from "../../src/events/Slice.js"
import { AT, foldAll, seal } from "./IssueFixtures.js"

const entries = IssuesSlice.entries!

const imported = (id: string, fields: Record<string, unknown>): NewEvent => ({
  type: "IssueImported",
  at: AT,
  actor: "importer",
  data: { fields: { id, ...fields }, id }
})

/** The lines of these origins, as the log gives them: for the event named, when its origin key is the object. */
const lookup = (origins: WeakMap<object, LineOrigin>): OriginOf => (key, event) => {
  const origin = origins.get(key)
  return origin !== undefined && origin.event === event ? origin.ref : undefined
}

/** Where the log would say each event's line is: here, made-up places numbered by position. */
const originsOf = (events: ReadonlyArray<Envelope>): OriginOf => {
  const origins = new WeakMap<object, LineOrigin>()
  events.forEach((event, i) => {
    const key = entries.originKey(event)
    if (key !== undefined) origins.set(key, { ref: { segment: 1, offset: 1000 * i, length: 10 + i, seq: i + 1 }, event: event.id })
  })
  return lookup(origins)
}

const json = (value: unknown): unknown => JSON.parse(JSON.stringify(value))

describe("encodeIssueEntries", () => {
  it("gives each issue's encoded JSON in id order, or a reference to the event that made an issue no later event changed", () => {
    const before = [seal(imported("bd-old", { title: "Before the group" }), "town-a", 1)]
    const group = [
      seal(imported("bd-f1", { title: "Foreign one" }), "town-b", 5),
      seal(imported("bd-f2", { title: "Foreign two", labels: ["x"] }), "town-b", 9),
      seal(imported("bd-a1", { title: "Own one" }), "town-a", 3),
      seal(imported("bd-\u00e9\u4e2d", { title: "\u00dcber \u4e2d\u6587 \ud83d\ude00" }), "town-a", 4),
      seal({ type: "IssueUpdated", at: AT, actor: "bob", data: { id: "bd-a1", changes: { title: "Own one, renamed" } } }, "town-a", 5)
    ]
    const state = foldAll(group, foldAll(before))
    const encoded = entries.encodeEntries(state, originsOf(group))
    const expected = encodeIssues(state)
    expect(encoded.keys).toEqual(["bd-a1", "bd-f1", "bd-f2", "bd-old", "bd-\u00e9\u4e2d"])
    const texts = encoded.keys.map((_, i) => encoded.textAt(i))
    // A reference for the issues made in the group and unchanged since; a text for the renamed one and the one whose event the log did not say.
    expect(texts.map((text) => typeof text)).toEqual(["string", "object", "object", "string", "object"])
    expect(texts.filter((text): text is LineRef => typeof text !== "string").map((ref) => ref.seq)).toEqual([1, 2, 4])
    texts.forEach((text, i) => {
      // A reference stands for what its event alone folds to: the same entry the state has.
      const entry = typeof text === "string" ? JSON.parse(text) : json(entries.entryOf(group[text.seq - 1]!)!.entry)
      expect(entry).toEqual(json(expected[i]))
    })
    expect(encoded.columnsAt(0)).toEqual([null, null, null])
  })

  it("writes no reference for an origin whose event is not the one that stamped the fields", () => {
    const group = [seal(imported("bd-a", { title: "One", status: "open" }), "town-a", 1)]
    const state = foldAll(group)
    const origins = new WeakMap<object, LineOrigin>()
    origins.set(entries.originKey(group[0]!)!, { ref: { segment: 1, offset: 0, length: 10, seq: 1 }, event: "town-z:1" })
    const encoded = entries.encodeEntries(state, lookup(origins))
    expect(typeof encoded.textAt(0)).toBe("string")
    expect(JSON.parse(encoded.textAt(0) as string)).toEqual(json(encodeIssues(state)[0]))
    expect(encoded.columnsAt(0)).toEqual(["open", null, null])
  })

  it("makes entries only of creations and imports", () => {
    const created = seal({ type: "IssueCreated", at: AT, actor: "alice", data: { fields: { id: "bd-c", title: "New" }, id: "bd-c" } }, "town-a", 2)
    expect(entries.entryOf(created)).toEqual({ key: "bd-c", entry: json(encodeIssues(foldAll([created]))[0]) })
    const updated = seal({ type: "IssueUpdated", at: AT, actor: "alice", data: { id: "bd-c", changes: { title: "Renamed" } } }, "town-a", 3)
    expect(entries.originKey(updated)).toBeUndefined()
    expect(entries.entryOf(updated)).toBeUndefined()
    expect(entries.entryOf(seal({ type: "IssueImported", at: AT, actor: "alice", data: { id: "bd-x", fields: "not fields" } }, "town-a", 4)))
      .toBeUndefined()
  })
})
