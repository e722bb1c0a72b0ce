import { describe, expect, it } from "@effect/vitest"
import { Either, FastCheck as fc } from "effect"
import { ExitCode } from "../../src/domain/Errors.js"
import { allIssues, initialIssues } from "../../src/domain/Issue.js"
import { readIssuesJsonl, serializeIssue, serializeIssuesJsonl } from "../../src/domain/IssueJsonl.js"
import { AT, run } from "./IssueFixtures.js"

const parsed = (text: string) =>
  Either.getOrThrowWith(readIssuesJsonl(text, "issues.jsonl"), (error) => new Error(error.message))
const failure = (text: string) => Either.getOrThrow(Either.flip(readIssuesJsonl(text, "issues.jsonl")))

describe("readIssuesJsonl", () => {
  it("reads one object a line, skipping blank lines, with LF or CRLF and an optional BOM", () => {
    const text = "\uFEFF{\"id\":\"bd-1\",\"title\":\"One\"}\r\n\r\n   \n{\"id\":\"bd-2\",\"status\":\"open\"}\n\t\n"
    expect(parsed(text)).toEqual([{ id: "bd-1", title: "One" }, { id: "bd-2", status: "open" }])
    expect(parsed("{\"id\":\"bd-1\"}")).toEqual([{ id: "bd-1" }])
    expect(parsed("")).toEqual([])
  })

  it("reads escaped, non-ASCII and lone surrogate strings as JSON.parse does", () => {
    const lines = [
      "{\"id\":\"bd-1\",\"title\":\"plain ü \u2028\"}",
      "{\"id\":\"bd-2\",\"title\":\"a \\\"quote\\\"\"}",
      "{\"id\":\"bd-3\",\"title\":\"\\u00fc escaped\"}",
      "{\"id\":\"bd-4\",\"title\":\"emoji 😀\"}",
      "{\"id\":\"bd-5\",\"title\":\"lone \ud800\"}"
    ]
    expect(parsed(`${lines.join("\r\n")}\n`)).toEqual(lines.map((line) => JSON.parse(line)))
  })

  it("accepts statuses it does not know (newer beads versions add some) and null known fields", () => {
    expect(parsed("{\"id\":\"bd-1\",\"status\":\"pinned\",\"assignee\":null,\"labels\":null}\n")).toHaveLength(1)
  })

  const bad = (json: string) => `{"id":"bd-1"}\n\n{"id":"bd-2"}\n${json}\n`
  it.each([
    ["invalid JSON", "{\"id\":\"bd-3\",", "invalid JSON"],
    ["an array", "[1,2]", "expected a JSON object"],
    ["a string", "\"bd-3\"", "expected a JSON object"],
    ["null", "null", "expected a JSON object"],
    ["a missing id", "{\"title\":\"x\"}", "\"id\""],
    ["an empty id", "{\"id\":\"  \"}", "\"id\""],
    ["a numeric id", "{\"id\":3}", "\"id\""],
    ["a numeric title", "{\"id\":\"bd-3\",\"title\":5}", "\"title\" must be a string"],
    ["an object description", "{\"id\":\"bd-3\",\"description\":{}}", "\"description\" must be a string"],
    ["an empty status", "{\"id\":\"bd-3\",\"status\":\"\"}", "\"status\""],
    ["a numeric status", "{\"id\":\"bd-3\",\"status\":1}", "\"status\""],
    ["priority 5", "{\"id\":\"bd-3\",\"priority\":5}", "\"priority\""],
    ["priority 1.5", "{\"id\":\"bd-3\",\"priority\":1.5}", "\"priority\""],
    ["a string priority", "{\"id\":\"bd-3\",\"priority\":\"1\"}", "\"priority\""],
    ["labels of numbers", "{\"id\":\"bd-3\",\"labels\":[1]}", "\"labels\""],
    ["a string of labels", "{\"id\":\"bd-3\",\"labels\":\"a,b\"}", "\"labels\""],
    ["dependencies as an object", "{\"id\":\"bd-3\",\"dependencies\":{}}", "\"dependencies\""],
    ["comments as a string", "{\"id\":\"bd-3\",\"comments\":\"hi\"}", "\"comments\""],
    ["an unreadable timestamp", "{\"id\":\"bd-3\",\"created_at\":\"yesterday\"}", "\"created_at\""],
    ["February 30", "{\"id\":\"bd-3\",\"updated_at\":\"2025-02-30T00:00:00Z\"}", "\"updated_at\""],
    ["a timestamp without offset", "{\"id\":\"bd-3\",\"closed_at\":\"2025-02-01T00:00:00\"}", "\"closed_at\""],
    ["a numeric timestamp", "{\"id\":\"bd-3\",\"deleted_at\":1700000000}", "\"deleted_at\""],
    ["a duplicate id", "{\"id\":\"bd-2\"}", "duplicate id \"bd-2\" (first at line 3)"]
  ])("refuses %s, naming line 4", (_, line, reason) => {
    const error = failure(bad(line))
    expect(error).toMatchObject({ _tag: "ImportInvalid", file: "issues.jsonl", line: 4, exitCode: ExitCode.invalidInput })
    expect(error.reason).toContain(reason)
    expect(error.message).toContain("issues.jsonl, line 4")
    expect(error.hint).toContain("nothing was imported")
  })

  it("counts lines as an editor shows them with a BOM, CRLF and blank lines", () => {
    const text = "\uFEFF{\"id\":\"bd-1\"}\r\n\r\n  \r\n{\"id\":\"bd-2\"}\r\n{\"id\":\"bd-3\",\"priority\":9}\r\n{\"id\":\"bd-4\"}"
    expect(failure(text).line).toBe(5)
    expect(failure("\uFEFF{oops}").line).toBe(1)
    expect(failure("\n\n{\"id\":\"a\"}\r\n{\"id\":\"a\"}").reason).toContain("first at line 3")
  })

  it("fails on the first bad line only", () => {
    expect(failure("{\"id\":\"a\",\"priority\":7}\n{bad").line).toBe(1)
  })
})

describe("serializeIssue", () => {
  it("writes known fields in beads order, then unknown fields sorted by key", () => {
    const line = serializeIssue({
      zeta: 1,
      source_system: "t",
      labels: ["a"],
      id: "bd-1",
      "10": "numeric key",
      alpha: { b: 1, a: [true, null] },
      title: "T",
      priority: 0
    })
    expect(line).toBe(
      "{\"id\":\"bd-1\",\"title\":\"T\",\"priority\":0,\"labels\":[\"a\"],\"source_system\":\"t\"," +
        "\"10\":\"numeric key\",\"alpha\":{\"b\":1,\"a\":[true,null]},\"zeta\":1}"
    )
  })

  it("escapes U+2028 and U+2029 so the line stays one line for every reader", () => {
    const line = serializeIssue({ id: "bd-1", title: "a\u2028b\u2029c" })
    expect(line).toBe("{\"id\":\"bd-1\",\"title\":\"a\\u2028b\\u2029c\"}")
    expect(JSON.parse(line)).toEqual({ id: "bd-1", title: "a\u2028b\u2029c" })
  })

  it("writes a file sorted by id, each line ending in a newline", () => {
    expect(serializeIssuesJsonl([{ id: "bd-b" }, { id: "bd-a", title: "A" }]))
      .toBe("{\"id\":\"bd-a\",\"title\":\"A\"}\n{\"id\":\"bd-b\"}\n")
    expect(serializeIssuesJsonl([])).toBe("")
  })
})

describe("round trip", () => {
  const text = fc.oneof(
    fc.fullUnicodeString(),
    fc.constantFrom("🚀 emoji 👩🏽‍💻", "שלום עולם RTL", "e\u0301 combining", "line\u2028separator", "tab\t\"quote\"\\", "")
  )
  const pad = (n: number, width = 2) => String(n).padStart(width, "0")
  const timestamp = fc.tuple(
    fc.date({ min: new Date("1970-01-01T00:00:00Z"), max: new Date("2999-12-31T23:59:59Z"), noInvalidDate: true }),
    fc.option(fc.stringMatching(/^[0-9]{1,9}$/), { nil: undefined }),
    fc.constantFrom("Z", "+02:00", "-07:00", "+05:30")
  ).map(([date, fraction, offset]) =>
    `${date.getUTCFullYear()}-${pad(date.getUTCMonth() + 1)}-${pad(date.getUTCDate())}T${pad(date.getUTCHours())}:` +
    `${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())}${fraction === undefined ? "" : `.${fraction}`}${offset}`
  )
  const known = {
    title: text,
    description: text,
    design: text,
    acceptance_criteria: text,
    notes: text,
    status: fc.constantFrom("open", "in_progress", "blocked", "deferred", "closed", "tombstone", "pinned"),
    priority: fc.integer({ min: 0, max: 4 }),
    issue_type: fc.constantFrom("bug", "feature", "task", "epic", "chore", "message", "molecule"),
    assignee: text,
    owner: text,
    created_by: text,
    labels: fc.array(text, { maxLength: 4 }),
    dependencies: fc.array(fc.record({ issue_id: text, depends_on_id: text, type: fc.constantFrom("blocks", "related") }), { maxLength: 3 }),
    comments: fc.array(fc.record({ id: fc.nat(), author: text, text, created_at: timestamp }), { maxLength: 3 }),
    external_ref: text,
    created_at: timestamp,
    updated_at: timestamp,
    closed_at: timestamp,
    close_reason: text,
    deleted_at: timestamp,
    deleted_by: text,
    delete_reason: text,
    original_type: text,
    source_system: text
  }
  const unknownKey = fc.oneof(fc.string({ minLength: 1 }), fc.constantFrom("__proto__", "42", "constructor", "x-custom"))
    .filter((key) => !Object.hasOwn(known, key) && key !== "id")
  const record = fc.tuple(
    fc.record(known, { requiredKeys: [] }),
    fc.dictionary(unknownKey, fc.jsonValue(), { maxKeys: 4 })
  )
  const corpus = fc.uniqueArray(fc.tuple(fc.string({ minLength: 1 }).filter((id) => id.trim() !== ""), record), {
    selector: ([id]) => id,
    maxLength: 8
  }).map((entries) => entries.map(([id, [fields, unknown]]) => ({ id, ...fields, ...unknown })))
  /** What a JSON reader sees of a value (drops -0 and the like). */
  const asJson = (value: unknown) => JSON.parse(JSON.stringify(value)) as unknown
  const file = (records: ReadonlyArray<Record<string, unknown>>) => records.map((r) => `${JSON.stringify(r)}\n`).join("")

  it.prop("parse then serialize gives back the same JSON objects", [corpus], ([records]) => {
    const input = parsed(file(records))
    expect(input).toEqual(asJson(records))
    const output = serializeIssuesJsonl(input)
    expect(serializeIssuesJsonl(parsed(output))).toBe(output)
    const byId = (r: Record<string, unknown>) => r["id"] as string
    expect([...parsed(output)].sort((a, b) => (byId(a) < byId(b) ? -1 : 1)))
      .toEqual([...input].sort((a, b) => (byId(a) < byId(b) ? -1 : 1)))
  })

  it.prop("import then export through the domain loses no field", [corpus], ([records]) => {
    const input = parsed(file(records)).map((r) => Object.fromEntries(Object.entries(r).filter(([, v]) => v !== null)))
    const { state } = run(initialIssues, { _tag: "ImportIssues", records: input, town: "town-i", at: AT, actor: "me" })
    const exported = parsed(serializeIssuesJsonl(allIssues(state).map((issue) => issue.fields)))
    const expected = input.map((r): Record<string, unknown> => ({ ...r, source_system: r["source_system"] ?? "town-i" }))
    expect(new Map(exported.map((r) => [r["id"], r]))).toEqual(new Map(expected.map((r) => [r["id"], r])))
  })

  it("keeps a 1 MB description", () => {
    const description = "ü€😀\u2028".repeat(262_144)
    const line = serializeIssue({ id: "bd-big", description })
    expect(parsed(`${line}\n`)).toEqual([{ id: "bd-big", description }])
  })
})
