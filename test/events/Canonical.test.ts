import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import { type ByteSink, canonicalJson, writeCanonicalJson } from "../../src/events/Canonical.js"
import { jsonLike } from "../support/jsonArbitraries.js"

/** The definition, written out member by member: what every fast path must reproduce byte for byte. */
const reference = (value: unknown): string => {
  if (value === null || typeof value !== "object") {
    const text = JSON.stringify(value)
    if (text === undefined) throw new TypeError(`not representable in JSON: ${String(value)}`)
    return text
  }
  // A hole is null, as JSON writes it (Array.from reads a hole as undefined).
  if (Array.isArray(value)) return `[${Array.from(value, (item) => (item === undefined ? "null" : reference(item))).join(",")}]`
  const record = value as Record<string, unknown>
  const members = Object.keys(record)
    .sort()
    .filter((key) => record[key] !== undefined)
    .map((key) => `${JSON.stringify(key)}:${reference(record[key])}`)
  return `{${members.join(",")}}`
}

/** Keys that sort and enumerate differently, escape, or name Object's own members. */
const key = fc.oneof(
  fc.string(),
  fc.constantFrom("0", "1", "9", "10", "01", "-1", "1.5", "4294967295", "__proto__", "constructor", "toJSON", "", "é", "\u2028", "\ud800", "a\"b"),
  fc.nat().map(String)
)

const jsonValue = jsonLike(
  fc.oneof(fc.string(), fc.fullUnicodeString(), fc.string({ minLength: 20, maxLength: 60 }), fc.fullUnicodeString({ minLength: 20, maxLength: 60 })),
  key
)

/**
 * What `writeCanonicalJson` writes into a sink whose buffer starts with
 * `start` bytes and is replaced by a larger one, carrying over what was
 * written, each time more room is asked for than it has.
 */
const written = (value: unknown, start: number): Buffer => {
  const sink: ByteSink = {
    buffer: Buffer.alloc(start),
    used: 0,
    room: (bytes) => {
      if (sink.buffer.length - sink.used >= bytes) return
      const next = Buffer.alloc(sink.used + bytes)
      sink.buffer.copy(next, 0, 0, sink.used)
      sink.buffer = next
    }
  }
  writeCanonicalJson(sink, value)
  return sink.buffer.subarray(0, sink.used)
}

describe("canonicalJson", () => {
  it.prop("equals the member-by-member definition for JSON-like values", [jsonValue], ([value]) => {
    if (value === undefined) {
      expect(() => canonicalJson(value)).toThrow(TypeError)
      return
    }
    expect(canonicalJson(value)).toBe(reference(value))
  }, { fastCheck: { numRuns: 2000 } })

  it.prop("written into bytes, any JSON-like value gives the UTF-8 of its canonical JSON, whatever room the sink starts with", [
    jsonValue,
    fc.nat({ max: 64 })
  ], ([value, start]) => {
    if (value === undefined) {
      expect(() => written(value, start)).toThrow(TypeError)
      return
    }
    expect(written(value, start).toString("utf8")).toBe(reference(value))
  }, { fastCheck: { numRuns: 2000 } })

  it("written into bytes: long and short strings, escapes, characters beyond ASCII, and what native JSON treats otherwise", () => {
    const record = JSON.parse("{\"z\":[\"b\",{\"y\":1,\"x\":null}],\"10\":\"ü\u2028\",\"9\":true,\"__proto__\":{\"b\":2,\"a\":1}}")
    const long = `${"x".repeat(30)}`
    const values: ReadonlyArray<unknown> = [
      record,
      { plain: long, quote: `${long}"`, slash: `${long}\\`, control: `${long}\n`, del: `\u007f${long}`, accent: `${long}é`, lone: `${long}\ud800` },
      ["\"", "\\", "\t", "\u2029", "😀", "\udc00", ""],
      { at: new Date(0), list: [1, undefined, -0, 1e21, Number.NaN] },
      // eslint-disable-next-line no-sparse-arrays
      { holes: [1, , 2] },
      { toJSON: "kept", b: 1 },
      [{ toJSON: () => "never called", z: 1 }].map(({ z }) => ({ z, nested: Object.assign([3, 4], { toJSON: "ignored" }) })),
      { map: new Map([[1, 2]]), instance: new (class { b = 2; a = [1] })(), bytes: new Uint8Array([7, 8]) }
    ]
    for (const value of values) expect(written(value, 0).toString("utf8")).toBe(reference(value))
    expect(() => written({ f: () => 1 }, 0)).toThrow(TypeError)
  })

  it("sorts keys by code unit, integer-like keys included, and drops undefined members", () => {
    expect(canonicalJson({ b: 1, a: [undefined, { d: undefined, c: "x" }], 10: true, 9: false })).toBe(
      "{\"10\":true,\"9\":false,\"a\":[null,{\"c\":\"x\"}],\"b\":1}"
    )
  })

  it("keeps a member named __proto__ as a member", () => {
    const record = JSON.parse("{\"z\":1,\"__proto__\":{\"b\":2,\"a\":1}}")
    expect(canonicalJson(record)).toBe("{\"__proto__\":{\"a\":1,\"b\":2},\"z\":1}")
  })

  it("serialises what native JSON would not the same way as before: dates as their members; a hole as null, as JSON does, so the text stays JSON", () => {
    expect(canonicalJson({ at: new Date(0) })).toBe(reference({ at: new Date(0) }))
    // eslint-disable-next-line no-sparse-arrays
    expect(canonicalJson([1, , 2])).toBe("[1,null,2]")
    // eslint-disable-next-line no-sparse-arrays
    expect(canonicalJson({ holes: [, "a", , ] })).toBe(JSON.stringify({ holes: [null, "a", null] }))
    expect(canonicalJson({ toJSON: "kept", b: 1 })).toBe("{\"b\":1,\"toJSON\":\"kept\"}")
    expect(() => canonicalJson({ f: () => 1 })).toThrow(TypeError)
    expect(() => canonicalJson([Symbol("s")])).toThrow(TypeError)
  })
})
