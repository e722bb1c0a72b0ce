import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import { initialClock } from "../../src/domain/Clock.js"
import { sealLine } from "../../src/events/Chain.js"
import { type Envelope, type ForeignEvent, GENESIS_HASH, type NewEvent } from "../../src/events/Envelope.js"
import type { LogHead } from "../../src/events/EventLog.js"
import { type SealedGroup, sealGroup } from "../../src/layers/LogSeal.js"
import { jsonLike } from "../support/jsonArbitraries.js"

/** Texts that escape, need several UTF-8 bytes, or are lone surrogates; short, and long enough to be copied natively. */
const text = fc.oneof(
  fc.string(),
  fc.fullUnicodeString(),
  fc.string({ minLength: 20, maxLength: 60 }),
  fc.fullUnicodeString({ minLength: 20, maxLength: 60 }),
  fc.constantFrom("", "alice", "é", "\u2028", "\ud800", "\udc00x", "a\"b", "back\\slash", "tab\t", "日本", "😀", "10", "__proto__"),
  fc.constantFrom(`${"x".repeat(40)}"`, `${"y".repeat(40)}é`, `\u007f${"z".repeat(40)}`, `${"w".repeat(40)}\ud800`)
)

const key = fc.oneof(text, fc.constantFrom("0", "10", "01", "id", "fields", "__proto__", "constructor", "toJSON"), fc.nat().map(String))

const newEvent: fc.Arbitrary<NewEvent> = fc.record({
  type: fc.oneof(fc.constantFrom("IssueImported", "IssueCreated"), text),
  data: jsonLike(text, key),
  at: fc.oneof(fc.constant("2025-01-06T09:00:00.000Z"), text),
  actor: fc.oneof(fc.constant("alice"), text)
})

/** The definition: each line the canonical JSON of its envelope, chained after the one before. */
const definition = (town: string, head: LogHead, events: ReadonlyArray<NewEvent>): string => {
  let prev = head.hash
  let lines = ""
  events.forEach((event, i) => {
    const seq = head.seq + i + 1
    const envelope = {
      id: `${town}:${i + 1}`,
      town,
      townSeq: i + 1,
      lamport: i + 1,
      seen: i === 0 ? {} : { [town]: i },
      type: event.type,
      at: event.at,
      actor: event.actor,
      data: event.data,
      seq,
      prev,
      ...(i === events.length - 1 ? { commit: true } : {})
    }
    const { hash, line } = sealLine(envelope as Omit<Envelope, "hash">)
    lines += `${line}\n`
    prev = hash
  })
  return lines
}

describe("sealGroup", () => {
  it.prop("writes the canonical line of each own event, chained, and knows where each line lies", [
    // A town id is 16 hex digits; others test the escaping, and names Object has (the clock counts only a vector's own members).
    fc.oneof(fc.constantFrom("0123456789abcdef", "tówn", "t\"q", "\ud800", "10", "__proto__", "valueOf", "constructor"), text),
    fc.oneof(
      fc.constant({ seq: 0, hash: GENESIS_HASH }),
      fc.record({ seq: fc.nat(), hash: fc.hexaString({ minLength: 64, maxLength: 64 }).map((hex) => hex.toLowerCase()) }),
      // Not a hash this log writes, but its text and bytes are still the definition's.
      fc.record({ seq: fc.nat(), hash: text })
    ),
    fc.array(newEvent, { minLength: 1, maxLength: 6 })
  ], ([town, head, events]) => {
    const sealed = sealGroup(town, head, initialClock, [], events)
    const bytes = Buffer.concat(sealed.chunks)
    const expected = definition(town, head, events)
    expect(bytes.toString("utf8")).toBe(expected)
    expectLinesWhereSaid(bytes, sealed, expected.split("\n").slice(0, -1))
  }, { fastCheck: { numRuns: 1000 } })

  it("knows where the lines of a sync's foreign events lie, and those of own events after them, across chunks", () => {
    const foreign = Array.from({ length: 3 }, (_, i): ForeignEvent => ({
      id: `other:${i + 1}`,
      town: "other",
      townSeq: i + 1,
      lamport: i + 1,
      seen: i === 0 ? {} : { other: i },
      type: "IssueImported",
      // Lines of 300 KB: a 1 MB chunk holds a few.
      data: { fields: { id: `bd-${i}`, description: "\u00e9".repeat(150_000) }, id: `bd-${i}` },
      at: "2025-01-06T09:00:00.000Z",
      actor: "bob"
    }))
    const own: ReadonlyArray<NewEvent> = Array.from({ length: 4 }, (_, i) => ({
      type: "IssueCreated",
      data: { fields: { id: `bd-own${i}`, title: "x".repeat(400_000) }, id: `bd-own${i}` },
      at: "2025-01-06T09:00:00.000Z",
      actor: "alice"
    }))
    const sealed = sealGroup("0123456789abcdef", { seq: 7, hash: GENESIS_HASH }, initialClock, foreign, own)
    expect(sealed.chunks.length).toBeGreaterThan(2)
    const bytes = Buffer.concat(sealed.chunks)
    const lines = bytes.toString("utf8").split("\n").slice(0, -1)
    expect(lines).toHaveLength(7)
    expectLinesWhereSaid(bytes, sealed, lines)
    expect(sealed.envelopes.map((event) => (JSON.parse(lines[event.seq - 8]!) as Envelope).id)).toEqual(sealed.envelopes.map((event) => event.id))
  })
})

/** Each line lies where `lineAt` says, in the group's bytes, and a newline follows it. */
const expectLinesWhereSaid = (bytes: Buffer, sealed: SealedGroup, lines: ReadonlyArray<string>): void => {
  expect(sealed.envelopes).toHaveLength(lines.length)
  sealed.envelopes.forEach((_, i) => {
    const { length, offset } = sealed.lineAt(i)
    expect(bytes.toString("utf8", offset, offset + length)).toBe(lines[i])
    expect(bytes[offset + length]).toBe(0x0a)
  })
}
