/**
 * A real event log in a fresh temporary directory, for tests of the file
 * log: the layer with its notices collected, the commands the tests append
 * with, and plain file access to the segments and snapshots.
 */
import { Chunk, Effect, Either, Stream } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { decide } from "../../src/domain/Federation.js"
import { type SliceName, SliceNames, type TownState, TownSlices } from "../../src/domain/Town.js"
import type { Envelope, ForeignEvent, NewEvent } from "../../src/events/Envelope.js"
import { EventLog } from "../../src/events/EventLog.js"
import { FileEventLogLive, type FileEventLogOptions } from "../../src/layers/FileEventLog.js"
import { segmentName } from "../../src/layers/LogFiles.js"

export const TOWN = "0123456789abcdef"
export const AT = "2025-01-01T00:00:00.000Z"
export const ACTOR = "tester"

/** Roots made by `newLogDir`, removed by `removeLogDirs` (call it from afterAll). */
const roots: Array<string> = []

/** A `.beads/log` path under a fresh temporary directory (the log directory itself is not created). */
export const newLogDir = (): string => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "bd-eventlog-"))
  roots.push(root)
  return path.join(root, ".beads", "log")
}

export const removeLogDirs = (): void => {
  for (const root of roots.splice(0)) fs.rmSync(root, { recursive: true, force: true })
}

export const snapshotsDir = (dir: string): string => path.join(dir, "snapshots")

/** The directory of the snapshot that CURRENT names. */
export const currentSnapshot = (dir: string): string =>
  path.join(snapshotsDir(dir), fs.readFileSync(path.join(snapshotsDir(dir), "CURRENT"), "utf8").trim())

export type Tuning = Partial<Pick<FileEventLogOptions, "readonlyReason" | "lockTimeoutMs" | "snapshotEvery" | "command" | "projections">>

/** The file log on `dir`, as a command would open it; notices land in the returned array. */
export const openLog = (dir: string, tuning: Tuning = {}) => {
  const notices: Array<string> = []
  const layer = FileEventLogLive({
    dir,
    town: TOWN,
    readonlyReason: undefined,
    lockTimeoutMs: 2_000,
    command: "test",
    snapshotEvery: 1_000,
    notice: (message) => {
      notices.push(message)
    },
    ...tuning
  })
  return { layer, notices }
}

export const peerAdded = (name: string): NewEvent => ({
  type: "PeerAdded",
  at: AT,
  actor: ACTOR,
  data: { name, endpoint: `file:///tmp/${name}`, hasCredentials: false }
})

/** `bd federation add-peer NAME file:///tmp/NAME`, through the decider. */
export const addPeer = (name: string) =>
  Effect.flatMap(EventLog, (log) =>
    log.transact(["peers"], (state) =>
      Either.map(
        decide(state.peers, {
          _tag: "AddPeer",
          name,
          endpoint: `file:///tmp/${name}`,
          sovereignty: undefined,
          hasCredentials: false,
          actor: ACTOR,
          at: AT
        }),
        (events) => ({ events, result: name })
      )))

export const removePeer = (name: string) =>
  Effect.flatMap(EventLog, (log) =>
    log.transact(["peers"], (state) =>
      Either.map(
        decide(state.peers, { _tag: "RemovePeer", name, actor: ACTOR, at: AT }),
        (events) => ({ events, result: name })
      )))

/** Events appended as they are, in one transaction (one write group). */
export const appendGroup = (events: ReadonlyArray<NewEvent>, foreign: ReadonlyArray<ForeignEvent> = []) =>
  Effect.flatMap(EventLog, (log) => log.transact(["peers"], () => Either.right({ events, foreign, result: events.length })))

export const readAll = (fromSeq?: number) =>
  Effect.flatMap(EventLog, (log) => Stream.runCollect(log.read(fromSeq === undefined ? {} : { fromSeq }))).pipe(
    Effect.map((chunk): ReadonlyArray<Envelope> => Chunk.toReadonlyArray(chunk))
  )

export const loadAll = Effect.flatMap(EventLog, (log) => log.load(SliceNames))

export const verifyLog = Effect.flatMap(EventLog, (log) => log.verify)

/** The slices of a state as their snapshot JSON: plain data that `toEqual` compares. */
export const encodeState = (state: Partial<TownState>): Record<string, unknown> => {
  const out: Record<string, unknown> = {}
  for (const name of SliceNames) {
    if (state[name] !== undefined) {
      out[name] = (TownSlices[name as SliceName] as { encode: (s: unknown) => unknown }).encode(state[name])
    }
  }
  return out
}

export const segmentFile = (dir: string, segment = 1): string => path.join(dir, segmentName(segment))

/** The complete lines of a file (everything before the last newline). */
export const linesOf = (file: string): Array<string> => {
  const text = fs.readFileSync(file, "utf8")
  return text.slice(0, text.lastIndexOf("\n") + 1).split("\n").slice(0, -1)
}

export const lockFile = (dir: string): string => path.join(dir, "LOCK")
