/**
 * JSONL files outside the log: the beads export (`.beads/issues.jsonl`) and
 * the belt-and-suspenders backup (`.beads/backup/`). Whole files are
 * replaced atomically (temporary file, fsync, rename, fsync of the
 * directory), so a crash leaves the old file or the new one, never half.
 */
import { Chunk, Effect, Stream } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { StorageError } from "../domain/Errors.js"
import { allIssues, type IssuesState } from "../domain/IssueState.js"
import { serializeIssuesJsonl } from "../domain/IssueJsonl.js"
import { canonicalJson } from "../events/Canonical.js"
import type { Envelope } from "../events/Envelope.js"
import type { Projection } from "../events/Projection.js"
import { fsyncDir, writeFileDurably } from "./LogFiles.js"

/** Replace `file` with `content` so that readers see the old bytes or the new, never a mix. */
export const writeFileAtomically = (file: string, content: string): void => {
  const dir = path.dirname(file)
  fs.mkdirSync(dir, { recursive: true })
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.tmp`)
  writeFileDurably(tmp, content)
  fs.renameSync(tmp, file)
  fsyncDir(dir)
}

export const issuesJsonl = (state: IssuesState): string => serializeIssuesJsonl(allIssues(state).map((issue) => issue.fields))

export const exportIssues = (state: IssuesState, file: string): Effect.Effect<number, StorageError> =>
  Effect.try({
    try: () => {
      const issues = allIssues(state)
      writeFileAtomically(file, serializeIssuesJsonl(issues.map((issue) => issue.fields)))
      return issues.length
    },
    catch: (error) => new StorageError({ path: file, reason: (error as Error).message })
  })

/** The seq of the last complete line of an events backup, 0 when there is none. */
const lastBackedUpSeq = (file: string): number => {
  let fd: number
  try {
    fd = fs.openSync(file, "r")
  } catch {
    return 0
  }
  try {
    const size = fs.fstatSync(fd).size
    const length = Math.min(size, 1 << 20)
    const buffer = Buffer.alloc(length)
    fs.readSync(fd, buffer, 0, length, size - length)
    const lines = buffer.toString("utf8").split("\n").filter((line) => line.startsWith("{") && line.endsWith("}"))
    const last = lines[lines.length - 1]
    return last === undefined ? 0 : Number((JSON.parse(last) as Envelope).seq) || 0
  } finally {
    fs.closeSync(fd)
  }
}

const appendLines = (file: string, events: ReadonlyArray<Envelope>): void => {
  if (events.length === 0) return
  fs.mkdirSync(path.dirname(file), { recursive: true })
  const fd = fs.openSync(file, "a", 0o644)
  try {
    fs.writeSync(fd, `${events.map((event) => canonicalJson(event)).join("\n")}\n`)
    fs.fsyncSync(fd)
  } finally {
    fs.closeSync(fd)
  }
}

/** realtime: `.beads/issues.jsonl` rewritten after every command. */
export const JsonlExportProjection = (file: string): Projection => ({
  name: "JSONL export",
  slices: ["issues"],
  afterCommit: ({ state }) =>
    state.issues === undefined ? Effect.void : exportIssues(state.issues, file).pipe(Effect.asVoid)
})

/**
 * belt-and-suspenders: `.beads/backup/issues.jsonl` (the export) and
 * `.beads/backup/events.jsonl` (every event, appended; caught up from the
 * log when the backup is behind, e.g. after the mode was switched on).
 */
export const BackupProjection = (dir: string): Projection => ({
  name: "JSONL backup",
  slices: ["issues"],
  afterCommit: ({ appended, readFrom, state }) =>
    Effect.gen(function*() {
      const eventsFile = path.join(dir, "events.jsonl")
      const first = appended[0]?.seq ?? 0
      const done = yield* Effect.try({
        try: () => lastBackedUpSeq(eventsFile),
        catch: (error) => new StorageError({ path: eventsFile, reason: (error as Error).message })
      })
      const missing = done + 1 < first
        ? Chunk.toReadonlyArray(yield* Stream.runCollect(readFrom(done + 1).pipe(Stream.takeWhile((e) => e.seq < first))))
        : []
      yield* Effect.try({
        try: () => appendLines(eventsFile, [...missing, ...appended].filter((event) => event.seq > done)),
        catch: (error) => new StorageError({ path: eventsFile, reason: (error as Error).message })
      })
      if (state.issues !== undefined) yield* exportIssues(state.issues, path.join(dir, "issues.jsonl"))
    })
})
