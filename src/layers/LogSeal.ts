/**
 * Sealing a write group: each event gets its seq, its place in the hash
 * chain and (an own event) its clock fields, and its line is written
 * straight into byte chunks for the append. An own event's line is built
 * from the texts of its members in code-unit order, its data serialised
 * once; the chain hash is taken over the line's bytes where they lie, so a
 * line is encoded once and never held as a string. Where each line lies in
 * the group's bytes is kept (`lineAt`): a snapshot written with the group
 * refers to the lines of the issues they made instead of copying them.
 */
import { nextStamp } from "../domain/Clock.js"
import { type TownState, TownSlices } from "../domain/Town.js"
import { type ByteSink, canonicalJson, latin1Into, writeCanonicalJson, writeText } from "../events/Canonical.js"
import { chainHashOfBytes, sealLine } from "../events/Chain.js"
import { type Envelope, eventId, type ForeignEvent, type NewEvent } from "../events/Envelope.js"
import type { LogHead } from "../events/EventLog.js"

export interface SealedGroup {
  readonly envelopes: ReadonlyArray<Envelope>
  /** The group's lines, in chunks. */
  readonly chunks: ReadonlyArray<Buffer>
  /** Where the line of the event at a position in `envelopes` lies in the group's bytes (the chunks one after another), without its newline. */
  readonly lineAt: (position: number) => { readonly offset: number; readonly length: number }
}

/** Bytes per chunk: a few hundred lines, written without growing anything. */
const CHUNK_BYTES = 1 << 20

/** `"hash":"<64 hex>"}` and the newline: the end of a line after its last member's comma. */
const HASH_PART_LENGTH = 8 + 64 + 2 + 1

/** A hash as this log writes them: its text is itself between quotes, its bytes its characters. */
const HEX = /^[0-9a-f]*$/

/** The canonical text of a member, undefined (dropped) when the value is. */
const memberText = (value: unknown): string | undefined => (value === undefined ? undefined : canonicalJson(value))

/** A number's canonical text (`JSON.stringify` of it) without the generic path: seq and clock fields are numbers. */
const numberText = (n: number): string => (Number.isFinite(n) ? String(n) : "null")

/** `"key":text,` for a member, nothing for a dropped one. Keys here are plain ASCII names. */
const member = (key: string, text: string | undefined): string => (text === undefined ? "" : `"${key}":${text},`)

/**
 * The canonical text of the last value asked for, kept: the events of one
 * group mostly share their actor, time and type.
 */
const lastText = () => {
  let value: unknown
  let text: string | undefined
  return (next: unknown): string | undefined => {
    if (next !== value || text === undefined) {
      value = next
      text = memberText(next)
    }
    return text
  }
}

/**
 * Lines written into chunks of bytes. An own event's line is laid out after
 * `prev` and a newline, hashed in place with its last comma read as the
 * closing brace, then moved over them and ended with its hash.
 */
const lineChunks = (lines: number) => {
  const chunks: Array<Buffer> = []
  // The bytes of the chunks already full, before the one being filled.
  let flushed = 0
  // Where the line being written starts in the buffer: a new buffer takes it along.
  let open = 0
  // Where each line starts in the group's bytes, and its length without the newline.
  const lineStart = new Float64Array(lines)
  const lineLength = new Float64Array(lines)

  const sink: ByteSink = {
    buffer: Buffer.allocUnsafe(CHUNK_BYTES),
    used: 0,
    room: (bytes) => {
      if (sink.buffer.length - sink.used >= bytes) return
      const begun = sink.used - open
      const next = Buffer.allocUnsafe(Math.max(CHUNK_BYTES, 2 * (begun + bytes)))
      sink.buffer.copy(next, 0, open, sink.used)
      if (open > 0) {
        chunks.push(sink.buffer.subarray(0, open))
        flushed += open
      }
      sink.buffer = next
      sink.used = begun
      open = 0
    }
  }

  /** A line sealed elsewhere (a foreign event's), at position `at` in the group. */
  const writeLine = (line: string, at: number) => {
    open = sink.used
    writeText(sink, line)
    lineStart[at] = flushed + open
    lineLength[at] = sink.used - open
    writeText(sink, "\n")
  }

  /**
   * An own event's line from `{` plus its members, each ending in a comma:
   * the body hashed is these with the last comma read as `}`. `data` is the
   * event's data, written as canonical JSON where it goes; `prevBytes` is
   * prev's length in UTF-8; `line` is the event's position in the group.
   * Returns the hash.
   */
  const sealOwn = (
    prev: string,
    prevBytes: number,
    head: string,
    data: unknown,
    tail: string,
    line: number
  ): string => {
    open = sink.used
    if (data === undefined) writeText(sink, `${prev}\n{${head}${tail}`)
    else {
      writeText(sink, `${prev}\n{${head}"data":`)
      writeCanonicalJson(sink, data)
      writeText(sink, `,${tail}`)
    }
    sink.room(HASH_PART_LENGTH)
    const buffer = sink.buffer
    const start = open
    let used = sink.used
    buffer[used - 1] = 0x7d
    const hash = chainHashOfBytes(buffer.subarray(start, used))
    buffer[used - 1] = 0x2c
    const prefix = prevBytes + 1
    buffer.copyWithin(start, start + prefix, used)
    used -= prefix
    used += latin1Into(buffer, `"hash":"${hash}"}`, used)
    lineStart[line] = flushed + start
    lineLength[line] = used - start
    buffer[used++] = 0x0a
    sink.used = used
    return hash
  }

  const done = () => {
    if (sink.used > 0) chunks.push(sink.buffer.subarray(0, sink.used))
    const lineAt = (line: number) => ({ offset: lineStart[line]!, length: lineLength[line]! })
    return { chunks, lineAt }
  }

  return { writeLine, sealOwn, done }
}

/** Assign local seq and chain (and, for own events, town clock fields) to a group, in order. */
export const sealGroup = (
  town: string,
  head: LogHead,
  clockState: TownState["clock"],
  foreign: ReadonlyArray<ForeignEvent>,
  events: ReadonlyArray<NewEvent>
): SealedGroup => {
  const evolveClock = TownSlices.clock.evolve
  let clock = clockState
  let prev = head.hash
  let seq = head.seq
  const total = foreign.length + events.length
  const envelopes: Array<Envelope> = []
  const lines = lineChunks(total)
  for (const origin of foreign) {
    seq++
    const unsealed = seq - head.seq === total ? { ...origin, seq, prev, commit: true } : { ...origin, seq, prev }
    const { hash, line } = sealLine(unsealed)
    lines.writeLine(line, envelopes.length)
    const envelope = { ...unsealed, hash }
    envelopes.push(envelope)
    clock = evolveClock(clock, envelope)
    prev = hash
  }
  const townText = memberText(town)!
  // An event's id is the town, a colon and its townSeq: its text is the town's with those spliced in (neither is ever escaped).
  const idHead = `${townText.slice(0, -1)}:`
  // Every hash sealed here is hex, one byte a character; only the one before the first own event (the head's or a foreign event's) is looked at.
  let prevHex = HEX.test(prev)
  const actorText = lastText()
  const atText = lastText()
  const typeText = lastText()
  for (const event of events) {
    const stamp = nextStamp(clock, town)
    seq++
    const id = eventId(town, stamp.townSeq)
    const last = seq - head.seq === total
    // Members in code-unit order: actor, at, commit, data, id, lamport, prev, seen, seq, town, townSeq, type.
    const before = `${member("actor", actorText(event.actor))}${member("at", atText(event.at))}${last ? "\"commit\":true," : ""}`
    const after = `"id":${idHead}${stamp.townSeq}",${member("lamport", numberText(stamp.lamport))}${member("prev", prevHex ? `"${prev}"` : memberText(prev))}` +
      `${member("seen", memberText(stamp.seen))}${member("seq", numberText(seq))}${member("town", townText)}` +
      `${member("townSeq", numberText(stamp.townSeq))}${member("type", typeText(event.type))}`
    // Members in the order a parsed line has them (commit and hash last), whichever way the envelope is built.
    const envelope = {
      id,
      town,
      townSeq: stamp.townSeq,
      lamport: stamp.lamport,
      seen: stamp.seen,
      type: event.type,
      at: event.at,
      actor: event.actor,
      data: event.data,
      seq,
      prev
    } as { -readonly [K in keyof Envelope]: Envelope[K] }
    if (last) (envelope as { commit?: boolean }).commit = true
    const prevBytes = prevHex ? prev.length : Buffer.byteLength(prev, "utf8")
    envelope.hash = lines.sealOwn(prev, prevBytes, before, event.data, after, envelopes.length)
    envelopes.push(envelope)
    clock = evolveClock(clock, envelope)
    prev = envelope.hash
    prevHex = true
  }
  return { envelopes, ...lines.done() }
}
