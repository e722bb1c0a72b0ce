/**
 * The snapshot entries of the issues slice (`encodeIssueEntries`): each is
 * the JSON of the encoded issue, and an issue whose fields are still the
 * object an event of the group just sealed carried takes that event's bytes.
 */
import { describe, expect, it } from "@effect/vitest"
import { encodeIssues, IssuesSlice } from "../../src/domain/IssueState.js"
import { canonicalJson } from "../../src/events/Canonical.js"
import type { NewEvent } from "../../src/events/Envelope.js"
import type { EntryText } from "../../src/events/Slice.js"
import { AT, foldAll, seal } from "./IssueFixtures.js"

const imported = (id: string, fields: Record<string, unknown>): NewEvent => ({
  type: "IssueImported",
  at: AT,
  actor: "importer",
  data: { fields: { id, ...fields }, id }
})

const textOf = (text: EntryText): string =>
  typeof text === "string" ? text : `${text.head}${Buffer.from(text.bytes).toString("utf8")}${text.tail}`

describe("encodeIssueEntries", () => {
  it("gives each issue's encoded JSON in id order, copying the sealed bytes of fields no later event replaced", () => {
    const before = [seal(imported("bd-old", { title: "Before the group" }), "town-a", 1)]
    // A sync's foreign events first (townSeqs not consecutive), then this town's own, consecutive.
    const group = [
      seal(imported("bd-f1", { title: "Foreign one" }), "town-b", 5),
      seal(imported("bd-f2", { title: "Foreign two", labels: ["x"] }), "town-b", 9),
      seal(imported("bd-a1", { title: "Own one" }), "town-a", 3),
      seal(imported("bd-\u00e9\u4e2d", { title: "\u00dcber \u4e2d\u6587 \ud83d\ude00" }), "town-a", 4),
      seal({ type: "IssueUpdated", at: AT, actor: "bob", data: { id: "bd-a1", changes: { title: "Own one, renamed" } } }, "town-a", 5)
    ]
    const state = foldAll(group, foldAll(before))
    const dataBytes = (position: number) => Buffer.from(canonicalJson(group[position]!.data))
    const encoded = IssuesSlice.entries!.encodeEntries(state, group, dataBytes)
    const expected = encodeIssues(state)
    expect(encoded.keys).toEqual(["bd-a1", "bd-f1", "bd-f2", "bd-old", "bd-\u00e9\u4e2d"])
    encoded.keys.forEach((_, i) => {
      expect(JSON.parse(textOf(encoded.textAt(i)))).toEqual(JSON.parse(JSON.stringify(expected[i])))
    })
    // Bytes for the issues created in the group and unchanged since; a text for the renamed one and the one from before.
    expect(encoded.keys.map((_, i) => typeof encoded.textAt(i) !== "string")).toEqual([false, true, true, false, true])
    expect(encoded.columnsAt(0)).toEqual([null, null, null])
  })

  it("finds the events of a group of another town's events only, whose townSeqs have gaps", () => {
    const group = [
      seal(imported("bd-b1", { title: "One" }), "town-b", 2),
      seal(imported("bd-b2", { title: "Two" }), "town-b", 7),
      seal(imported("bd-b3", { title: "Three" }), "town-b", 8)
    ]
    const state = foldAll(group)
    const encoded = IssuesSlice.entries!.encodeEntries(state, group, (position) => Buffer.from(canonicalJson(group[position]!.data)))
    expect(encoded.keys.map((_, i) => typeof encoded.textAt(i) !== "string")).toEqual([true, true, true])
    encoded.keys.forEach((_, i) => {
      expect(JSON.parse(textOf(encoded.textAt(i)))).toEqual(JSON.parse(JSON.stringify(encodeIssues(state)[i])))
    })
  })

  it("takes no bytes when the data of the event a stamp names is not the fields' text", () => {
    const group = [seal(imported("bd-a", { title: "One", status: "open" }), "town-a", 1)]
    const state = foldAll(group)
    const encoded = IssuesSlice.entries!.encodeEntries(state, group, () => undefined)
    expect(typeof encoded.textAt(0)).toBe("string")
    expect(JSON.parse(textOf(encoded.textAt(0)))).toEqual(JSON.parse(JSON.stringify(encodeIssues(state)[0])))
    expect(encoded.columnsAt(0)).toEqual(["open", null, null])
  })
})
