/**
 * The durable event log on real files (src/layers/FileEventLog.ts): group
 * commit and the hash chain, torn tails cut by the next writer, corruption
 * refused with the line, snapshots, the writer lock, read-only mode and
 * segments. No mocks: every test works on its own temporary directory.
 */
import { afterAll, describe, expect, it } from "@effect/vitest"
import { Deferred, Effect, Either, FastCheck, Fiber, Option } from "effect"
import { spawn, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { IntegrityError, PeerAlreadyExists, PeerNotFound, RequiresDirectDatabaseAccess } from "../../src/domain/Errors.js"
import { listPeers } from "../../src/domain/Federation.js"
import { decide as decideIssue, getIssue } from "../../src/domain/Issue.js"
import { readIssuesJsonl } from "../../src/domain/IssueJsonl.js"
import { evolveTown, initialTownState, SliceNames, type TownState } from "../../src/domain/Town.js"
import { canonicalJson } from "../../src/events/Canonical.js"
import { chainHash, sealLine } from "../../src/events/Chain.js"
import { type Envelope, GENESIS_HASH, type NewEvent } from "../../src/events/Envelope.js"
import { EventLog } from "../../src/events/EventLog.js"
import type { Projection } from "../../src/events/Projection.js"
import {
  ACTOR,
  addPeer,
  appendGroup,
  AT,
  currentSnapshot,
  encodeState,
  linesOf,
  loadAll,
  lockFile,
  newLogDir,
  openLog,
  peerAdded,
  readAll,
  removeLogDirs,
  removePeer,
  segmentFile,
  snapshotsDir,
  TOWN,
  verifyLog
} from "../support/logBed.js"

afterAll(removeLogDirs)

const fold = (events: ReadonlyArray<Envelope>): TownState => events.reduce(evolveTown, initialTownState)

const peerNames = (state: Pick<TownState, "peers">): ReadonlyArray<string> => listPeers(state.peers).map((peer) => peer.name)

/** Byte offset of the start of a 1-based line of an ASCII segment. */
const lineOffset = (lines: ReadonlyArray<string>, line: number): number =>
  lines.slice(0, line - 1).reduce((offset, text) => offset + text.length + 1, 0)

const writeLines = (file: string, lines: ReadonlyArray<string>): void => {
  fs.writeFileSync(file, lines.map((line) => `${line}\n`).join(""))
}

/** What readers get back from the log at `dir`: its events, a full load, verify's report, and a lookup of these issues. */
const readBack = (dir: string, ids: ReadonlyArray<string>) =>
  Effect.provide(
    Effect.all({
      events: readAll(),
      loaded: loadAll,
      report: verifyLog,
      looked: Effect.flatMap(EventLog, (log) => log.lookup("issues", ids))
    }),
    openLog(dir).layer
  )

/** Five peers, one write group each, no snapshot. */
const fivePeers = (dir: string) =>
  Effect.provide(
    Effect.forEach(["p1", "p2", "p3", "p4", "p5"], addPeer, { discard: true }),
    openLog(dir).layer
  )

/**
 * A corrupted log is refused by every entry point with the same line, and
 * nothing is cut, skipped or locked on the way.
 */
const expectRefusedEverywhere = (dir: string, line: number, reason: RegExp) =>
  Effect.gen(function*() {
    const file = segmentFile(dir)
    const before = fs.readFileSync(file)
    const { layer, notices } = openLog(dir)
    const failures = yield* Effect.provide(
      Effect.all({
        load: Effect.flip(loadAll),
        verify: Effect.flip(verifyLog),
        read: Effect.flip(readAll()),
        replay: Effect.flip(Effect.flatMap(EventLog, (log) => log.replay(["clock", "peers"], () => "fold"))),
        transact: Effect.flip(addPeer("late"))
      }),
      layer
    )
    for (const [entry, error] of Object.entries(failures)) {
      expect(error, entry).toBeInstanceOf(IntegrityError)
      expect({ entry, file: (error as IntegrityError).file, line: (error as IntegrityError).line }).toEqual({ entry, file, line })
      expect((error as IntegrityError).reason, entry).toMatch(reason)
    }
    expect(fs.readFileSync(file).equals(before)).toBe(true)
    expect(notices).toEqual([])
    expect(fs.existsSync(lockFile(dir))).toBe(false)
  })

describe("FileEventLog: append and reopen", () => {
  it.effect("appended events survive a reopen: same state and head, read() yields seq 1..n, verify counts them", () =>
    Effect.gen(function*() {
      const dir = newLogDir()
      const written = yield* Effect.provide(
        Effect.gen(function*() {
          for (const name of ["alpha", "bravo", "charlie", "delta"]) yield* addPeer(name)
          yield* removePeer("bravo")
          return yield* loadAll
        }),
        openLog(dir).layer
      )
      const reopened = openLog(dir)
      const { events, fromThree, loaded, report } = yield* Effect.provide(
        Effect.all({ loaded: loadAll, events: readAll(), fromThree: readAll(3), report: verifyLog }),
        reopened.layer
      )
      expect(loaded.head).toEqual(written.head)
      expect(encodeState(loaded.state)).toEqual(encodeState(written.state))
      expect(peerNames(loaded.state)).toEqual(["alpha", "charlie", "delta"])
      expect(events.map((event) => event.seq)).toEqual([1, 2, 3, 4, 5])
      expect(events.map((event) => event.type)).toEqual(["PeerAdded", "PeerAdded", "PeerAdded", "PeerAdded", "PeerRemoved"])
      expect(events.map((event) => (event.data as { name: string }).name)).toEqual(["alpha", "bravo", "charlie", "delta", "bravo"])
      expect(events[events.length - 1]!.hash).toBe(loaded.head.hash)
      expect(fromThree.map((event) => event.seq)).toEqual([3, 4, 5])
      expect(report).toEqual({ events: 5, segments: 1, head: loaded.head, snapshotSeq: 0, unfinishedLines: 0 })
      expect(encodeState(fold(events))).toEqual(encodeState(loaded.state))
      expect(reopened.notices).toEqual([])
      expect(fs.existsSync(lockFile(dir))).toBe(false)
    }))

  it.effect("an empty log loads as the initial state at seq 0 and verifies with no events", () =>
    Effect.gen(function*() {
      const dir = newLogDir()
      const { events, loaded, report } = yield* Effect.provide(
        Effect.all({ loaded: loadAll, events: readAll(), report: verifyLog }),
        openLog(dir).layer
      )
      expect(loaded.head).toEqual({ seq: 0, hash: GENESIS_HASH })
      expect(encodeState(loaded.state)).toEqual(encodeState(initialTownState))
      expect(events).toEqual([])
      expect(report).toEqual({ events: 0, segments: 0, head: { seq: 0, hash: GENESIS_HASH }, snapshotSeq: 0, unfinishedLines: 0 })
    }))
})

describe("FileEventLog: write groups and the chain", () => {
  it.effect("the events of one transact are one write group with the commit marker on its last line only", () =>
    Effect.gen(function*() {
      const dir = newLogDir()
      const { layer } = openLog(dir)
      const { committed, first } = yield* Effect.provide(
        Effect.all({ first: addPeer("first"), committed: appendGroup(["g1", "g2", "g3"].map(peerAdded)) }),
        layer
      )
      const lines = linesOf(segmentFile(dir))
      expect(fs.readFileSync(segmentFile(dir), "utf8").endsWith("\n")).toBe(true)
      expect(lines).toHaveLength(4)
      const parsed = lines.map((line) => JSON.parse(line) as Envelope & { commit?: boolean })
      expect(parsed.map((line) => line.commit)).toEqual([true, undefined, undefined, true])

      // Clock fields: each own event is stamped after the one before it is folded.
      expect(parsed.map((line) => line.seq)).toEqual([1, 2, 3, 4])
      expect(parsed.map((line) => line.townSeq)).toEqual([1, 2, 3, 4])
      expect(parsed.map((line) => line.lamport)).toEqual([1, 2, 3, 4])
      expect(parsed.map((line) => line.id)).toEqual([1, 2, 3, 4].map((n) => `${TOWN}:${n}`))
      expect(parsed.map((line) => line.town)).toEqual([TOWN, TOWN, TOWN, TOWN])
      expect(parsed.map((line) => line.seen)).toEqual([{}, { [TOWN]: 1 }, { [TOWN]: 2 }, { [TOWN]: 3 }])
      expect(parsed.map((line) => [line.type, line.at, line.actor])).toEqual(
        Array.from({ length: 4 }, () => ["PeerAdded", AT, ACTOR])
      )

      // What transact hands back is exactly what is on disk.
      expect(first.appended).toEqual(parsed.slice(0, 1))
      expect(committed.appended).toEqual(parsed.slice(1))
      expect(committed.head).toEqual({ seq: 4, hash: parsed[3]!.hash })
      expect(committed.state.clock).toEqual({ lamport: 4, seen: { [TOWN]: 4 }, count: 4 })
      expect(peerNames(committed.state)).toEqual(["first", "g1", "g2", "g3"])

      // The chain and the line format: canonical body, then the hash spliced in before the closing brace.
      parsed.forEach((line, i) => {
        expect(line.prev).toBe(i === 0 ? GENESIS_HASH : parsed[i - 1]!.hash)
        const { hash, ...unsealed } = line
        const body = canonicalJson(unsealed)
        expect(lines[i]).toBe(`${body.slice(0, -1)},"hash":"${hash}"}`)
        expect(chainHash(line.prev, body)).toBe(hash)
      })
    }))

  it.effect("foreign events keep their origin fields, come first in the group and advance the clock", () =>
    Effect.gen(function*() {
      const dir = newLogDir()
      const other = "fedcba9876543210"
      const foreign = {
        id: `${other}:5`,
        town: other,
        townSeq: 5,
        lamport: 10,
        seen: { [other]: 4 },
        type: "IssueNoted",
        at: AT,
        actor: "someone else",
        data: { note: "from a peer" },
        sig: "c2lnbmF0dXJl"
      }
      const committed = yield* Effect.provide(appendGroup([peerAdded("mine")], [foreign]), openLog(dir).layer)
      const [placed, own] = committed.appended
      expect(placed).toMatchObject({ ...foreign, seq: 1, prev: GENESIS_HASH })
      expect(own).toMatchObject({ seq: 2, id: `${TOWN}:1`, town: TOWN, townSeq: 1, lamport: 11, seen: { [other]: 5 }, prev: placed!.hash })
      const loaded = yield* Effect.provide(loadAll, openLog(dir).layer)
      expect(loaded.state.clock).toEqual({ lamport: 11, seen: { [other]: 5, [TOWN]: 1 }, count: 2 })
      expect(linesOf(segmentFile(dir)).map((line) => (JSON.parse(line) as { commit?: boolean }).commit)).toEqual([undefined, true])
    }))
})

describe("FileEventLog: unfinished writes at the end", () => {
  it.effect("a torn last line is ignored by readers, cut and reported by the next transact, which appends after it", () =>
    Effect.gen(function*() {
      const dir = newLogDir()
      const file = segmentFile(dir)
      yield* Effect.provide(Effect.forEach(["p1", "p2", "p3"], addPeer, { discard: true }), openLog(dir).layer)
      const clean = fs.readFileSync(file)
      const fragment = "{\"actor\":\"tester\",\"at\":\"2025-01-01T00:00:00.000Z\",\"data\":{\"endpoint\":\"file:///tm"
      fs.appendFileSync(file, fragment)
      const torn = fs.readFileSync(file)

      const readers = openLog(dir)
      const seen = yield* Effect.provide(Effect.all({ loaded: loadAll, events: readAll(), report: verifyLog }), readers.layer)
      expect(seen.loaded.head.seq).toBe(3)
      expect(peerNames(seen.loaded.state)).toEqual(["p1", "p2", "p3"])
      expect(seen.events.map((event) => event.seq)).toEqual([1, 2, 3])
      expect(seen.report).toMatchObject({ events: 3, unfinishedLines: 1, head: seen.loaded.head })
      expect(fs.readFileSync(file).equals(torn)).toBe(true)
      expect(readers.notices).toEqual([])

      const writer = openLog(dir)
      const committed = yield* Effect.provide(addPeer("p4"), writer.layer)
      expect(writer.notices).toHaveLength(1)
      expect(writer.notices[0]).toContain(file)
      expect(writer.notices[0]).toContain(`${Buffer.byteLength(fragment)} bytes`)
      expect(committed.appended.map((event) => event.seq)).toEqual([4])
      expect(committed.appended[0]!.prev).toBe(seen.loaded.head.hash)

      const after = fs.readFileSync(file)
      expect(after.subarray(0, clean.length).equals(clean)).toBe(true)
      const added = after.subarray(clean.length).toString("utf8")
      expect(added.endsWith("\n")).toBe(true)
      expect(added.slice(0, -1).includes("\n")).toBe(false)
      expect(JSON.parse(added)).toMatchObject({ seq: 4, commit: true })

      const report = yield* Effect.provide(verifyLog, openLog(dir).layer)
      expect(report).toMatchObject({ events: 4, unfinishedLines: 0, head: committed.head })
      expect(fs.existsSync(lockFile(dir))).toBe(false)
    }))

  /**
   * The first lines of a sealed multi-event group, as a crash between them
   * would leave them: made by sealing the same group on a copy of the log.
   */
  const unfinishedGroup = (dir: string) =>
    Effect.gen(function*() {
      const copy = `${path.dirname(dir)}-copy/log`
      fs.cpSync(dir, copy, { recursive: true })
      const before = linesOf(segmentFile(dir)).length
      yield* Effect.provide(appendGroup(["g1", "g2", "g3"].map(peerAdded)), openLog(copy).layer)
      const group = linesOf(segmentFile(copy)).slice(before)
      expect(group).toHaveLength(3)
      return group
    })

  it.effect("complete lines of a group without its commit marker are ignored by readers and cut by the next writer", () =>
    Effect.gen(function*() {
      const dir = newLogDir()
      const file = segmentFile(dir)
      yield* Effect.provide(Effect.forEach(["p1", "p2", "p3"], addPeer, { discard: true }), openLog(dir).layer)
      const clean = fs.readFileSync(file)
      const group = yield* unfinishedGroup(dir)
      const partial = `${group[0]}\n${group[1]}\n`
      fs.appendFileSync(file, partial)

      const seen = yield* Effect.provide(Effect.all({ loaded: loadAll, events: readAll(), report: verifyLog }), openLog(dir).layer)
      expect(seen.loaded.head.seq).toBe(3)
      expect(peerNames(seen.loaded.state)).toEqual(["p1", "p2", "p3"])
      expect(seen.events.map((event) => event.seq)).toEqual([1, 2, 3])
      expect(seen.report).toMatchObject({ events: 3, unfinishedLines: 2 })

      const writer = openLog(dir)
      const committed = yield* Effect.provide(addPeer("p4"), writer.layer)
      expect(writer.notices).toHaveLength(1)
      expect(writer.notices[0]).toContain(file)
      expect(writer.notices[0]).toContain(`${Buffer.byteLength(partial)} bytes`)
      expect(writer.notices[0]).toContain("2 line(s)")
      expect(committed.appended[0]).toMatchObject({ seq: 4, townSeq: 4, prev: seen.loaded.head.hash })
      expect(peerNames(committed.state)).toEqual(["p1", "p2", "p3", "p4"])
      expect(fs.readFileSync(file).subarray(0, clean.length).equals(clean)).toBe(true)
      expect(linesOf(file)).toHaveLength(4)

      const report = yield* Effect.provide(verifyLog, openLog(dir).layer)
      expect(report).toMatchObject({ events: 4, unfinishedLines: 0, head: committed.head })
    }))

  it.effect("complete uncommitted lines followed by a torn fragment are cut together", () =>
    Effect.gen(function*() {
      const dir = newLogDir()
      const file = segmentFile(dir)
      yield* Effect.provide(Effect.forEach(["p1", "p2"], addPeer, { discard: true }), openLog(dir).layer)
      const clean = fs.readFileSync(file)
      const group = yield* unfinishedGroup(dir)
      const partial = `${group[0]}\n${group[1]}\n${group[2]!.slice(0, 40)}`
      fs.appendFileSync(file, partial)

      const report = yield* Effect.provide(verifyLog, openLog(dir).layer)
      expect(report).toMatchObject({ events: 2, unfinishedLines: 3 })
      const writer = openLog(dir)
      yield* Effect.provide(addPeer("p3"), writer.layer)
      expect(writer.notices).toHaveLength(1)
      expect(writer.notices[0]).toContain(`${Buffer.byteLength(partial)} bytes`)
      expect(writer.notices[0]).toContain("3 line(s)")
      expect(fs.readFileSync(file).subarray(0, clean.length).equals(clean)).toBe(true)
      const final = yield* Effect.provide(Effect.all({ report: verifyLog, loaded: loadAll }), openLog(dir).layer)
      expect(final.report).toMatchObject({ events: 3, unfinishedLines: 0 })
      expect(peerNames(final.loaded.state)).toEqual(["p1", "p2", "p3"])
    }))
})

describe("FileEventLog: corruption in the middle of the log", () => {
  it.effect("one changed byte inside an event's data is an IntegrityError at that line for load, verify, read and transact", () =>
    Effect.gen(function*() {
      const dir = newLogDir()
      yield* fivePeers(dir)
      const file = segmentFile(dir)
      const lines = linesOf(file)
      const bytes = fs.readFileSync(file)
      const at = lineOffset(lines, 3) + lines[2]!.indexOf("file:///tmp/p3") + "file:///tmp/".length
      expect(String.fromCharCode(bytes[at]!)).toBe("p")
      bytes[at] = "q".charCodeAt(0)
      fs.writeFileSync(file, bytes)
      yield* expectRefusedEverywhere(dir, 3, /hash does not match/)
    }))

  it.effect("a deleted middle line is an IntegrityError (seq gap) at the line that follows the gap", () =>
    Effect.gen(function*() {
      const dir = newLogDir()
      yield* fivePeers(dir)
      const file = segmentFile(dir)
      const lines = linesOf(file)
      writeLines(file, [...lines.slice(0, 2), ...lines.slice(3)])
      yield* expectRefusedEverywhere(dir, 3, /seq 4 where 3 was expected/)
    }))

  it.effect("a line that is not JSON is an IntegrityError at that line", () =>
    Effect.gen(function*() {
      const dir = newLogDir()
      yield* fivePeers(dir)
      const file = segmentFile(dir)
      const lines = linesOf(file)
      writeLines(file, [...lines.slice(0, 2), "this is not an event", ...lines.slice(3)])
      yield* expectRefusedEverywhere(dir, 3, /not a valid event line/)
    }))

  it.effect("a middle line re-sealed with other data breaks the chain at the next line", () =>
    Effect.gen(function*() {
      const dir = newLogDir()
      yield* fivePeers(dir)
      const file = segmentFile(dir)
      const lines = linesOf(file)
      const { hash: _hash, ...unsealed } = JSON.parse(lines[2]!) as Envelope
      const forged = sealLine({ ...unsealed, data: { name: "p3", endpoint: "file:///tmp/elsewhere", hasCredentials: false } })
      writeLines(file, [...lines.slice(0, 2), forged.line, ...lines.slice(3)])
      yield* expectRefusedEverywhere(dir, 4, /prev does not match/)
    }))
})

describe("FileEventLog: corruption and snapshots", () => {
  it.effect("a changed line after the snapshot is an IntegrityError at its line for load and transact", () =>
    Effect.gen(function*() {
      const dir = newLogDir()
      yield* Effect.provide(Effect.forEach(["p1", "p2", "p3", "p4", "p5"], addPeer, { discard: true }), openLog(dir, { snapshotEvery: 3 }).layer)
      const file = segmentFile(dir)
      const lines = linesOf(file)
      writeLines(file, [...lines.slice(0, 4), lines[4]!.replace("file:///tmp/p5", "file:///tmp/p6")])
      yield* expectRefusedEverywhere(dir, 5, /hash does not match/)
    }))

  it.effect("a changed line before the snapshot is found by verify and read, which check the whole chain", () =>
    Effect.gen(function*() {
      const dir = newLogDir()
      yield* Effect.provide(Effect.forEach(["p1", "p2", "p3", "p4", "p5"], addPeer, { discard: true }), openLog(dir, { snapshotEvery: 3 }).layer)
      const file = segmentFile(dir)
      const lines = linesOf(file)
      writeLines(file, [lines[0]!, lines[1]!.replace("file:///tmp/p2", "file:///tmp/p7"), ...lines.slice(2)])
      const { read, verify } = yield* Effect.provide(
        Effect.all({ verify: Effect.flip(verifyLog), read: Effect.flip(readAll()) }),
        openLog(dir).layer
      )
      for (const error of [verify, read]) {
        expect(error).toBeInstanceOf(IntegrityError)
        expect(error).toMatchObject({ file, line: 2 })
      }
    }))
})

describe("FileEventLog: decisions", () => {
  it.effect("concurrent transacts on one layer are serialised: no seq is lost or repeated", () =>
    Effect.gen(function*() {
      const dir = newLogDir()
      const { layer } = openLog(dir, { snapshotEvery: 4 })
      const names = Array.from({ length: 20 }, (_, i) => `c${i}`)
      yield* Effect.provide(Effect.forEach(names, addPeer, { concurrency: "unbounded", discard: true }), layer)
      const { events, loaded, report } = yield* Effect.provide(
        Effect.all({ loaded: loadAll, events: readAll(), report: verifyLog }),
        openLog(dir).layer
      )
      expect(events.map((event) => event.seq)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1))
      expect(new Set(events.map((event) => event.id)).size).toBe(20)
      expect(peerNames(loaded.state)).toEqual([...names].sort())
      expect(report).toMatchObject({ events: 20, snapshotSeq: 20 })
    }))

  it.effect("a decision that fails appends nothing: the segment is byte for byte the same", () =>
    Effect.gen(function*() {
      const dir = newLogDir()
      const { layer, notices } = openLog(dir)
      yield* Effect.provide(addPeer("staging"), layer)
      const file = segmentFile(dir)
      const before = fs.readFileSync(file)
      const { duplicate, missing } = yield* Effect.provide(
        Effect.all({ duplicate: Effect.flip(addPeer("staging")), missing: Effect.flip(removePeer("nobody")) }),
        layer
      )
      expect(duplicate).toBeInstanceOf(PeerAlreadyExists)
      expect(missing).toBeInstanceOf(PeerNotFound)
      expect(fs.readFileSync(file).equals(before)).toBe(true)
      expect(fs.readdirSync(dir).sort()).toEqual(["000001.jsonl"])
      expect(notices).toEqual([])
      const report = yield* Effect.provide(verifyLog, layer)
      expect(report).toMatchObject({ events: 1, unfinishedLines: 0 })
    }))

  it.effect("a decision with no events appends nothing and reports the current head", () =>
    Effect.gen(function*() {
      const dir = newLogDir()
      const { layer } = openLog(dir)
      const added = yield* Effect.provide(addPeer("staging"), layer)
      const before = fs.readFileSync(segmentFile(dir))
      const committed = yield* Effect.provide(appendGroup([]), layer)
      expect(committed.appended).toEqual([])
      expect(committed.head).toEqual(added.head)
      expect(fs.readFileSync(segmentFile(dir)).equals(before)).toBe(true)
    }))
})

describe("FileEventLog: snapshots", () => {
  it.effect("every N events a snapshot is taken; snapshot + tail loads the same state as a full fold", () =>
    Effect.gen(function*() {
      const dir = newLogDir()
      const { layer } = openLog(dir, { snapshotEvery: 5 })
      const names = Array.from({ length: 12 }, (_, i) => `peer${i + 1}`)
      yield* Effect.provide(Effect.forEach(names, addPeer, { discard: true }), layer)
      expect(fs.readFileSync(path.join(snapshotsDir(dir), "CURRENT"), "utf8").trim()).toBe("000000000010")
      // The previous snapshot is kept for readers that started on it; older ones are removed.
      expect(fs.readdirSync(snapshotsDir(dir)).sort()).toEqual(["000000000005", "000000000010", "CURRENT"])
      const meta = JSON.parse(fs.readFileSync(path.join(currentSnapshot(dir), "meta.json"), "utf8")) as { seq: number }
      expect(meta.seq).toBe(10)

      const { events, loaded, report } = yield* Effect.provide(
        Effect.all({ loaded: loadAll, events: readAll(), report: verifyLog }),
        openLog(dir).layer
      )
      expect(loaded.head).toEqual({ seq: 12, hash: events[11]!.hash })
      expect(encodeState(loaded.state)).toEqual(encodeState(fold(events)))
      expect(peerNames(loaded.state)).toEqual([...names].sort())
      expect(report).toMatchObject({ events: 12, snapshotSeq: 10, unfinishedLines: 0 })
    }))

  const command = FastCheck.record({
    op: FastCheck.constantFrom("add" as const, "remove" as const),
    name: FastCheck.constantFrom("ash", "birch", "cedar", "dogwood", "elm")
  })

  it.effect.prop(
    "for any commands and snapshot interval, load (snapshot + tail) equals a full fold of read()",
    [FastCheck.array(command, { maxLength: 30 }), FastCheck.integer({ min: 1, max: 8 })],
    ([commands, every]) =>
      Effect.gen(function*() {
        const dir = newLogDir()
        const { layer } = openLog(dir, { snapshotEvery: every })
        let appended = 0
        for (const { name, op } of commands) {
          const run: Effect.Effect<unknown, { readonly _tag: string }, EventLog> = op === "add" ? addPeer(name) : removePeer(name)
          const outcome = yield* Effect.either(Effect.provide(run, layer))
          if (Either.isRight(outcome)) appended++
          else expect(outcome.left._tag).toBe(op === "add" ? "PeerAlreadyExists" : "PeerNotFound")
        }
        const { events, loaded, report } = yield* Effect.provide(
          Effect.all({ loaded: loadAll, events: readAll(), report: verifyLog }),
          openLog(dir).layer
        )
        expect(events.map((event) => event.seq)).toEqual(Array.from({ length: appended }, (_, i) => i + 1))
        expect(encodeState(loaded.state)).toEqual(encodeState(fold(events)))
        expect(loaded.head).toEqual(appended === 0 ? { seq: 0, hash: GENESIS_HASH } : { seq: appended, hash: events[appended - 1]!.hash })
        expect(report).toMatchObject({ events: appended, snapshotSeq: Math.floor(appended / every) * every, unfinishedLines: 0 })
      }),
    { timeout: 300_000, fastCheck: { numRuns: 40 } }
  )

  it.effect("a snapshot taken after a group of imports holds the issues a full fold gives, whether or not an issue changed again in the group", () =>
    Effect.gen(function*() {
      const dir = newLogDir()
      const fourth = "bd-\u00e9\u4e2d"
      const parsed = readIssuesJsonl(
        [
          `{"id":"bd-b","title":"Second","status":"open","priority":1,"labels":["cli","sync"],"assignee":null,"created_at":"${AT}","updated_at":"${AT}"}`,
          `{"id":"bd-a","title":"First","10":"integer-like key","__proto__":"an own member","source_system":"elsewhere","updated_at":"${AT}"}`,
          `{"id":"bd-c\ud83d\ude00","title":"Third","description":"line\\u2028sep","updated_at":"${AT}"}`,
          // Characters of two and three UTF-8 bytes (the line above has a surrogate pair and an escape).
          `{"id":"${fourth}","title":"Fourth \u00fcber \u4e2d\u6587","labels":["\u00e9t\u00e9"],"updated_at":"${AT}"}`
        ].join("\n"),
        "test.jsonl"
      )
      const records = Either.getOrThrow(parsed)
      const later = { id: "bd-c\ud83d\ude00", title: "Third, retitled", updated_at: "2025-02-01T00:00:00.000Z" }
      // One group: four new issues, then a change to the third (whose fields are then no longer the imported object).
      const retitle = { type: "IssueImported", at: AT, actor: ACTOR, data: { fields: { title: later.title, updated_at: later.updated_at }, id: later.id } }
      yield* Effect.provide(
        Effect.flatMap(EventLog, (log) =>
          log.transact(["issues"], (state) =>
            Either.map(
              decideIssue(state.issues, { _tag: "ImportIssues", records, town: TOWN, actor: ACTOR, at: AT }),
              (events) => ({ events: [...events, retitle], result: events.length })
            ))),
        openLog(dir, { snapshotEvery: 2 }).layer
      )
      const { events, loaded, looked, report } = yield* Effect.provide(
        Effect.all({
          loaded: loadAll,
          events: readAll(),
          report: verifyLog,
          looked: Effect.flatMap(EventLog, (log) => log.lookup("issues", [fourth, "bd-a", "bd-b"]))
        }),
        openLog(dir).layer
      )
      expect(report).toMatchObject({ events: 5, snapshotSeq: 5 })
      const folded = fold(events)
      expect(encodeState(loaded.state)).toEqual(encodeState(folded))
      const stored = JSON.parse(fs.readFileSync(path.join(currentSnapshot(dir), "issues.json"), "utf8")) as ReadonlyArray<
        { fields: Record<string, unknown> } | { ref: ReadonlyArray<number> }
      >
      // The second and fourth issues are as their imports made them: their entries refer to the imports' lines. The
      // first was laid out anew (an integer-like key goes first in a JS object) and the third changed: they are written out.
      expect(stored.map((issue) => ("ref" in issue ? `ref seq ${issue.ref[3]}` : issue.fields["title"])))
        .toEqual(["First", "ref seq 1", "Third, retitled", "ref seq 4"])
      expect(Object.hasOwn((stored[0] as { fields: Record<string, unknown> }).fields, "__proto__")).toBe(true)
      for (const [at, event] of [[1, events[0]!], [3, events[3]!]] as const) {
        const [segment, offset, length] = (stored[at] as { ref: ReadonlyArray<number> }).ref
        expect(segment).toBe(1)
        expect(JSON.parse(fs.readFileSync(segmentFile(dir)).toString("utf8", offset, offset! + length!))).toEqual(event)
      }
      expect(Option.getOrThrow(getIssue(loaded.state.issues, "bd-b")).fields).not.toHaveProperty("assignee")
      // Through the index, the entries (the reference resolved) read back as the fold has them.
      for (const id of [fourth, "bd-a", "bd-b"]) {
        expect(Option.getOrThrow(getIssue(looked.state.issues, id))).toEqual(Option.getOrThrow(getIssue(folded.issues, id)))
      }
    }))

  /** Import these issues (title given) in one write group, as `bd import` does. */
  const importTitles = (titles: Readonly<Record<string, string>>) =>
    Effect.flatMap(EventLog, (log) =>
      log.transact(["issues"], (state) =>
        Either.map(
          decideIssue(state.issues, {
            _tag: "ImportIssues",
            // Fields that sort before "id" too: a line's fields, folded again, are laid out anew (a copy).
            records: Object.entries(titles).map(([id, title]) => ({ id, title, description: `About ${title}`, created_at: AT, status: "open", updated_at: AT })),
            town: TOWN,
            actor: ACTOR,
            at: AT
          }),
          (events) => ({ events, result: events.length })
        )))

  const storedIssues = (dir: string): ReadonlyArray<Record<string, unknown>> =>
    JSON.parse(fs.readFileSync(path.join(currentSnapshot(dir), "issues.json"), "utf8")) as ReadonlyArray<Record<string, unknown>>

  it.effect("entries that refer to their imports' lines stay references in later snapshots until their issue changes", () =>
    Effect.gen(function*() {
      const dir = newLogDir()
      yield* Effect.provide(importTitles({ "bd-1": "One", "bd-2": "Two", "bd-3": "Three", "bd-4": "Four" }), openLog(dir, { snapshotEvery: 4 }).layer)
      const first = storedIssues(dir)
      expect(first.map((entry) => Object.keys(entry))).toEqual([["ref"], ["ref"], ["ref"], ["ref"]])
      // Another process: what it knows of the lines comes from the snapshot's references.
      const { layer } = openLog(dir, { snapshotEvery: 4 })
      yield* Effect.provide(
        Effect.flatMap(EventLog, (log) =>
          log.transact(["issues"], () =>
            Either.right({
              events: [{ type: "IssueUpdated", at: AT, actor: ACTOR, data: { id: "bd-2", changes: { title: "Two, renamed" } } }],
              result: 1
            }))),
        layer
      )
      yield* Effect.provide(Effect.forEach(["p1", "p2", "p3"], addPeer, { discard: true }), layer)
      const { events, looked, loaded, report } = yield* readBack(dir, ["bd-1", "bd-2"])
      expect(report).toMatchObject({ events: 8, snapshotSeq: 8 })
      const second = storedIssues(dir)
      expect(second[0]).toEqual(first[0])
      expect((second[1]!["fields"] as Record<string, unknown>)["title"]).toBe("Two, renamed")
      expect(second.slice(2)).toEqual(first.slice(2))
      const folded = fold(events)
      expect(encodeState(loaded.state)).toEqual(encodeState(folded))
      for (const id of ["bd-1", "bd-2"]) {
        expect(Option.getOrThrow(getIssue(looked.state.issues, id))).toEqual(Option.getOrThrow(getIssue(folded.issues, id)))
      }
    }))

  /** A snapshot of four imported issues whose second entry is rewritten, keeping its length (the index stays right). */
  const withSecondRef = (rewrite: (ref: ReadonlyArray<number>) => ReadonlyArray<number>) =>
    Effect.gen(function*() {
      const dir = newLogDir()
      yield* Effect.provide(importTitles({ "bd-1": "One", "bd-2": "Two", "bd-3": "Three", "bd-4": "Four" }), openLog(dir, { snapshotEvery: 4 }).layer)
      const file = path.join(currentSnapshot(dir), "issues.json")
      const lines = fs.readFileSync(file, "utf8").split("\n")
      const ref = (JSON.parse(lines[2]!.replace(/,$/, "")) as { ref: ReadonlyArray<number> }).ref
      const changed = `{"ref":${JSON.stringify(rewrite(ref))}},`
      expect(changed).toHaveLength(lines[2]!.length)
      lines[2] = changed
      fs.writeFileSync(file, lines.join("\n"))
      return { dir, file }
    })

  it.effect("an entry referring to a line that is not the event it names is an IntegrityError at that entry, for load, lookup and verify", () =>
    Effect.gen(function*() {
      for (
        const rewrite of [
          // The line of another event (seq 3, an import too).
          (ref: ReadonlyArray<number>) => [ref[0]!, ref[1]!, ref[2]!, ref[3]! + 1],
          // Past the snapshot (seq 4): no snapshot depends on a later event.
          (ref: ReadonlyArray<number>) => [ref[0]!, ref[1]!, ref[2]!, 9],
          // A segment that is not there.
          (ref: ReadonlyArray<number>) => [7, ref[1]!, ref[2]!, ref[3]!],
          // Not where a line starts.
          (ref: ReadonlyArray<number>) => [ref[0]!, ref[1]! + 1, ref[2]! - 1, ref[3]!]
        ]
      ) {
        const { dir, file } = yield* withSecondRef(rewrite)
        const failures = yield* Effect.provide(
          Effect.all({
            load: Effect.flip(loadAll),
            verify: Effect.flip(verifyLog),
            lookup: Effect.flip(Effect.flatMap(EventLog, (log) => log.lookup("issues", ["bd-2"]))),
            select: Effect.flip(Effect.flatMap(EventLog, (log) => log.select("issues", () => true, 10)))
          }),
          openLog(dir).layer
        )
        for (const [entry, error] of Object.entries(failures)) {
          expect(error, entry).toBeInstanceOf(IntegrityError)
          expect({ entry, file: (error as IntegrityError).file, line: (error as IntegrityError).line }).toEqual({ entry, file, line: 3 })
          expect((error as IntegrityError).reason).toContain("refers to a log line")
        }
      }
    }))

  it.effect("a snapshot of format 1 (no references) is read; one of a format this bd does not know is passed over", () =>
    Effect.gen(function*() {
      const dir = newLogDir()
      yield* Effect.provide(Effect.forEach(["a1", "a2", "a3", "a4"], addPeer, { discard: true }), openLog(dir, { snapshotEvery: 3 }).layer)
      const metaFile = path.join(currentSnapshot(dir), "meta.json")
      const meta = JSON.parse(fs.readFileSync(metaFile, "utf8")) as { version: number }
      expect(meta.version).toBe(2)
      for (const [version, snapshotSeq] of [[1, 3], [3, 0]] as const) {
        fs.writeFileSync(metaFile, JSON.stringify({ ...meta, version }))
        const { events, loaded, report } = yield* Effect.provide(
          Effect.all({ events: readAll(), loaded: loadAll, report: verifyLog }),
          openLog(dir).layer
        )
        expect(report).toMatchObject({ events: 4, snapshotSeq })
        expect(encodeState(loaded.state)).toEqual(encodeState(fold(events)))
      }
    }))

  it.effect("a snapshot whose meta names a wrong hash makes verify fail", () =>
    Effect.gen(function*() {
      const dir = newLogDir()
      yield* Effect.provide(Effect.forEach(["a1", "a2", "a3", "a4", "a5", "a6"], addPeer, { discard: true }), openLog(dir, { snapshotEvery: 3 }).layer)
      const metaFile = path.join(currentSnapshot(dir), "meta.json")
      const meta = JSON.parse(fs.readFileSync(metaFile, "utf8")) as { seq: number; hash: string }
      expect(meta.seq).toBe(6)
      fs.writeFileSync(metaFile, JSON.stringify({ ...meta, hash: chainHash(meta.hash, "not the log") }))
      const error = yield* Effect.flip(Effect.provide(verifyLog, openLog(dir).layer))
      expect(error).toBeInstanceOf(IntegrityError)
      expect((error as IntegrityError).file).toBe(segmentFile(dir))
      expect((error as IntegrityError).reason).toContain("snapshot at seq 6")
    }))

  it.effect("a snapshot whose state differs from the log makes verify fail", () =>
    Effect.gen(function*() {
      const dir = newLogDir()
      yield* Effect.provide(Effect.forEach(["a1", "a2", "a3"], addPeer, { discard: true }), openLog(dir, { snapshotEvery: 3 }).layer)
      const peersFile = path.join(currentSnapshot(dir), "peers.json")
      const peers = JSON.parse(fs.readFileSync(peersFile, "utf8")) as Array<Record<string, unknown>>
      fs.writeFileSync(peersFile, JSON.stringify([...peers, { ...peers[0], name: "intruder", endpoint: "file:///tmp/intruder" }]))
      // The forged peer is what every reader now sees...
      const loaded = yield* Effect.provide(loadAll, openLog(dir).layer)
      expect(peerNames(loaded.state)).toContain("intruder")
      // ...so verify, which checks "the snapshot against" the chain, must not call it intact.
      const outcome = yield* Effect.either(Effect.provide(verifyLog, openLog(dir).layer))
      expect(Either.isLeft(outcome) ? outcome.left._tag : "verify passed with a forged snapshot").toBe("IntegrityError")
    }))

  it.effect("a snapshot written before a slice existed (no file for it) still loads: that slice is folded from the log", () =>
    Effect.gen(function*() {
      const dir = newLogDir()
      const { layer } = openLog(dir, { snapshotEvery: 3 })
      yield* Effect.provide(Effect.forEach(["a1", "a2", "a3", "a4"], addPeer, { discard: true }), layer)
      // What an older bd left behind: the same snapshot without the newest slice's file.
      const newest = SliceNames[SliceNames.length - 1]!
      const at = currentSnapshot(dir)
      const meta = JSON.parse(fs.readFileSync(path.join(at, "meta.json"), "utf8")) as { slices: ReadonlyArray<string> }
      fs.writeFileSync(path.join(at, "meta.json"), JSON.stringify({ ...meta, slices: meta.slices.filter((name) => name !== newest) }))
      fs.rmSync(path.join(at, `${newest}.json`))
      const { layer: reopened, notices } = openLog(dir, { snapshotEvery: 3 })
      const loaded = yield* Effect.either(Effect.provide(loadAll, reopened))
      expect(Either.isLeft(loaded) ? loaded.left.message : "loaded").toBe("loaded")
      const events = yield* Effect.provide(readAll(), reopened)
      expect(encodeState(Either.getOrThrow(loaded).state)).toEqual(encodeState(fold(events)))
      yield* Effect.provide(addPeer("a5"), reopened)
      expect(notices).toEqual([])
    }))

  it.effect("a log cut back behind its snapshot is an IntegrityError, not a silent fallback", () =>
    Effect.gen(function*() {
      const dir = newLogDir()
      yield* Effect.provide(Effect.forEach(["a1", "a2", "a3", "a4"], addPeer, { discard: true }), openLog(dir, { snapshotEvery: 4 }).layer)
      const file = segmentFile(dir)
      writeLines(file, linesOf(file).slice(0, 2))
      const { load, verify } = yield* Effect.provide(
        Effect.all({ load: Effect.flip(loadAll), verify: Effect.flip(verifyLog) }),
        openLog(dir).layer
      )
      expect(load).toBeInstanceOf(IntegrityError)
      expect(verify).toBeInstanceOf(IntegrityError)
    }))

  it.effect("deleting the snapshots directory is harmless: a full replay gives the same state, and snapshots resume", () =>
    Effect.gen(function*() {
      const dir = newLogDir()
      const { layer } = openLog(dir, { snapshotEvery: 5 })
      yield* Effect.provide(Effect.forEach(Array.from({ length: 7 }, (_, i) => `n${i}`), addPeer, { discard: true }), layer)
      const withSnapshot = yield* Effect.provide(loadAll, openLog(dir).layer)
      fs.rmSync(snapshotsDir(dir), { recursive: true })
      const { loaded, report } = yield* Effect.provide(Effect.all({ loaded: loadAll, report: verifyLog }), openLog(dir).layer)
      expect(loaded.head).toEqual(withSnapshot.head)
      expect(encodeState(loaded.state)).toEqual(encodeState(withSnapshot.state))
      expect(report).toMatchObject({ events: 7, snapshotSeq: 0 })
      yield* Effect.provide(addPeer("n7"), layer)
      expect(fs.readFileSync(path.join(snapshotsDir(dir), "CURRENT"), "utf8").trim()).toBe("000000000008")
      const after = yield* Effect.provide(verifyLog, openLog(dir).layer)
      expect(after).toMatchObject({ events: 8, snapshotSeq: 8 })
    }))
})

describe("FileEventLog: a full disk", () => {
  // Small tmpfs, mounted for the tests: only root may mount them. The first holds a log whose snapshots are on a
  // roomy one; the second, a log and its snapshots.
  const mountPoint = path.join(newLogDir(), "small-disk")
  const snapshotsMount = path.join(mountPoint, "log", "snapshots")
  const sharedMount = path.join(newLogDir(), "shared-disk")
  const mount = (at: string, size: string): boolean => {
    fs.mkdirSync(at, { recursive: true })
    return spawnSync("mount", ["-t", "tmpfs", "-o", `size=${size}`, "tmpfs", at], { stdio: "ignore" }).status === 0
  }
  const mounted = process.getuid?.() === 0 && mount(mountPoint, "256k") && mount(snapshotsMount, "4m") && mount(sharedMount, "1m")
  if (!mounted) console.log("skipping the full-disk append tests: they need root, to mount small tmpfs")
  afterAll(() => {
    for (const at of [snapshotsMount, mountPoint, sharedMount]) spawnSync("umount", [at], { stdio: "ignore" })
  })

  it.effect.skipIf(!mounted)("an append the disk has no room for fails with a StorageError and commits nothing: no snapshot staged, the lock let go", () =>
    Effect.gen(function*() {
      const dir = path.join(mountPoint, "log")
      const { layer } = openLog(dir, { snapshotEvery: 2 })
      const big = (label: string): NewEvent => ({ type: "BulkAttachment", at: AT, actor: ACTOR, data: { label, blob: "x".repeat(100 * 1024) } })
      yield* Effect.provide(Effect.gen(function*() {
        yield* addPeer("alpha")
        yield* addPeer("bravo")
      }), layer)
      const snapshotsBefore = fs.readdirSync(snapshotsDir(dir)).sort()
      // Three lines of 100 KB each: more than the room left; the snapshot would be due with them.
      const failed = yield* Effect.either(Effect.provide(appendGroup([big("one"), big("two"), big("three")]), layer))
      expect(Either.isLeft(failed) && failed.left._tag).toBe("StorageError")
      expect(Either.isLeft(failed) && String(failed.left.message)).toMatch(/ENOSPC|no space/i)
      // The snapshot, staged meanwhile on its roomy disk, is not left behind; the one in force is the one before; the lock is free.
      expect(fs.readdirSync(snapshotsDir(dir)).sort()).toEqual(snapshotsBefore)
      expect(fs.existsSync(lockFile(dir))).toBe(false)
      // The next writer cuts what the failed append left and goes on from the head before it.
      const { layer: next, notices } = openLog(dir, { snapshotEvery: 2 })
      const added = yield* Effect.provide(addPeer("charlie"), next)
      expect(added.head.seq).toBe(3)
      expect(notices.some((notice) => notice.startsWith("repaired the log"))).toBe(fs.statSync(segmentFile(dir)).size > 0)
      const { loaded, report } = yield* Effect.provide(Effect.all({ loaded: loadAll, report: verifyLog }), openLog(dir).layer)
      expect(peerNames(loaded.state)).toEqual(["alpha", "bravo", "charlie"])
      expect(report).toMatchObject({ events: 3, unfinishedLines: 0 })
    }))

  /**
   * Six issues made and changed in one group (about 240 KB) on a disk with
   * room for the group and not for its snapshot too (the changed issues
   * written out, about 120 KB). `poolHeld`: Node's thread pool is kept busy
   * until the snapshot is staged, so the snapshot takes the room first.
   */
  const fullerDisk = (name: string, poolHeld: boolean) =>
    Effect.gen(function*() {
      const dir = path.join(sharedMount, name)
      const { layer, notices } = openLog(dir, { snapshotEvery: 2 })
      yield* Effect.provide(Effect.gen(function*() {
        yield* addPeer("alpha")
        yield* addPeer("bravo")
      }), layer)
      const snapshotsBefore = fs.readdirSync(snapshotsDir(dir)).sort()
      const text = (label: string, i: number) => `${label} ${i} `.repeat(20_000 / (label.length + 3))
      const made = Array.from({ length: 6 }, (_, i): NewEvent => ({
        type: "IssueCreated",
        at: AT,
        actor: ACTOR,
        data: { id: `bd-${i}`, fields: { id: `bd-${i}`, title: `Issue ${i}`, description: text("made", i) } }
      }))
      const changed = made.map((_, i): NewEvent => ({
        type: "IssueUpdated",
        at: AT,
        actor: ACTOR,
        data: { id: `bd-${i}`, changes: { description: text("changed", i) } }
      }))
      const filler = path.join(sharedMount, `${name}.filler`)
      const stats = fs.statfsSync(sharedMount)
      fs.writeFileSync(filler, Buffer.alloc(Math.max(0, stats.bavail * stats.bsize - 330 * 1024)))
      let released = Promise.resolve()
      if (poolHeld) {
        // Every thread of the pool waits on a FIFO until a timer fires, which it can only once the writer is
        // waiting for its append: by then the snapshot is staged.
        const fifo = path.join(sharedMount, "pool.fifo")
        spawnSync("mkfifo", [fifo])
        const fd = fs.openSync(fifo, "r+")
        const threads = Number(process.env["UV_THREADPOOL_SIZE"] ?? 4)
        released = new Promise((resolve) => {
          let waiting = threads
          for (let i = 0; i < threads; i++) {
            fs.read(fd, Buffer.alloc(1), 0, 1, null, () => {
              if (--waiting > 0) return
              fs.closeSync(fd)
              fs.rmSync(fifo)
              resolve()
            })
          }
        })
        setTimeout(() => fs.writeSync(fd, Buffer.alloc(threads)), 100)
      }
      const committed = yield* Effect.provide(appendGroup([...made, ...changed]), layer)
      yield* Effect.promise(() => released)
      expect(committed.head.seq).toBe(14)
      // Whichever took the room first, the events are in and the snapshot is not: nothing half-written stays.
      // With the pool free, either may take the room first (the append mostly does, not always on a busy machine).
      expect(notices.filter((notice) => notice.startsWith("could not write a snapshot"))).toEqual([
        poolHeld
          ? "could not write a snapshot: the disk had no room for it beside the events"
          : expect.stringMatching(/ENOSPC|the disk had no room for it beside the events/)
      ])
      expect(fs.readdirSync(snapshotsDir(dir)).sort()).toEqual(snapshotsBefore)
      fs.rmSync(filler)
      const { events, loaded, report } = yield* Effect.provide(
        Effect.all({ events: readAll(), loaded: loadAll, report: verifyLog }),
        openLog(dir).layer
      )
      expect(report).toMatchObject({ events: 14, unfinishedLines: 0, snapshotSeq: 2 })
      expect(encodeState(loaded.state)).toEqual(encodeState(fold(events)))
      fs.rmSync(dir, { recursive: true })
    })

  it.effect.skipIf(!mounted)("a snapshot staged while the group is appended never costs the group its room: the events commit, the snapshot waits", () =>
    Effect.gen(function*() {
      // Nothing holds the pool: the append mostly takes the room first, and the snapshot cannot be staged.
      yield* fullerDisk("first", false)
      // The snapshot takes it first: the append fails, the snapshot is given up and the group appended again.
      yield* fullerDisk("second", true)
    }))

  it.effect("a new snapshot in force keeps the one before it, for readers on it, and removes every other, a left-behind one included", () =>
    Effect.gen(function*() {
      const dir = newLogDir()
      const { layer } = openLog(dir, { snapshotEvery: 2 })
      yield* Effect.provide(Effect.forEach(["a", "b", "c", "d"], addPeer, { discard: true }), layer)
      expect(fs.readdirSync(snapshotsDir(dir)).sort()).toEqual(["000000000002", "000000000004", "CURRENT"])
      // Left behind by a writer that failed between staging and swapping: newer than the snapshot in force.
      fs.cpSync(path.join(snapshotsDir(dir), "000000000004"), path.join(snapshotsDir(dir), "000000000005"), { recursive: true })
      yield* Effect.provide(Effect.forEach(["e", "f"], addPeer, { discard: true }), layer)
      expect(fs.readdirSync(snapshotsDir(dir)).sort()).toEqual(["000000000004", "000000000006", "CURRENT"])
    }))
})

describe("FileEventLog: the writer lock", () => {
  it.effect("a LOCK of a process that is no longer running is taken over, with a notice naming its pid", () =>
    Effect.gen(function*() {
      const dir = newLogDir()
      yield* Effect.provide(addPeer("before"), openLog(dir).layer)
      const gone = spawnSync(process.execPath, ["-e", "0"])
      expect(gone.status).toBe(0)
      const pid = gone.pid!
      fs.writeFileSync(lockFile(dir), JSON.stringify({ pid, command: "bd federation add-peer ghost", at: AT }))
      const { layer, notices } = openLog(dir)
      const committed = yield* Effect.provide(addPeer("after"), layer)
      expect(committed.appended).toHaveLength(1)
      expect(notices).toHaveLength(1)
      expect(notices[0]).toContain(`pid ${pid}`)
      expect(notices[0]).toContain("bd federation add-peer ghost")
      expect(fs.readdirSync(dir).filter((name) => name.startsWith("LOCK"))).toEqual([])
    }))

  it.effect("an unreadable LOCK older than a few seconds is taken over", () =>
    Effect.gen(function*() {
      const dir = newLogDir()
      yield* Effect.provide(addPeer("before"), openLog(dir).layer)
      fs.writeFileSync(lockFile(dir), "")
      const minuteAgo = new Date(Date.now() - 60_000)
      fs.utimesSync(lockFile(dir), minuteAgo, minuteAgo)
      const { layer, notices } = openLog(dir)
      yield* Effect.provide(addPeer("after"), layer)
      expect(notices).toHaveLength(1)
      expect(notices[0]).toContain("unreadable")
      expect(fs.readdirSync(dir).filter((name) => name.startsWith("LOCK"))).toEqual([])
    }))

  /** A live process to name in a LOCK file; killed when the test's scope closes. */
  const liveHolder = Effect.acquireRelease(
    Effect.sync(() => spawn("sleep", ["30"], { stdio: "ignore" })),
    (child) => Effect.sync(() => child.kill("SIGKILL"))
  ).pipe(Effect.map((child) => {
    expect(child.pid).toBeTypeOf("number")
    return child.pid!
  }))

  // Live clock: the lock wait sleeps for real.
  it.scopedLive("a LOCK held by a live process makes transact fail after the wait with RequiresDirectDatabaseAccess naming it", () =>
    Effect.gen(function*() {
      const dir = newLogDir()
      yield* Effect.provide(addPeer("before"), openLog(dir).layer)
      const pid = yield* liveHolder
      const holderCommand = "bd federation add-peer holder"
      fs.writeFileSync(lockFile(dir), JSON.stringify({ pid, command: holderCommand, at: AT }))
      const lockBytes = fs.readFileSync(lockFile(dir))
      const segment = fs.readFileSync(segmentFile(dir))
      const { layer, notices } = openLog(dir, { lockTimeoutMs: 300 })
      const error = yield* Effect.flip(Effect.provide(addPeer("blocked"), layer))
      expect(error).toBeInstanceOf(RequiresDirectDatabaseAccess)
      expect(error.message).toContain("requires direct database access")
      expect(error.message).toContain(String(pid))
      expect(error.message).toContain(holderCommand)
      expect(fs.readFileSync(lockFile(dir)).equals(lockBytes)).toBe(true)
      expect(fs.readFileSync(segmentFile(dir)).equals(segment)).toBe(true)
      expect(notices).toEqual([])
      // Readers do not need the lock.
      const loaded = yield* Effect.provide(loadAll, layer)
      expect(peerNames(loaded.state)).toEqual(["before"])
    }), 60_000)

  it.scopedLive("a writer waits for a live lock to be released, then appends", () =>
    Effect.gen(function*() {
      const dir = newLogDir()
      yield* Effect.provide(addPeer("before"), openLog(dir).layer)
      const pid = yield* liveHolder
      fs.writeFileSync(lockFile(dir), JSON.stringify({ pid, command: "bd federation add-peer holder", at: AT }))
      yield* Effect.fork(Effect.sleep("300 millis").pipe(Effect.zipRight(Effect.sync(() => fs.rmSync(lockFile(dir))))))
      const { layer, notices } = openLog(dir, { lockTimeoutMs: 30_000 })
      const committed = yield* Effect.provide(addPeer("after"), layer)
      expect(committed.head.seq).toBe(2)
      expect(notices).toEqual([])
      expect(fs.existsSync(lockFile(dir))).toBe(false)
    }), 60_000)

  it.live("a fresh LOCK that cannot be read yet (its owner is still writing it) is waited for, not taken over", () =>
    Effect.gen(function*() {
      const dir = newLogDir()
      yield* Effect.provide(addPeer("before"), openLog(dir).layer)
      fs.writeFileSync(lockFile(dir), "")
      const { layer, notices } = openLog(dir, { lockTimeoutMs: 300 })
      const error = yield* Effect.flip(Effect.provide(addPeer("blocked"), layer))
      expect(error).toBeInstanceOf(RequiresDirectDatabaseAccess)
      expect(error.message).toContain("locked")
      expect(notices).toEqual([])
      expect(fs.readFileSync(lockFile(dir), "utf8")).toBe("")
    }), 60_000)

  it.effect("our own lock is gone after a transact that succeeded, failed its decision or met a broken log", () =>
    Effect.gen(function*() {
      const dir = newLogDir()
      const { layer } = openLog(dir)
      yield* Effect.provide(addPeer("one"), layer)
      expect(fs.existsSync(lockFile(dir))).toBe(false)
      yield* Effect.flip(Effect.provide(addPeer("one"), layer))
      expect(fs.existsSync(lockFile(dir))).toBe(false)
      const file = segmentFile(dir)
      fs.writeFileSync(file, `not json\n${fs.readFileSync(file, "utf8")}`)
      const broken = yield* Effect.flip(Effect.provide(addPeer("two"), layer))
      expect(broken).toBeInstanceOf(IntegrityError)
      expect(fs.existsSync(lockFile(dir))).toBe(false)
    }))
})

describe("FileEventLog: interrupted (a daemon's client gone)", () => {
  it.live("a transact interrupted while it waits for the lock appends nothing once it gets it, and lets it go", () =>
    Effect.gen(function*() {
      const dir = newLogDir()
      yield* Effect.provide(addPeer("before"), openLog(dir).layer)
      const before = fs.readFileSync(segmentFile(dir))
      // Held by this process, as a daemon holds it for another command: busy, not stale.
      fs.writeFileSync(lockFile(dir), JSON.stringify({ pid: process.pid, command: "another", at: AT }))
      const { layer, notices } = openLog(dir, { lockTimeoutMs: 30_000 })
      const waiting = yield* Effect.fork(Effect.provide(addPeer("interrupted"), layer))
      yield* Effect.sleep("200 millis")
      yield* Effect.fork(Effect.sleep("300 millis").pipe(Effect.zipRight(Effect.sync(() => fs.rmSync(lockFile(dir))))))
      yield* Fiber.interrupt(waiting)
      expect(fs.readFileSync(segmentFile(dir)).equals(before)).toBe(true)
      expect(fs.existsSync(lockFile(dir))).toBe(false)
      expect(notices).toEqual([])
    }), 60_000)

  it.live("a transact interrupted once it has appended runs its projections to the end, then lets the lock go", () =>
    Effect.gen(function*() {
      const dir = newLogDir()
      const appended = yield* Deferred.make<void>()
      const projected: Array<number> = []
      const slow: Projection = {
        name: "slow",
        slices: ["peers"],
        afterCommit: ({ head }) =>
          Deferred.succeed(appended, undefined).pipe(
            Effect.zipRight(Effect.sleep("300 millis")),
            Effect.zipRight(Effect.sync(() => void projected.push(head.seq)))
          )
      }
      const { layer } = openLog(dir, { projections: [slow] })
      const writing = yield* Effect.fork(Effect.provide(addPeer("one"), layer))
      yield* Deferred.await(appended)
      yield* Fiber.interrupt(writing)
      expect(projected).toEqual([1])
      expect(fs.existsSync(lockFile(dir))).toBe(false)
      const loaded = yield* Effect.provide(loadAll, openLog(dir).layer)
      expect(peerNames(loaded.state)).toEqual(["one"])
    }), 60_000)
})

describe("FileEventLog: read-only", () => {
  it.effect("with a read-only reason, transact fails with RequiresDirectDatabaseAccess and load still works", () =>
    Effect.gen(function*() {
      const dir = newLogDir()
      yield* Effect.provide(Effect.forEach(["a", "b"], addPeer, { discard: true }), openLog(dir).layer)
      const before = fs.readFileSync(segmentFile(dir))
      const { layer, notices } = openLog(dir, { readonlyReason: "BD_READONLY=1 is set" })
      const error = yield* Effect.flip(Effect.provide(addPeer("c"), layer))
      expect(error).toBeInstanceOf(RequiresDirectDatabaseAccess)
      expect(error.message).toContain("requires direct database access")
      expect(error.message).toContain("BD_READONLY=1 is set")
      const { events, loaded, report } = yield* Effect.provide(
        Effect.all({ loaded: loadAll, events: readAll(), report: verifyLog }),
        layer
      )
      expect(peerNames(loaded.state)).toEqual(["a", "b"])
      expect(events).toHaveLength(2)
      expect(report.events).toBe(2)
      expect(fs.readFileSync(segmentFile(dir)).equals(before)).toBe(true)
      expect(fs.existsSync(lockFile(dir))).toBe(false)
      expect(notices).toEqual([])
    }))
})

describe("FileEventLog: segments", () => {
  /** An event of about 34 MiB: two of them do not fit one 64 MiB segment. */
  const bulky = (label: string): NewEvent => ({
    type: "BulkAttachment",
    at: AT,
    actor: ACTOR,
    data: { label, blob: "x".repeat(34 * 1024 * 1024) }
  })

  it.effect("a snapshot's references into two segments are read back, segment by segment, and carried over", () =>
    Effect.gen(function*() {
      const dir = newLogDir()
      const { layer } = openLog(dir, { snapshotEvery: 1 })
      const bulkyIssue = (id: string) =>
        Effect.flatMap(EventLog, (log) =>
          log.transact(["issues"], (state) =>
            Either.map(
              decideIssue(state.issues, {
                _tag: "ImportIssues",
                records: [{ id, title: id, description: "d".repeat(34 * 1024 * 1024), updated_at: AT }],
                town: TOWN,
                actor: ACTOR,
                at: AT
              }),
              (events) => ({ events, result: events.length })
            )))
      // Each import its own group; the second does not fit the first segment.
      yield* Effect.provide(Effect.all([bulkyIssue("bd-b"), bulkyIssue("bd-a")], { discard: true }), layer)
      expect(fs.readdirSync(dir).filter((name) => name.endsWith(".jsonl")).sort()).toEqual(["000001.jsonl", "000002.jsonl"])
      // The second snapshot carries the first issue's reference over (into segment 1) and refers to the second's line (segment 2).
      const stored = JSON.parse(fs.readFileSync(path.join(currentSnapshot(dir), "issues.json"), "utf8")) as ReadonlyArray<{ ref: ReadonlyArray<number> }>
      // [segment, seq] of each reference, in id order.
      expect(stored.map((entry) => [entry.ref[0], entry.ref[3]])).toEqual([[2, 2], [1, 1]])
      const { events, loaded, looked, report } = yield* readBack(dir, ["bd-a", "bd-b"])
      expect(report).toMatchObject({ events: 2, segments: 2, snapshotSeq: 2 })
      const folded = fold(events)
      expect(encodeState(loaded.state)).toEqual(encodeState(folded))
      for (const id of ["bd-a", "bd-b"]) {
        expect(Option.getOrThrow(getIssue(looked.state.issues, id))).toEqual(Option.getOrThrow(getIssue(folded.issues, id)))
      }
    }), { timeout: 60_000 })

  it.effect("a group that does not fit the current segment starts the next; read, load and verify span both", () =>
    Effect.gen(function*() {
      const dir = newLogDir()
      const { layer } = openLog(dir, { snapshotEvery: 2 })
      yield* Effect.provide(
        Effect.gen(function*() {
          yield* appendGroup([bulky("one")])
          yield* appendGroup([bulky("two")])
          yield* addPeer("small")
        }),
        layer
      )
      expect(fs.readdirSync(dir).filter((name) => name.endsWith(".jsonl")).sort()).toEqual(["000001.jsonl", "000002.jsonl"])
      const seqsIn = (segment: number) => linesOf(segmentFile(dir, segment)).map((line) => (JSON.parse(line) as Envelope).seq)
      expect(seqsIn(1)).toEqual([1])
      expect(seqsIn(2)).toEqual([2, 3])

      const { events, loaded, report } = yield* Effect.provide(
        Effect.all({ loaded: loadAll, events: readAll(), report: verifyLog }),
        openLog(dir).layer
      )
      expect(events.map((event) => event.seq)).toEqual([1, 2, 3])
      expect(events[1]!.prev).toBe(events[0]!.hash)
      expect(loaded.head).toEqual({ seq: 3, hash: events[2]!.hash })
      expect(peerNames(loaded.state)).toEqual(["small"])
      expect(report).toMatchObject({ events: 3, segments: 2, snapshotSeq: 2, unfinishedLines: 0 })
      const meta = JSON.parse(fs.readFileSync(path.join(currentSnapshot(dir), "meta.json"), "utf8")) as { position: unknown }
      expect(meta.position).toEqual({ segment: 2, offset: fs.statSync(segmentFile(dir, 2)).size - Buffer.byteLength(linesOf(segmentFile(dir, 2))[1]!) - 1 })

      // An unfinished write in a segment that is not the last one is not a torn tail: it is refused.
      fs.appendFileSync(segmentFile(dir, 1), "{\"seq\":")
      const error = yield* Effect.flip(Effect.provide(readAll(), openLog(dir).layer))
      expect(error).toBeInstanceOf(IntegrityError)
      expect((error as IntegrityError).file).toBe(segmentFile(dir, 1))
      expect((error as IntegrityError).reason).toContain("unfinished write in the middle")
    }), 300_000)
})
