import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import { canonicalJson, canonicalJsonVerbatim, canonicalObject } from "../../src/events/Canonical.js"
import { jsonLike } from "../support/jsonArbitraries.js"

/** The definition, written out member by member: what every fast path must reproduce byte for byte. */
const reference = (value: unknown): string => {
  if (value === null || typeof value !== "object") {
    const text = JSON.stringify(value)
    if (text === undefined) throw new TypeError(`not representable in JSON: ${String(value)}`)
    return text
  }
  if (Array.isArray(value)) return `[${value.map((item) => (item === undefined ? "null" : reference(item))).join(",")}]`
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

const jsonValue = jsonLike(fc.oneof(fc.string(), fc.fullUnicodeString()), key)

describe("canonicalJson", () => {
  it.prop("equals the member-by-member definition for JSON-like values", [jsonValue], ([value]) => {
    if (value === undefined) {
      expect(() => canonicalJson(value)).toThrow(TypeError)
      return
    }
    expect(canonicalJson(value)).toBe(reference(value))
  }, { fastCheck: { numRuns: 2000 } })

  it.prop("an object from its members' texts, keys in order, is the canonical JSON of the object", [fc.dictionary(key, jsonValue)], ([record]) => {
    const keys = Object.keys(record).sort()
    const members = keys.map((name) => [name, record[name] === undefined ? undefined : canonicalJson(record[name])] as const)
    expect(canonicalObject(members)).toBe(reference(record))
  }, { fastCheck: { numRuns: 500 } })

  it.prop("written verbatim, a value whose strings need no escaping has the same canonical JSON", [jsonValue], ([value]) => {
    // The definition escapes only inside strings: no backslash in its text means every string is verbatim.
    if (value === undefined || reference(value).includes("\\")) return
    expect(canonicalJsonVerbatim(value)).toBe(reference(value))
  }, { fastCheck: { numRuns: 2000 } })

  it("written verbatim: nested records and arrays in key order, and what native JSON treats otherwise as before", () => {
    const record = JSON.parse("{\"z\":[\"b\",{\"y\":1,\"x\":null}],\"10\":\"ü\u2028\",\"9\":true,\"__proto__\":{\"b\":2,\"a\":1}}")
    expect(canonicalJsonVerbatim(record)).toBe(reference(record))
    expect(canonicalJsonVerbatim({ at: new Date(0), list: [1, undefined] })).toBe(reference({ at: new Date(0), list: [1, undefined] }))
    // eslint-disable-next-line no-sparse-arrays
    expect(canonicalJsonVerbatim({ holes: [1, , 2] })).toBe(reference({ holes: [1, , 2] }))
    expect(() => canonicalJsonVerbatim({ f: () => 1 })).toThrow(TypeError)
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

  it("serialises what native JSON would not the same way as before: dates as their members, holes as nothing", () => {
    expect(canonicalJson({ at: new Date(0) })).toBe(reference({ at: new Date(0) }))
    // eslint-disable-next-line no-sparse-arrays
    expect(canonicalJson([1, , 2])).toBe(reference([1, , 2]))
    expect(canonicalJson({ toJSON: "kept", b: 1 })).toBe("{\"b\":1,\"toJSON\":\"kept\"}")
    expect(() => canonicalJson({ f: () => 1 })).toThrow(TypeError)
    expect(() => canonicalJson([Symbol("s")])).toThrow(TypeError)
  })
})
