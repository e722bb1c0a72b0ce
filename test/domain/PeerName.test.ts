import { describe, expect, it } from "@effect/vitest"
import { Either, FastCheck, Schema } from "effect"
import { parsePeerName, PeerNameSchema } from "../../src/domain/PeerName.js"

const reasonFor = (text: string): string =>
  Either.match(parsePeerName(text), { onLeft: (error) => error.reason, onRight: () => "accepted" })

const LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
const NAME_CHARS = `${LETTERS}0123456789-_`
const isReserved = (name: string) => ["origin", "main", "master", "head"].includes(name.toLowerCase())

/** Names straight from the grammar: a letter, then up to 63 allowed characters. */
const validName = FastCheck.tuple(
  FastCheck.constantFrom(...LETTERS),
  FastCheck.string({ unit: FastCheck.constantFrom(...NAME_CHARS), maxLength: 63 })
).map(([first, rest]) => first + rest).filter((name) => !isReserved(name))

describe("parsePeerName", () => {
  it.each(["staging", "backup", "backup-s3", "local", "partner-town"])("accepts the seed's %s", (name) => {
    expect(parsePeerName(name)).toStrictEqual(Either.right(name))
  })

  it.each(["a", "Z9", "a".repeat(64), "origin2", "mainline", "HEADS", "my_peer", "x-"])("accepts %s", (name) => {
    expect(reasonFor(name)).toBe("accepted")
  })

  it.each([
    ["", "is empty"],
    ["1staging", "must start with a letter"],
    ["-staging", "must start with a letter"],
    ["_staging", "must start with a letter"],
    ["éclair", "must start with a letter"],
    ["my peer", "may contain only letters, digits, '-' and '_' (found ' ')"],
    ["my.peer", "may contain only letters, digits, '-' and '_' (found '.')"],
    ["peer/2", "may contain only letters, digits, '-' and '_' (found '/')"],
    ["café", "may contain only letters, digits, '-' and '_' (found 'é')"],
    ["tab\tbed", "may contain only letters, digits, '-' and '_' (found U+0009)"],
    ["line\n", "may contain only letters, digits, '-' and '_' (found U+000A)"],
    ["a".repeat(65), "is longer than 64 characters (found 65)"],
    ["origin", "is reserved"],
    ["Origin", "is reserved"],
    ["main", "is reserved"],
    ["MAIN", "is reserved"],
    ["master", "is reserved"],
    ["HEAD", "is reserved"],
    ["head", "is reserved"]
  ])("refuses %j: %s", (name, reason) => {
    const error = Either.getLeft(parsePeerName(name))
    expect(error._tag).toBe("Some")
    if (error._tag === "Some") {
      expect(error.value._tag).toBe("InvalidPeerName")
      expect(error.value.name).toBe(name)
      expect(error.value.reason).toBe(reason)
    }
  })

  it.prop("accepts and keeps every name of the grammar", [validName], ([name]) => {
    expect(parsePeerName(name)).toStrictEqual(Either.right(name))
  })

  it.prop(
    "refuses any string outside the grammar",
    [FastCheck.string({ unit: "binary", maxLength: 80 })],
    ([text]) => {
      const inGrammar = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/.test(text) && !isReserved(text)
      expect(Either.isRight(parsePeerName(text))).toBe(inGrammar)
    }
  )

  it.prop(
    "refuses a valid name with a forbidden character inserted",
    [validName, FastCheck.constantFrom(..." .,/:@!#é\t\n\u0000\u00a0"), FastCheck.nat()],
    ([name, bad, at]) => {
      const index = at % (name.length + 1)
      const text = name.slice(0, index) + bad + name.slice(index)
      expect(reasonFor(text)).toMatch(index === 0 ? /^must start with a letter$/ : /^may contain only letters/)
    }
  )

  it.prop(
    "refuses the reserved names in any case",
    [FastCheck.constantFrom("origin", "main", "master", "head"), FastCheck.array(FastCheck.boolean(), { minLength: 6, maxLength: 6 })],
    ([name, upper]) => {
      const cased = [...name].map((c, i) => (upper[i] ? c.toUpperCase() : c)).join("")
      expect(reasonFor(cased)).toBe("is reserved")
    }
  )
})

describe("PeerNameSchema", () => {
  it("decodes a valid name and encodes it back", () => {
    const name = Schema.decodeUnknownSync(PeerNameSchema)("partner-town")
    expect(name).toBe("partner-town")
    expect(Schema.encodeSync(PeerNameSchema)(name)).toBe("partner-town")
  })

  it.each([
    ["HEAD", "is reserved"],
    ["1x", "must start with a letter"],
    [42, "Expected string"]
  ])("refuses %j when decoding stored data", (input, reason) => {
    const result = Schema.decodeUnknownEither(PeerNameSchema)(input)
    expect(Either.isLeft(result)).toBe(true)
    if (Either.isLeft(result)) expect(result.left.message).toContain(reason)
  })

  it.prop("agrees with parsePeerName", [FastCheck.oneof(validName, FastCheck.string())], ([text]) => {
    expect(Either.isRight(Schema.decodeUnknownEither(PeerNameSchema)(text))).toBe(Either.isRight(parsePeerName(text)))
  })
})
