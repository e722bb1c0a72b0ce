import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc, Option } from "effect"
import { compareText, isInstant, parseInstant, sortTexts } from "../../src/domain/IssueFields.js"

describe("sortTexts", () => {
  it.prop("orders like sort(compareText), short lists and long", [fc.array(fc.fullUnicodeString(), { maxLength: 60 })], ([texts]) => {
    expect(sortTexts([...texts])).toEqual([...texts].sort(compareText))
  })
})

describe("isInstant", () => {
  const pad = (n: number, width: number) => String(n).padStart(width, "0")
  /** Date-times near the valid ones: numbers out of range, other separators, fractions and zones, cut or extended. */
  const nearInstant = fc.tuple(
    fc.integer({ min: 0, max: 9999 }), fc.integer({ min: 0, max: 13 }), fc.integer({ min: 0, max: 32 }),
    fc.constantFrom("T", "t", " ", "x"), fc.integer({ min: 0, max: 25 }), fc.integer({ min: 0, max: 61 }), fc.integer({ min: 0, max: 61 }),
    fc.constantFrom("", ".5", ".123456789123", ".", ".x"),
    fc.constantFrom("Z", "z", "+02:00", "-23:59", "+24:00", "-05:60", "+0200", "", "Zz", "+02:00 ", "x"),
    fc.constantFrom("", "-", "1")
  ).map(([y, mo, d, sep, h, mi, s, fraction, zone, extra]) =>
    `${pad(y, 4)}-${pad(mo, 2)}-${pad(d, 2)}${sep}${pad(h, 2)}:${pad(mi, 2)}:${pad(s, 2)}${fraction}${zone}`.slice(0, extra === "-" ? -1 : undefined) + (extra === "1" ? "1" : ""))

  it.prop("accepts exactly what parseInstant reads", [fc.oneof(nearInstant, fc.string(), fc.stringOf(fc.constantFrom(..."0123456789-:Tt Zz+.")))], ([text]) => {
    expect(isInstant(text)).toBe(Option.isSome(parseInstant(text)))
  }, { fastCheck: { numRuns: 5000 } })

  it("knows leap years", () => {
    expect(isInstant("2024-02-29T00:00:00Z")).toBe(true)
    expect(isInstant("2100-02-29T00:00:00Z")).toBe(false)
    expect(isInstant("2000-02-29T23:59:60.5+01:00")).toBe(true)
  })
})
