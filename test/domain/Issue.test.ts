import { describe, expect, it } from "@effect/vitest"
import { Either, FastCheck as fc, Option } from "effect"
import { ExitCode } from "../../src/domain/Errors.js"
import {
  allIssues,
  decide,
  getIssue,
  initialIssues,
  issueCount,
  IssuesSlice,
  type IssueCommand,
  type IssuesState
} from "../../src/domain/Issue.js"
import { AT, create, decided, foldAll, given, LATER, run, seal } from "./IssueFixtures.js"

const fieldsOf = (state: IssuesState, id: string) => Option.getOrThrow(getIssue(state, id)).fields
const errorOf = (state: IssuesState, command: IssueCommand) => Either.getOrThrow(Either.flip(decide(state, command)))

/** A town holding one open issue, bd-00000z, created by alice. */
const withIssue = (extra: Parameters<typeof create>[1] = {}) => run(initialIssues, create("Fix the login page", extra)).state
const ID = "bd-00000z"

const update = (set: Record<string, unknown>, extra: Partial<IssueCommand> = {}): IssueCommand =>
  ({ _tag: "UpdateIssue", id: ID, set, at: LATER, actor: "bob", ...extra }) as IssueCommand

describe("CreateIssue", () => {
  it("creates an open task of priority 2 with an id made from the digest", () => {
    expect(decided(initialIssues, create("  Fix the login page  "))).toEqual([{
      type: "IssueCreated",
      at: AT,
      actor: "alice",
      data: {
        id: ID,
        fields: {
          id: ID,
          title: "Fix the login page",
          status: "open",
          priority: 2,
          issue_type: "task",
          created_by: "alice",
          created_at: AT,
          updated_at: AT,
          source_system: "town-a"
        }
      }
    }])
  })

  it("keeps description, assignee, type and priority, and sorts and de-duplicates labels", () => {
    const [event] = decided(initialIssues, create("Crash", {
      description: "  stack trace\n",
      priority: 0,
      issue_type: "bug",
      assignee: " carol ",
      labels: ["ui", "backend", "ui", " ", "api"]
    }))
    expect(event?.data).toMatchObject({
      fields: { description: "  stack trace\n", priority: 0, issue_type: "bug", assignee: "carol", labels: ["api", "backend", "ui"] }
    })
  })

  it("lengthens the id one character at a time while it is taken", () => {
    const state = withIssue()
    const [event] = decided(state, create("Another"))
    expect(event?.data).toMatchObject({ id: "bd-100000z" })
  })

  it.each([
    ["an empty title", { title: "" }, "title"],
    ["a blank title", { title: " \t " }, "title"],
    ["a title of 501 characters", { title: "x".repeat(501) }, "title"],
    ["priority 5", { priority: 5 }, "priority"],
    ["priority -1", { priority: -1 }, "priority"],
    ["priority 1.5", { priority: 1.5 }, "priority"],
    ["an empty type", { issue_type: " " }, "type"],
    ["a digest that is not hex", { digest: "xyz" }, "digest"],
    ["an empty prefix", { prefix: "" }, "prefix"]
  ] as const)("refuses %s", (_, extra, argument) => {
    const error = errorOf(initialIssues, { ...create("A title"), ...extra })
    expect(error._tag).toBe("InvalidArgument")
    expect(error).toMatchObject({ argument, exitCode: ExitCode.invalidInput })
  })

  it("accepts a title of 500 characters, counted as code points", () => {
    expect(decided(initialIssues, create("😀".repeat(500)))).toHaveLength(1)
  })
})

describe("UpdateIssue", () => {
  it("refuses an unknown id", () => {
    const error = errorOf(initialIssues, update({ title: "x" }, { id: "bd-nope" } as Partial<IssueCommand>))
    expect(error).toMatchObject({ _tag: "IssueNotFound", id: "bd-nope", exitCode: ExitCode.notFound })
    expect(error.message).toBe("issue not found: bd-nope")
    expect(error.hint).toBe("see the issues with: bd list")
  })

  it("records only the fields that change, plus updated_at", () => {
    const events = decided(withIssue(), update({ title: "Fix the login page", priority: 1, assignee: "bob", status: "in_progress" }))
    expect(events).toEqual([{
      type: "IssueUpdated",
      at: LATER,
      actor: "bob",
      data: { id: ID, changes: { priority: 1, assignee: "bob", status: "in_progress", updated_at: LATER } }
    }])
  })

  it("decides nothing when nothing changes", () => {
    expect(decided(withIssue({ assignee: "bob" }), update({ title: " Fix the login page ", priority: 2, assignee: "bob", description: null })))
      .toEqual([])
  })

  it("removes an optional field given null or an empty string", () => {
    const state = withIssue({ assignee: "bob", description: "old" })
    const { state: after, events } = run(state, update({ assignee: "", description: null }), "town-a", 2)
    expect(events[0]?.data).toEqual({ id: ID, changes: { assignee: null, description: null, updated_at: LATER } })
    expect(fieldsOf(after, ID)).not.toHaveProperty("assignee")
    expect(fieldsOf(after, ID)).not.toHaveProperty("description")
  })

  it("adds and removes labels, keeping them sorted", () => {
    const state = withIssue({ labels: ["ui"] })
    const [event] = decided(state, { ...update({}), addLabels: ["backend", "zeta", "ui"], removeLabels: ["ui"] } as IssueCommand)
    expect(event?.data).toEqual({ id: ID, changes: { labels: ["backend", "zeta"], updated_at: LATER } })
    const [cleared] = decided(state, { ...update({}), removeLabels: ["ui"] } as IssueCommand)
    expect(cleared?.data).toEqual({ id: ID, changes: { labels: null, updated_at: LATER } })
  })

  it("sets closed_at when the status becomes closed, and removes it when it leaves closed", () => {
    const { state } = run(withIssue(), update({ status: "closed" }), "town-a", 2)
    expect(fieldsOf(state, ID)).toMatchObject({ status: "closed", closed_at: LATER })
    const [event] = decided(state, update({ status: "in_progress" }, { at: "2025-03-03T00:00:00Z" } as Partial<IssueCommand>))
    expect(event?.data).toEqual({
      id: ID,
      changes: { status: "in_progress", closed_at: null, updated_at: "2025-03-03T00:00:00Z" }
    })
  })

  it.each([
    ["status", { status: "done" }],
    ["priority", { priority: 7 }],
    ["title", { title: "   " }],
    ["type", { issue_type: "" }],
    ["field", { created_at: "2020-01-01T00:00:00Z" }]
  ] as const)("refuses a bad %s", (argument, set) => {
    expect(errorOf(withIssue(), update(set))).toMatchObject({ _tag: "InvalidArgument", argument })
  })
})

describe("CloseIssue and ReopenIssue", () => {
  const close = (reason?: string): IssueCommand => ({ _tag: "CloseIssue", id: ID, reason, at: LATER, actor: "bob" })
  const reopen: IssueCommand = { _tag: "ReopenIssue", id: ID, at: "2025-03-03T00:00:00Z", actor: "carol" }

  it("closes with a reason", () => {
    expect(decided(withIssue(), close(" duplicate "))).toEqual([{
      type: "IssueClosed",
      at: LATER,
      actor: "bob",
      data: { id: ID, changes: { status: "closed", closed_at: LATER, close_reason: "duplicate", updated_at: LATER } }
    }])
  })

  it("closes without a reason, removing any stale one", () => {
    const [event] = decided(withIssue(), close())
    expect(event?.data).toMatchObject({ changes: { close_reason: null } })
  })

  it("closing a closed issue decides nothing", () => {
    const { state } = run(withIssue(), close("done"), "town-a", 2)
    expect(decided(state, close("again"))).toEqual([])
  })

  it("reopens a closed issue, removing closed_at and close_reason", () => {
    const { state } = run(withIssue(), close("done"), "town-a", 2)
    const { state: after, events } = run(state, reopen, "town-a", 3)
    expect(events[0]?.data).toEqual({
      id: ID,
      changes: { status: "open", closed_at: null, close_reason: null, updated_at: "2025-03-03T00:00:00Z" }
    })
    const fields = fieldsOf(after, ID)
    expect(fields).toMatchObject({ status: "open", updated_at: "2025-03-03T00:00:00Z" })
    expect(fields).not.toHaveProperty("closed_at")
    expect(fields).not.toHaveProperty("close_reason")
  })

  it("reopening an issue that is not closed decides nothing", () => {
    expect(decided(withIssue(), reopen)).toEqual([])
  })

  it("refuses an unknown id", () => {
    expect(errorOf(initialIssues, close())._tag).toBe("IssueNotFound")
    expect(errorOf(initialIssues, reopen)._tag).toBe("IssueNotFound")
  })
})

describe("ImportIssues", () => {
  const record = {
    id: "gt-abc",
    title: "Imported",
    status: "open",
    priority: 1,
    labels: ["x"],
    updated_at: "2025-01-01T00:00:00Z",
    custom: { nested: [1, true, null] }
  }
  const importing = (records: ReadonlyArray<Record<string, unknown>>, town = "town-b"): IssueCommand =>
    ({ _tag: "ImportIssues", records, town, at: AT, actor: "importer" })

  it("imports a new issue whole, stamping the importing town as its source", () => {
    expect(decided(initialIssues, importing([record]))).toEqual([{
      type: "IssueImported",
      at: AT,
      actor: "importer",
      data: { id: "gt-abc", fields: { ...record, source_system: "town-b" } }
    }])
  })

  it("keeps the record's own source_system", () => {
    const [event] = decided(initialIssues, importing([{ ...record, source_system: "town-z" }]))
    expect(event?.data).toMatchObject({ fields: { source_system: "town-z" } })
  })

  it("importing the same records twice decides nothing the second time", () => {
    const { state } = run(initialIssues, importing([record, { id: "gt-def", title: "Other" }]))
    expect(issueCount(state)).toBe(2)
    expect(decided(state, importing([record, { id: "gt-def", title: "Other" }]))).toEqual([])
  })

  it("takes only the differing fields of a newer record; fields it lacks are removed", () => {
    const { state } = run(initialIssues, importing([record]))
    const newer = { id: "gt-abc", title: "Renamed", status: "open", priority: 1, updated_at: "2025-01-02T00:00:00+05:00", custom: { nested: [1, true, null] } }
    const { state: after, events } = run(state, importing([newer]), "town-b", 5)
    expect(events[0]?.data).toEqual({
      id: "gt-abc",
      fields: { title: "Renamed", updated_at: "2025-01-02T00:00:00+05:00", labels: null }
    })
    expect(fieldsOf(after, "gt-abc")).toEqual({ ...newer, source_system: "town-b" })
  })

  it.each([
    ["the same instant written with another offset", "2025-01-01T02:00:00+02:00"],
    ["an older record", "2024-12-31T23:59:59.999999999Z"],
    ["a record without updated_at", undefined]
  ])("ignores %s", (_, updatedAt) => {
    const { state } = run(initialIssues, importing([record]))
    expect(decided(state, importing([{ ...record, title: "Changed", updated_at: updatedAt }]))).toEqual([])
  })

  it("a record one nanosecond newer wins", () => {
    const { state } = run(initialIssues, importing([{ ...record, updated_at: "2025-01-01T00:00:00.000000001Z" }]))
    const [event] = decided(state, importing([{ ...record, title: "Nano", updated_at: "2025-01-01T00:00:00.000000002Z" }]))
    expect(event?.data).toMatchObject({ fields: { title: "Nano" } })
  })

  it("refuses a record without an id", () => {
    expect(errorOf(initialIssues, importing([{ title: "no id" }]))).toMatchObject({ _tag: "InvalidArgument", argument: "id" })
  })

  it("a JSON null member is the same as an absent one", () => {
    const [event] = decided(initialIssues, importing([{ ...record, assignee: null }]))
    expect(event?.data).toEqual({ id: "gt-abc", fields: { ...record, source_system: "town-b" } })
  })

  it("keeps a field named __proto__ as an own field", () => {
    const weird = JSON.parse(`{"id":"gt-p","__proto__":{"polluted":true}}`) as Record<string, unknown>
    const { state } = run(initialIssues, importing([weird]))
    const fields = fieldsOf(state, "gt-p")
    expect(Object.keys(fields)).toContain("__proto__")
    expect(Object.getPrototypeOf(fields)).toBe(Object.prototype)
  })
})

describe("queries", () => {
  it("lists issues sorted by id and counts them", () => {
    const state = given(
      seal({ type: "IssueCreated", at: AT, actor: "a", data: { id: "bd-b", fields: { title: "B" } } }, "t", 1),
      seal({ type: "IssueCreated", at: AT, actor: "a", data: { id: "bd-a", fields: { title: "A" } } }, "t", 2),
      seal({ type: "SomethingElse", at: AT, actor: "a", data: { id: "bd-c" } }, "t", 3),
      seal({ type: "IssueUpdated", at: AT, actor: "a", data: { id: "bd-d", changes: "not an object" } }, "t", 4)
    )
    expect(allIssues(state).map((issue) => issue.fields["id"])).toEqual(["bd-a", "bd-b"])
    expect(issueCount(state)).toBe(2)
    expect(Option.isNone(getIssue(state, "bd-c"))).toBe(true)
  })
})

describe("evolve: convergence", () => {
  const ev = (type: string, data: unknown, town: string, lamport: number) =>
    seal({ type, data, at: AT, actor: town }, town, lamport)
  const X = "bd-x"

  /** Concurrent work on one issue by three towns, including a duplicate creation by import. */
  const concurrent = [
    ev("IssueCreated", { id: X, fields: { id: X, title: "Created in A", status: "open", priority: 2, assignee: "ann" } }, "town-a", 1),
    ev("IssueImported", { id: X, fields: { id: X, title: "Imported in B", status: "open", priority: 3, extra: { keep: true } } }, "town-b", 1),
    ev("IssueUpdated", { id: X, changes: { title: "A renames", updated_at: "2025-03-02T00:00:00Z" } }, "town-a", 2),
    ev("IssueUpdated", { id: X, changes: { title: "B renames", assignee: null } }, "town-b", 2),
    ev("IssueClosed", { id: X, changes: { status: "closed", closed_at: LATER, close_reason: "done" } }, "town-c", 3),
    ev("IssueReopened", { id: X, changes: { status: "open", closed_at: null, close_reason: null } }, "town-a", 3),
    ev("IssueUpdated", { id: X, changes: { priority: 0, labels: ["urgent"] } }, "town-c", 4),
    ev("IssueCreated", { id: "bd-y", fields: { id: "bd-y", title: "Y" } }, "town-c", 1)
  ]

  it("the higher (lamport, town) wins each field; a removal is a write", () => {
    // At lamport 3, town-c's close beats town-a's reopen: "town-c" > "town-a".
    expect(fieldsOf(given(...concurrent), X)).toEqual({
      id: X,
      title: "B renames",
      status: "closed",
      closed_at: LATER,
      close_reason: "done",
      priority: 0,
      labels: ["urgent"],
      extra: { keep: true },
      updated_at: "2025-03-02T00:00:00Z"
    })
  })

  it.prop("every order of the same events folds to the same state", [fc.shuffledSubarray(concurrent, {
    minLength: concurrent.length,
    maxLength: concurrent.length
  })], ([order]) => {
    expect(IssuesSlice.encode(given(...order))).toEqual(IssuesSlice.encode(given(...concurrent)))
  })

  it("folding an event twice changes nothing", () => {
    const once = given(...concurrent)
    expect(foldAll(concurrent, once)).toBe(once)
    expect(IssuesSlice.encode(given(...concurrent, ...[...concurrent].reverse()))).toEqual(IssuesSlice.encode(once))
  })

  const FIELDS = ["title", "status", "priority", "assignee", "labels", "custom"]
  const value = fc.oneof(fc.constant(null), fc.string(), fc.integer({ min: 0, max: 4 }), fc.array(fc.string(), { maxLength: 3 }))
  const change = fc.record({
    town: fc.constantFrom("town-a", "town-b", "town-c"),
    lamport: fc.integer({ min: 1, max: 8 }),
    kind: fc.constantFrom("IssueCreated", "IssueImported", "IssueUpdated", "IssueClosed", "IssueReopened"),
    id: fc.constantFrom("bd-1", "bd-2"),
    values: fc.dictionary(fc.constantFrom(...FIELDS), value, { maxKeys: 4 })
  })
  // A town never gives two events the same lamport; different towns often do.
  const history = fc.uniqueArray(change, { minLength: 1, maxLength: 25, selector: (c) => `${c.town}:${c.lamport}` }).map(
    (changes) =>
      changes.map((c) =>
        ev(
          c.kind,
          c.kind === "IssueCreated" || c.kind === "IssueImported" ? { id: c.id, fields: c.values } : { id: c.id, changes: c.values },
          c.town,
          c.lamport
        )
      )
  )
  const withOrder = history.chain((events) =>
    fc.tuple(fc.constant(events), fc.shuffledSubarray(events, { minLength: events.length, maxLength: events.length }))
  )

  it.prop("random histories of three towns converge in any order", [withOrder], ([[events, order]]) => {
    const inOrder = given(...events)
    const shuffled = given(...order)
    expect(allIssues(shuffled)).toEqual(allIssues(inOrder))
    expect(IssuesSlice.encode(shuffled)).toEqual(IssuesSlice.encode(inOrder))
  })
})

describe("IssuesSlice snapshot", () => {
  it("encodes to plain JSON and decodes to the same state", () => {
    const { state } = run(withIssue({ labels: ["a", "b"] }), { _tag: "CloseIssue", id: ID, reason: "done", at: LATER, actor: "bob" }, "town-a", 2)
    const json = JSON.parse(JSON.stringify(IssuesSlice.encode(state))) as unknown
    const back = IssuesSlice.decode(json)
    expect(allIssues(back)).toEqual(allIssues(state))
    expect(IssuesSlice.name).toBe("issues")
    // Stamps are grouped by event in the snapshot.
    expect((json as ReadonlyArray<{ stamps: ReadonlyArray<unknown> }>)[0]?.stamps).toHaveLength(2)
    // The decoded state keeps folding with the same rule.
    const reopened = run(back, { _tag: "ReopenIssue", id: ID, at: "2025-04-01T00:00:00Z", actor: "c" }, "town-a", 3).state
    expect(fieldsOf(reopened, ID)).toMatchObject({ status: "open" })
  })

  it("an issue one event made keeps that event's one stamp, encodes as one group, and decodes to the same record", () => {
    const made = withIssue({ labels: ["a"] })
    const record = Option.getOrThrow(getIssue(made, ID))
    expect(record.stamp?.event).toBe("town-a:1")
    expect(record.stamps).toBeUndefined()
    const json = JSON.parse(JSON.stringify(IssuesSlice.encode(made))) as ReadonlyArray<{ stamps: ReadonlyArray<{ fields: ReadonlyArray<string> }> }>
    expect(json[0]?.stamps.map((group) => group.fields)).toEqual([Object.keys(record.fields).filter((key) => key !== "id").sort()])
    expect(allIssues(IssuesSlice.decode(json))).toEqual(allIssues(made))
    // A change makes it field by field, the same value whether folded or decoded.
    const changed = run(made, update({ title: "Fixed" }), "town-a", 2).state
    const after = Option.getOrThrow(getIssue(changed, ID))
    expect(after.stamp).toBeUndefined()
    expect(after.stamps?.["title"]?.event).toBe("town-a:2")
    expect(allIssues(IssuesSlice.decode(JSON.parse(JSON.stringify(IssuesSlice.encode(changed)))))).toEqual(allIssues(changed))
  })

  it("an issue whose first event removes a field keeps its stamps field by field: the removal's stamp has no field", () => {
    const state = given(seal({ type: "IssueCreated", at: AT, actor: "me", data: { id: "bd-1", fields: { id: "bd-1", title: "T", assignee: null } } }, "town-a", 1))
    const record = Option.getOrThrow(getIssue(state, "bd-1"))
    expect(record.fields).toEqual({ id: "bd-1", title: "T" })
    expect(record.stamp).toBeUndefined()
    expect(Object.keys(record.stamps ?? {}).sort()).toEqual(["assignee", "title"])
    expect(allIssues(IssuesSlice.decode(JSON.parse(JSON.stringify(IssuesSlice.encode(state)))))).toEqual(allIssues(state))
  })
})
