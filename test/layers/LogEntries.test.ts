/**
 * Reading some work items without folding them all (`bd show`, `bd list`):
 * the snapshot's index and the tail after it. Whatever the point in the
 * log (no snapshot yet, just after one, many events after one, an index
 * missing), `lookup` and `select` give what the whole slice folded gives,
 * and `verify` refuses an index that does not describe its snapshot.
 */
import { afterAll, describe, expect, it } from "@effect/vitest"
import { Effect, Either, HashMap, Option } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { IntegrityError } from "../../src/domain/Errors.js"
import { allIssues, getIssue, type IssuesState } from "../../src/domain/IssueState.js"
import type { ForeignEvent, NewEvent } from "../../src/events/Envelope.js"
import { EventLog } from "../../src/events/EventLog.js"
import { type ListFilter, matchesColumns, matchesFilter } from "../../src/services/Issues.js"
import { ACTOR, AT, currentSnapshot, newLogDir, openLog, removeLogDirs, verifyLog } from "../support/logBed.js"

afterAll(removeLogDirs)

const STATUSES = ["open", "in_progress", "blocked", "closed", "tombstone"]
const PEOPLE = ["ann", "bob", "cy"]
const TYPES = ["bug", "task", "epic"]

/** A small deterministic generator, so that a failure can be replayed. */
const generator = (seed: number) => {
  let state = seed
  const next = () => {
    state = (state * 1103515245 + 12345) % 2147483648
    return state / 2147483648
  }
  return { pick: <T>(items: ReadonlyArray<T>): T => items[Math.floor(next() * items.length)]!, chance: (p: number) => next() < p }
}

const idOf = (n: number) => `bd-${String((n * 7919) % 1000).padStart(3, "0")}x${n}`

const create = (id: string, pick: <T>(items: ReadonlyArray<T>) => T): NewEvent => ({
  type: "IssueCreated",
  at: AT,
  actor: ACTOR,
  data: {
    id,
    fields: { id, title: `${id} — «${pick(["a", "b", "ç"])}»`, status: pick(STATUSES), assignee: pick(PEOPLE), issue_type: pick(TYPES) }
  }
})

const update = (id: string, changes: Record<string, unknown>): NewEvent => ({ type: "IssueUpdated", at: AT, actor: ACTOR, data: { id, changes } })

/** Another town's change, concurrent with ours: a conflict, so the record carries heads. */
const theirs = (id: string, townSeq: number, assignee: string): ForeignEvent => ({
  id: `fedcba9876543210:${townSeq}`,
  town: "fedcba9876543210",
  townSeq,
  lamport: 1,
  seen: {},
  type: "IssueUpdated",
  at: AT,
  actor: "them",
  data: { id, changes: { assignee } }
})

const write = (events: ReadonlyArray<NewEvent>, foreign: ReadonlyArray<ForeignEvent> = []) =>
  Effect.flatMap(EventLog, (log) => log.transact(["issues"], () => Either.right({ events, foreign, result: undefined })))

const FILTERS: ReadonlyArray<ListFilter> = [
  { status: undefined, assignee: undefined, type: undefined, all: false },
  { status: undefined, assignee: undefined, type: undefined, all: true },
  { status: "blocked", assignee: undefined, type: undefined, all: false },
  { status: undefined, assignee: "bob", type: "bug", all: false },
  { status: "closed", assignee: "cy", type: undefined, all: true },
  { status: undefined, assignee: "nobody", type: undefined, all: false }
]

const recordJson = (state: IssuesState, id: string) => JSON.parse(JSON.stringify(Option.getOrNull(getIssue(state, id))))

/** Every filter and limit through `select`, and some ids through `lookup`, against the whole slice folded. */
const agreesWithFold = (ids: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const log = yield* EventLog
    const truth = (yield* log.load(["issues"])).state.issues
    for (const filter of FILTERS) {
      const matching = allIssues(truth).map((record) => record.fields).filter(matchesFilter(filter))
      for (const limit of [1, 3, 1000]) {
        const selected = yield* log.select("issues", matchesColumns(filter), limit)
        const expected = matching.slice(0, limit).map((fields) => fields["id"] as string)
        expect({ filter, limit, keys: selected.keys, total: selected.total }).toEqual({ filter, limit, keys: expected, total: matching.length })
        for (const id of selected.keys) expect(recordJson(selected.state.issues, id)).toEqual(recordJson(truth, id))
      }
    }
    for (const id of [...ids, "bd-none"]) {
      const found = yield* log.lookup("issues", [id])
      expect(recordJson(found.state.issues, id)).toEqual(recordJson(truth, id))
    }
    return HashMap.size(truth.issues)
  })

describe("reading some work items from the snapshot's index and the tail", () => {
  it.effect("select and lookup agree with the folded slice before, at and after snapshots, with conflicts in the tail", () => {
    const dir = newLogDir()
    const { layer } = openLog(dir, { snapshotEvery: 7 })
    const { chance, pick } = generator(42)
    return Effect.gen(function*() {
      const ids: Array<string> = []
      let foreignSeq = 0
      for (let round = 0; round < 30; round++) {
        const events: Array<NewEvent> = []
        const foreign: Array<ForeignEvent> = []
        for (let k = 0; k < 1 + (round % 4); k++) {
          if (ids.length === 0 || chance(0.5)) {
            const id = idOf(ids.length + 1)
            ids.push(id)
            events.push(create(id, pick))
          } else {
            const id = pick(ids)
            events.push(update(id, chance(0.5) ? { status: pick(STATUSES) } : { assignee: pick(PEOPLE), issue_type: pick(TYPES) }))
            if (chance(0.3)) foreign.push(theirs(id, ++foreignSeq, pick(PEOPLE)))
          }
        }
        yield* write(events, foreign)
        yield* agreesWithFold([pick(ids), pick(ids), ids[ids.length - 1]!])
      }
      const snapshots = fs.readdirSync(path.join(dir, "snapshots")).filter((name) => /^\d+$/.test(name))
      expect(snapshots.length).toBeGreaterThan(0)
      expect((yield* verifyLog).events).toBeGreaterThan(30)
    }).pipe(Effect.provide(layer))
  })

  it.effect("a snapshot without an index (written by an older bd) is read whole, with the same answers", () => {
    const dir = newLogDir()
    const { layer } = openLog(dir, { snapshotEvery: 3 })
    const { pick } = generator(7)
    return Effect.gen(function*() {
      const ids = Array.from({ length: 12 }, (_, i) => idOf(i + 1))
      yield* write(ids.slice(0, 6).map((id) => create(id, pick)))
      yield* write(ids.slice(6).map((id) => create(id, pick)))
      yield* write([update(ids[2]!, { status: "closed" })])
      fs.rmSync(path.join(currentSnapshot(dir), "issues.index"))
      expect(yield* agreesWithFold(ids)).toBe(12)
    }).pipe(Effect.provide(layer))
  })

  it.effect("ids with a newline, a lone surrogate or any Unicode are listed, shown and verified like others", () => {
    const dir = newLogDir()
    const { layer } = openLog(dir, { snapshotEvery: 2 })
    const { pick } = generator(11)
    return Effect.gen(function*() {
      const ids = ["a\nb", "x\ud800y", "é-1", "😀", "plain"]
      yield* write(ids.map((id) => create(id, pick)))
      yield* write([update("x\ud800y", { status: "open" })])
      expect(yield* agreesWithFold(ids)).toBe(5)
      expect((yield* verifyLog).events).toBe(6)
    }).pipe(Effect.provide(layer))
  })

  it.effect("a damaged or missing index: reads load the slice whole, verify names the index", () => {
    const dir = newLogDir()
    const { layer } = openLog(dir, { snapshotEvery: 2 })
    const { pick } = generator(5)
    return Effect.gen(function*() {
      const ids = Array.from({ length: 6 }, (_, i) => idOf(i + 1))
      yield* write(ids.map((id) => create(id, pick)))
      const file = path.join(currentSnapshot(dir), "issues.index")
      const good = fs.readFileSync(file)
      // A line length off by one: every line read is cut short; a header that is not JSON; no index at all.
      const shortLine = Buffer.from(good)
      const headerBytes = shortLine.readUInt32LE(12)
      shortLine.writeUInt32LE(shortLine.readUInt32LE(16 + headerBytes) - 1, 16 + headerBytes)
      const badHeader = Buffer.from(good)
      badHeader.write("X", 16, "latin1")
      for (const damaged of [shortLine, badHeader, undefined]) {
        if (damaged === undefined) fs.rmSync(file)
        else fs.writeFileSync(file, damaged)
        expect(yield* agreesWithFold(ids)).toBe(6)
        const error = yield* Effect.flip(verifyLog)
        expect(error).toBeInstanceOf(IntegrityError)
        expect(error.message).toContain("issues.index")
      }
    }).pipe(Effect.provide(layer))
  })

  it.effect("verify refuses an index that points at another entry", () => {
    const dir = newLogDir()
    const { layer } = openLog(dir, { snapshotEvery: 2 })
    const { pick } = generator(3)
    return Effect.gen(function*() {
      yield* write([create(idOf(1), pick), create(idOf(2), pick), create(idOf(3), pick)])
      yield* verifyLog
      const file = path.join(currentSnapshot(dir), "issues.index")
      const bytes = fs.readFileSync(file)
      // The keys end the index, each a JSON string: swap the first two (of one length), so each points at the other's line.
      const sorted = [idOf(1), idOf(2), idOf(3)].sort()
      const keys = Buffer.from(sorted.map((key) => JSON.stringify(key)).join(""))
      expect(bytes.subarray(bytes.length - keys.length).equals(keys)).toBe(true)
      const swapped = Buffer.from([sorted[1], sorted[0], sorted[2]].map((key) => JSON.stringify(key)).join(""))
      fs.writeFileSync(file, Buffer.concat([bytes.subarray(0, bytes.length - keys.length), swapped]))
      const error = yield* Effect.flip(verifyLog)
      expect(error).toBeInstanceOf(IntegrityError)
      expect(error.message).toContain("issues.index")
    }).pipe(Effect.provide(layer))
  })
})
