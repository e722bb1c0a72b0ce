/**
 * Reading the log: walk segments from a position, check every line's seq
 * and hash chain, and hand complete write groups (ending in a line with
 * `commit: true`) to the caller. Lines after the last commit marker, and
 * an unterminated fragment at the very end, are a write that did not
 * finish: the caller decides whether to cut them (writers) or ignore them
 * (readers). Anything wrong before that is an IntegrityError with the line.
 */
import { checkLine } from "../events/Chain.js"
import type { Envelope } from "../events/Envelope.js"
import { IntegrityError } from "../domain/Errors.js"
import { listSegments, type Position, readSegment, segmentPath } from "./LogFiles.js"

export interface ScanStart {
  readonly position: Position
  readonly seq: number
  readonly hash: string
}

export interface ScanEnd {
  /** Position just past the last committed line. */
  readonly position: Position
  readonly seq: number
  readonly hash: string
  /** Bytes at the end of the last segment that belong to an unfinished write (0 when clean). */
  readonly unfinishedBytes: number
  readonly unfinishedLines: number
  readonly lastSegment: number
  readonly lastSegmentSize: number
  readonly segments: number
}

export interface ScanOptions {
  /** Scan only this segment (the position must be in it); used to stream the log segment by segment. */
  readonly onlySegment?: number
}

/**
 * The envelope of a line that continues the chain (its seq is `expectedSeq`,
 * its prev is `prev`, its hash matches), or why it does not.
 */
export const parseEventLine = (text: string, expectedSeq: number, prev: string): Envelope | string => {
  let envelope: Envelope
  try {
    envelope = JSON.parse(text) as Envelope
  } catch (error) {
    return `not a valid event line (${(error as Error).message})`
  }
  if (typeof envelope !== "object" || envelope === null) return "not an event envelope"
  if (envelope.seq !== expectedSeq) return `seq ${String(envelope.seq)} where ${expectedSeq} was expected`
  return checkLine(text, envelope.prev, prev) ?? envelope
}

/**
 * Scan from `start`, calling `onGroup` with each committed group in order.
 * Throws IntegrityError (callers wrap in Effect.try and map it).
 */
export const scanLog = (
  dir: string,
  start: ScanStart,
  onGroup: (group: ReadonlyArray<Envelope>) => void,
  options: ScanOptions = {}
): ScanEnd => {
  const all = listSegments(dir)
  const final = all[all.length - 1]
  const segments = all.filter((segment) =>
    options.onlySegment === undefined ? segment >= start.position.segment : segment === options.onlySegment
  )
  let position = start.position
  let seq = start.seq
  let hash = start.hash
  let lastSegment = start.position.segment
  let lastSegmentSize = start.position.offset
  let unfinishedBytes = 0
  let unfinishedLines = 0
  for (const segment of segments) {
    const file = segmentPath(dir, segment)
    const from = segment === start.position.segment ? start.position.offset : 0
    const read = readSegment(dir, segment, from)
    const fail = (offset: number, reason: string): never => {
      throw new IntegrityError({ file, line: read.lineNumberAt(offset), reason })
    }
    if (read.size < from) fail(read.size, `the segment is shorter (${read.size} bytes) than the snapshot position ${from}`)
    let pending: Array<Envelope> = []
    let pendingStart = from
    for (const line of read.lines) {
      const prev = pending.length === 0 ? hash : pending[pending.length - 1]!.hash
      const envelope = parseEventLine(line.text, seq + pending.length + 1, prev)
      if (typeof envelope === "string") return fail(line.start, envelope)
      if (pending.length === 0) pendingStart = line.start
      pending.push(envelope)
      if ((envelope as { commit?: boolean }).commit === true) {
        onGroup(pending)
        seq = envelope.seq
        hash = envelope.hash
        position = { segment, offset: line.end }
        pending = []
      }
    }
    const isFinal = segment === final
    if (!isFinal && (pending.length > 0 || read.tornBytes > 0)) {
      fail(read.size - read.tornBytes, "an unfinished write in the middle of the log")
    }
    if (isFinal) {
      lastSegment = segment
      lastSegmentSize = read.size
      unfinishedBytes = pending.length > 0 ? read.size - pendingStart : read.tornBytes
      unfinishedLines = pending.length + (read.tornBytes > 0 ? 1 : 0)
    }
  }
  return { position, seq, hash, unfinishedBytes, unfinishedLines, lastSegment, lastSegmentSize, segments: segments.length }
}
