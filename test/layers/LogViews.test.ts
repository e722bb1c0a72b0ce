/**
 * Views kept beside the log (the open conflicts): a write that folded the
 * work items keeps the view for its head; a reader uses it while no later
 * event affects it, and otherwise computes it from the slice. Whatever the
 * file holds, the answer is the one the folded state gives.
 */
import { afterAll, describe, expect, it } from "@effect/vitest"
import { Effect, Either } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { openConflicts } from "../../src/domain/Conflicts.js"
import { EventLog } from "../../src/events/EventLog.js"
import type { ForeignEvent, NewEvent } from "../../src/events/Envelope.js"
import { ACTOR, addPeer, AT, newLogDir, openLog, removeLogDirs, TOWN } from "../support/logBed.js"

afterAll(removeLogDirs)

const created = (id: string, assignee: string): NewEvent => ({
  type: "IssueCreated",
  at: AT,
  actor: ACTOR,
  data: { id, fields: { id, title: id, status: "open", assignee } }
})

/** Another town's change of the assignee, concurrent with ours (it saw only the creation). */
const theirs = (id: string, townSeq: number, assignee: string): ForeignEvent => ({
  id: `fedcba9876543210:${townSeq}`,
  town: "fedcba9876543210",
  townSeq,
  lamport: 5,
  seen: { [TOWN]: 1 },
  type: "IssueUpdated",
  at: AT,
  actor: "them",
  data: { id, changes: { assignee } }
})

const ours = (id: string, assignee: string): NewEvent => ({
  type: "IssueUpdated",
  at: AT,
  actor: ACTOR,
  data: { id, changes: { assignee } }
})

/** Write with the work items folded (as the commands that touch them do). */
const write = (events: ReadonlyArray<NewEvent>, foreign: ReadonlyArray<ForeignEvent> = []) =>
  Effect.flatMap(EventLog, (log) => log.transact(["issues"], () => Either.right({ events, foreign, result: undefined })))

/** Write without folding the work items (a command that only records an operation). */
const writeBlind = (events: ReadonlyArray<NewEvent>, foreign: ReadonlyArray<ForeignEvent> = []) =>
  Effect.flatMap(EventLog, (log) => log.transact([], () => Either.right({ events, foreign, result: undefined })))

const viewAndTruth = Effect.gen(function*() {
  const log = yield* EventLog
  const view = yield* log.view("conflicts")
  const truth = openConflicts((yield* log.load(["issues"])).state.issues)
  return { view: JSON.parse(JSON.stringify(view)), truth: JSON.parse(JSON.stringify(truth)) }
})

describe("log views", () => {
  it.effect("a write that folded the work items keeps the view; readers get the folded answer", () => {
    const dir = newLogDir()
    const { layer } = openLog(dir)
    return Effect.gen(function*() {
      yield* write([created("bd-1", "alice")])
      yield* write([ours("bd-1", "bob")], [])
      const file = path.join(dir, "views", "conflicts.json")
      expect(JSON.parse(fs.readFileSync(file, "utf8")).value).toEqual([])
      // A concurrent change from another town: one open conflict, kept in the view by the write.
      yield* write([], [theirs("bd-1", 1, "carol")])
      const kept = JSON.parse(fs.readFileSync(file, "utf8"))
      expect(kept.value.map((c: { id: string }) => c.id)).toEqual(["bd-1/assignee"])
      const { truth, view } = yield* viewAndTruth
      expect(view).toEqual(truth)
      expect(truth).toHaveLength(1)
      // Events that do not touch work items leave it valid.
      yield* addPeer("p1")
      expect((yield* viewAndTruth).view).toEqual(truth)
    }).pipe(Effect.provide(layer))
  })

  it.effect("a later event that affects it makes the reader compute it, not trust the file", () => {
    const dir = newLogDir()
    const { layer } = openLog(dir)
    return Effect.gen(function*() {
      yield* write([created("bd-2", "alice")])
      yield* write([ours("bd-2", "bob")])
      // Ingested without the work items folded: the kept view (no conflict) is now stale.
      yield* writeBlind([], [theirs("bd-2", 1, "carol")])
      const { truth, view } = yield* viewAndTruth
      expect(truth.map((c: { id: string }) => c.id)).toEqual(["bd-2/assignee"])
      expect(view).toEqual(truth)
    }).pipe(Effect.provide(layer))
  })

  it.effect("a view whose head is not in the chain (a forged or foreign file) is ignored", () => {
    const dir = newLogDir()
    const { layer } = openLog(dir)
    return Effect.gen(function*() {
      yield* write([created("bd-3", "alice")])
      const file = path.join(dir, "views", "conflicts.json")
      const kept = JSON.parse(fs.readFileSync(file, "utf8"))
      fs.writeFileSync(file, JSON.stringify({ ...kept, hash: "0".repeat(64), value: [{ id: "bd-3/title", issue: "bd-3", field: "title", heads: [] }] }))
      expect((yield* viewAndTruth).view).toEqual([])
      fs.writeFileSync(file, JSON.stringify({ ...kept, seq: 999, value: [{ id: "x" }] }))
      expect((yield* viewAndTruth).view).toEqual([])
      fs.writeFileSync(file, "not json")
      expect((yield* viewAndTruth).view).toEqual([])
    }).pipe(Effect.provide(layer))
  })
})
