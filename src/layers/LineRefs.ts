/**
 * Snapshot entries that are references to log lines (src/events/Slice.ts,
 * `EntryText`): how one is written, and how a reader turns it back into the
 * entry, by reading the event's line from its segment and folding that one
 * event into the initial state.
 *
 * A reference is trusted only as far as it checks out: the line must be
 * JSON, carry the seq the reference names (no later than the snapshot's),
 * and make an entry on its own. Anything else is a damaged snapshot.
 */
import * as fs from "node:fs"
import type { Envelope } from "../events/Envelope.js"
import type { KeyedEntries, LineRef, OriginOf } from "../events/Slice.js"
import { readAt, segmentPath } from "./LogFiles.js"

/** A reference's line in a slice file. */
export const refText = (ref: LineRef): string => `{"ref":[${ref.segment},${ref.offset},${ref.length},${ref.seq}]}`

const isCount = (value: unknown): value is number => typeof value === "number" && Number.isSafeInteger(value) && value >= 0

/** The reference an entry of a slice file is, or undefined when it is an entry itself (or not a reference). */
export const refIn = (entry: unknown): LineRef | undefined => {
  if (typeof entry !== "object" || entry === null || Array.isArray(entry)) return undefined
  const ref = (entry as { ref?: unknown }).ref
  if (!Array.isArray(ref) || ref.length !== 4 || !ref.every(isCount) || Object.keys(entry).length !== 1) return undefined
  const [segment, offset, length, seq] = ref as [number, number, number, number]
  return { segment, offset, length, seq }
}

/** Whether two references (either possibly none) are the same one. */
export const sameRef = (a: LineRef | undefined, b: LineRef | undefined): boolean =>
  a !== undefined && b !== undefined && a.segment === b.segment && a.offset === b.offset && a.length === b.length && a.seq === b.seq

/** Whether an entry is written as a reference (well formed or not): a reader must resolve it, never take it as an entry. */
export const looksLikeRef = (entry: unknown): boolean =>
  typeof entry === "object" && entry !== null && !Array.isArray(entry) && Object.hasOwn(entry, "ref")

/**
 * Lines of the log's segments. `whole`: each segment is read once, whole,
 * for a reader that resolves many references (a full load); otherwise each
 * line is read where it lies (a lookup resolves a few). `oneAtATime`: a
 * segment read whole is let go when the next one is read (for a reader
 * that asks for lines segment by segment).
 */
export const segmentLines = (dir: string, whole: boolean, oneAtATime = false) => {
  const files = new Map<number, Buffer | { readonly fd: number; readonly size: number }>()
  const open = (segment: number) => {
    let file = files.get(segment)
    if (file === undefined) {
      try {
        if (whole && oneAtATime) files.clear()
        if (whole) file = fs.readFileSync(segmentPath(dir, segment))
        else {
          const fd = fs.openSync(segmentPath(dir, segment), "r")
          file = { fd, size: fs.fstatSync(fd).size }
        }
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined
        throw error
      }
      files.set(segment, file)
    }
    return file
  }
  /** The line's text, undefined when the segment is missing or too short to hold it. */
  const line = (ref: LineRef): string | undefined => {
    const file = open(ref.segment)
    if (file === undefined) return undefined
    if (Buffer.isBuffer(file)) {
      return ref.offset + ref.length <= file.length ? file.toString("utf8", ref.offset, ref.offset + ref.length) : undefined
    }
    return ref.offset + ref.length <= file.size ? readAt(file.fd, ref.offset, ref.length)?.toString("utf8") : undefined
  }
  const close = (): void => {
    for (const file of files.values()) if (!Buffer.isBuffer(file)) fs.closeSync(file.fd)
    files.clear()
  }
  return { line, close }
}

export type SegmentLines = ReturnType<typeof segmentLines>

/**
 * The event a reference names: its line, parsed, with the seq named (at
 * most the snapshot's), and one that makes an entry on its own; undefined
 * when the reference does not check out.
 */
export const eventAt = (
  lines: SegmentLines,
  entries: Pick<KeyedEntries<unknown>, "originKey">,
  snapshotSeq: number,
  ref: LineRef
): Envelope | undefined => {
  if (ref.seq === 0 || ref.seq > snapshotSeq) return undefined
  const text = lines.line(ref)
  if (text === undefined) return undefined
  let event: Envelope
  try {
    event = JSON.parse(text) as Envelope
  } catch {
    return undefined
  }
  if (typeof event !== "object" || event === null || event.seq !== ref.seq || typeof event.id !== "string") return undefined
  return entries.originKey(event) === undefined ? undefined : event
}

/**
 * Entries of a slice file as the slice has them: an entry as it is, a
 * reference as the entry its event makes (undefined when it does not check
 * out).
 */
export const entryResolver = (
  lines: SegmentLines,
  entries: Pick<KeyedEntries<unknown>, "entryOf" | "originKey">,
  snapshotSeq: number
) =>
(entry: unknown): unknown => {
  const ref = refIn(entry)
  if (ref === undefined) return looksLikeRef(entry) ? undefined : entry
  const event = eventAt(lines, entries, snapshotSeq, ref)
  return event === undefined ? undefined : entries.entryOf(event)?.entry
}

/**
 * Where the lines of a group just appended lie (appended whole to one
 * segment, starting at `start`), found from an event's town and townSeq:
 * a group ends with a run of one town's events with consecutive townSeqs
 * (the town's own, or a sync's last foreign ones), found by arithmetic; the
 * events before it through a map. Nothing is built per event beforehand.
 */
export const groupOrigins = (
  envelopes: ReadonlyArray<Envelope>,
  lineAt: (position: number) => { readonly offset: number; readonly length: number },
  start: { readonly segment: number; readonly offset: number },
  originKey: (event: Envelope) => object | undefined
): OriginOf => {
  let runStart = envelopes.length
  while (
    runStart > 0 &&
    (runStart === envelopes.length ||
      (envelopes[runStart - 1]!.town === envelopes[runStart]!.town && envelopes[runStart - 1]!.townSeq === envelopes[runStart]!.townSeq - 1))
  ) runStart--
  const run = envelopes[runStart]
  let others: Map<string, number> | undefined
  return (key, id, town, townSeq) => {
    let i: number | undefined = run !== undefined && town === run.town ? runStart + townSeq - run.townSeq : undefined
    if (i === undefined || !Number.isInteger(i) || i < runStart || i >= envelopes.length || envelopes[i]!.id !== id) {
      if (others === undefined) {
        others = new Map()
        for (let k = 0; k < runStart; k++) others.set(envelopes[k]!.id, k)
      }
      i = others.get(id)
    }
    if (i === undefined) return undefined
    const event = envelopes[i]!
    if (event.id !== id || originKey(event) !== key) return undefined
    const line = lineAt(i)
    return { segment: start.segment, offset: start.offset + line.offset, length: line.length, seq: event.seq }
  }
}
