import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import { compareText, sortTexts } from "../../src/domain/IssueFields.js"

describe("sortTexts", () => {
  it.prop("orders like sort(compareText), short lists and long", [fc.array(fc.fullUnicodeString(), { maxLength: 60 })], ([texts]) => {
    expect(sortTexts([...texts])).toEqual([...texts].sort(compareText))
  })
})
