/**
 * Replaying the log for a few slices (src/layers/LogReplay.ts, the log's
 * `replay`): payloads no folded slice reads are not parsed, yet the state,
 * the last event and every refusal are those of a fold over `read()`.
 */
import { afterAll, describe, expect, it } from "@effect/vitest"
import { Effect, FastCheck } from "effect"
import * as fs from "node:fs"
import { IntegrityError } from "../../src/domain/Errors.js"
import { ClockSlice } from "../../src/domain/Clock.js"
import { PeersSlice } from "../../src/domain/Federation.js"
import { canonicalJson } from "../../src/events/Canonical.js"
import { chainHash, sealLine } from "../../src/events/Chain.js"
import { type Envelope, GENESIS_HASH, type NewEvent } from "../../src/events/Envelope.js"
import { EventLog, type ReplayStep } from "../../src/events/EventLog.js"
import { readSealedHeader } from "../../src/layers/LogReplay.js"
import {
  ACTOR,
  addPeer,
  appendGroup,
  AT,
  encodeState,
  linesOf,
  newLogDir,
  openLog,
  readAll,
  removeLogDirs,
  removePeer,
  segmentFile
} from "../support/logBed.js"

afterAll(removeLogDirs)

const issueUpdated = (n: number): NewEvent => ({
  type: "IssueUpdated",
  at: AT,
  actor: ACTOR,
  data: { id: `bd-${n}`, changes: { title: `Title "${n}" with a \\ and é`, notes: "id, \"id\":\"x\" and ,\"data\": inside" } }
})

const replayTo = (seq: number) =>
  Effect.flatMap(EventLog, (log) => log.replay(["clock", "peers"], (event): ReplayStep => (event.seq <= seq ? "fold" : "stop")))

/** What replay must give at `seq`: the fold of read() up to it, and that event (without the payload no slice reads). */
const expected = (events: ReadonlyArray<Envelope>, seq: number) => {
  const upTo = events.filter((event) => event.seq <= seq)
  const last = upTo[upTo.length - 1]
  return {
    state: encodeState({
      clock: upTo.reduce(ClockSlice.evolve, ClockSlice.initial),
      peers: upTo.reduce(PeersSlice.evolve, PeersSlice.initial)
    }),
    last: last === undefined || last.type.startsWith("Peer") ? last : (({ data: _data, ...header }) => header)(last)
  }
}

/** Peers and issue events in groups of one and of several. */
const mixedLog = (dir: string) =>
  Effect.provide(
    Effect.gen(function*() {
      yield* addPeer("alpha")
      yield* appendGroup([issueUpdated(1), issueUpdated(2), issueUpdated(3)])
      yield* addPeer("bravo")
      // Every event type the peers slice reads the data of (a replay parses only those payloads).
      yield* appendGroup([{ type: "PeerOrganizationLearned", at: AT, actor: ACTOR, data: { peer: "bravo", organization: "acme", towns: [] } }])
      yield* appendGroup([issueUpdated(4)])
      yield* removePeer("alpha")
      yield* appendGroup([issueUpdated(5), issueUpdated(6)])
    }),
    openLog(dir).layer
  )

describe("LogReplay: the header of a sealed line", () => {
  const envelope = FastCheck.record(
    {
      actor: FastCheck.string(),
      at: FastCheck.oneof(FastCheck.constant(AT), FastCheck.string()),
      commit: FastCheck.constantFrom(true, undefined),
      data: FastCheck.oneof(FastCheck.jsonValue(), FastCheck.constant(undefined)),
      id: FastCheck.string(),
      lamport: FastCheck.nat(),
      seen: FastCheck.dictionary(FastCheck.string(), FastCheck.nat()),
      seq: FastCheck.nat(),
      sig: FastCheck.option(FastCheck.base64String(), { nil: undefined }),
      town: FastCheck.hexaString({ minLength: 16, maxLength: 16 }),
      townSeq: FastCheck.nat(),
      type: FastCheck.oneof(FastCheck.constantFrom("IssueUpdated", "PeerAdded"), FastCheck.string())
    },
    { requiredKeys: ["actor", "at", "id", "lamport", "seen", "seq", "town", "townSeq", "type"] }
  )

  it.prop("is the parsed line without data, or refused (then the line is parsed whole)", [envelope, FastCheck.hexaString({ minLength: 64, maxLength: 64 })], ([fields, prev]) => {
    const { hash, line } = sealLine({ ...fields, prev } as Omit<Envelope, "hash">)
    const header = readSealedHeader(line, fields.seq, prev)
    if (header !== undefined) {
      const { data: _data, ...parsed } = JSON.parse(line) as Envelope
      expect(header).toEqual(parsed)
      expect(header.hash).toBe(hash)
    }
  })

  it("is read without parsing for the lines bd writes, and refused when seq, prev or content do not match", () => {
    const prev = chainHash(GENESIS_HASH, "before")
    const { line } = sealLine({
      seq: 7, id: "0123456789abcdef:7", town: "0123456789abcdef", townSeq: 7, lamport: 9,
      seen: { "0123456789abcdef": 6, fedcba9876543210: 3 }, type: "IssueUpdated", at: AT, actor: ACTOR,
      data: { id: "bd-1", changes: { notes: "\"id\":\"x\",\"seq\":1" } }, prev
    })
    expect(readSealedHeader(line, 7, prev)).toMatchObject({ seq: 7, lamport: 9, townSeq: 7, type: "IssueUpdated", seen: { fedcba9876543210: 3 } })
    expect(readSealedHeader(line, 8, prev)).toBeUndefined()
    expect(readSealedHeader(line, 7, GENESIS_HASH)).toBeUndefined()
    expect(readSealedHeader(line.replace("bd-1", "bd-2"), 7, prev)).toBeUndefined()
  })
})

describe("LogReplay: replay equals a fold of read()", () => {
  it.effect("at every seq, for peers and issue events in groups of one and several", () =>
    Effect.gen(function*() {
      const dir = newLogDir()
      yield* mixedLog(dir)
      const events = yield* Effect.provide(readAll(), openLog(dir).layer)
      expect(events.length).toBe(10)
      for (let seq = 0; seq <= events.length + 1; seq++) {
        const replayed = yield* Effect.provide(replayTo(seq), openLog(dir).layer)
        expect({ seq, state: encodeState(replayed.state), last: replayed.last }).toEqual({ seq, ...expected(events, seq) })
      }
    }))

  it.effect("an unfinished write at the end is not folded, as read() does not yield it", () =>
    Effect.gen(function*() {
      const dir = newLogDir()
      yield* mixedLog(dir)
      const file = segmentFile(dir)
      const lines = linesOf(file)
      // The last group (seq 9-10) loses its commit marker: it becomes an unfinished write.
      const last = JSON.parse(lines[lines.length - 1]!) as Envelope & { commit?: boolean }
      const { commit: _commit, hash: _hash, ...unsealed } = last
      lines[lines.length - 1] = sealLine(unsealed).line
      fs.writeFileSync(file, `${lines.join("\n")}\n{"actor":"torn`)
      const { events, replayed } = yield* Effect.provide(
        Effect.all({ events: readAll(), replayed: replayTo(99) }),
        openLog(dir).layer
      )
      expect(events.length).toBe(8)
      expect({ state: encodeState(replayed.state), last: replayed.last }).toEqual(expected(events, 99))
    }))
})

describe("LogReplay: a damaged line is refused as read() refuses it, whatever its type", () => {
  const damaged = (change: (line: string) => string, line: number) =>
    Effect.gen(function*() {
      const dir = newLogDir()
      yield* mixedLog(dir)
      const file = segmentFile(dir)
      const lines = linesOf(file)
      lines[line - 1] = change(lines[line - 1]!)
      fs.writeFileSync(file, `${lines.join("\n")}\n`)
      const { read, replay } = yield* Effect.provide(
        Effect.all({ read: Effect.flip(readAll()), replay: Effect.flip(replayTo(1)) }),
        openLog(dir).layer
      )
      expect(read).toBeInstanceOf(IntegrityError)
      expect(replay).toBeInstanceOf(IntegrityError)
      const [byRead, byReplay] = [read as IntegrityError, replay as IntegrityError]
      expect({ file: byReplay.file, line: byReplay.line, reason: byReplay.reason }).toEqual({ file: byRead.file, line: byRead.line, reason: byRead.reason })
      return byReplay
    })

  it.effect("a changed payload of an issue event: its hash does not match", () =>
    Effect.gen(function*() {
      const error = yield* damaged((line) => line.replace("bd-2", "bd-9"), 3)
      expect(error.reason).toContain("hash does not match")
    }))

  it.effect("an issue event line that is not JSON", () =>
    Effect.gen(function*() {
      const error = yield* damaged((line) => line.replace('"data":{', '"data":{{'), 4)
      expect(error.reason).toContain("not a valid event line")
    }))

  it.effect("an issue event resealed with a wrong seq: the chain is intact but the seq is not", () =>
    Effect.gen(function*() {
      const error = yield* damaged((line) => {
        const { hash: _hash, ...unsealed } = JSON.parse(line) as Envelope
        return sealLine({ ...unsealed, seq: 40 }).line
      }, 5)
      expect(error.reason).toContain("seq 40 where 5 was expected")
    }))

  it.effect("a line carrying a member the header reading does not know is parsed whole and folded alike", () =>
    Effect.gen(function*() {
      const dir = newLogDir()
      yield* mixedLog(dir)
      const file = segmentFile(dir)
      const lines = linesOf(file)
      // Reseal the whole chain with an extra member on one issue event.
      let prev = GENESIS_HASH
      const resealed = lines.map((text, i) => {
        const { hash: _hash, ...unsealed } = JSON.parse(text) as Envelope
        const sealed = sealLine({ ...unsealed, ...(i === 2 ? { shard: 3 } : {}), prev } as Omit<Envelope, "hash">)
        prev = sealed.hash
        return sealed.line
      })
      expect(canonicalJson(JSON.parse(resealed[2]!))).toContain('"shard":3')
      fs.writeFileSync(file, `${resealed.join("\n")}\n`)
      const { events, replayed } = yield* Effect.provide(Effect.all({ events: readAll(), replayed: replayTo(99) }), openLog(dir).layer)
      expect(readSealedHeader(resealed[2]!, 3, JSON.parse(resealed[1]!).hash)).toBeUndefined()
      expect({ state: encodeState(replayed.state), last: replayed.last }).toEqual(expected(events, 99))
    }))
})
