/**
 * Replaying the log from its first line for a few slices (`bd federation
 * replay`): every line is chain-checked as scanLog checks it (seq, prev,
 * sha-256 of its content), but a line's payload is parsed only when one of
 * the slices reads it (Slice.dataOf). For the others the envelope's fields
 * are read from the two ends of the line, around `data`: a line whose hash
 * matches is the canonical JSON a writer sealed, so its members are where
 * canonical JSON puts them. Any line the fast reading does not vouch for is
 * parsed and checked whole, which reports exactly what scanLog reports.
 */
import * as fs from "node:fs"
import { IntegrityError } from "../domain/Errors.js"
import { chainHash } from "../events/Chain.js"
import { GENESIS_HASH, HASH_SUFFIX_LENGTH } from "../events/Envelope.js"
import type { ReplayedEvent, ReplayStep } from "../events/EventLog.js"
import { listSegments, segmentPath } from "./LogFiles.js"
import { parseEventLine } from "./LogScan.js"

/**
 * Reads the members of a sealed line one after the other, as canonical
 * JSON lays them out. Every step checks the text it expects, so a line
 * shaped otherwise (an unexpected member, an escaped string) is refused,
 * never misread.
 */
class MemberReader {
  at: number
  ok = true
  constructor(readonly text: string, at: number) {
    this.at = at
  }
  /** Whether `key` (with its leading comma, colon and any opening quote) comes next; steps past it. */
  next(key: string): boolean {
    if (!this.ok || !this.text.startsWith(key, this.at)) return (this.ok = false)
    this.at += key.length
    return true
  }
  /** A string value without escapes, up to its closing quote. */
  string(): string {
    const end = this.text.indexOf('"', this.at)
    const value = this.text.slice(this.at, end)
    if (end < 0 || value.includes("\\")) this.ok = false
    this.at = end + 1
    return value
  }
  /** A whole number, up to the next comma. */
  integer(): number {
    const end = this.text.indexOf(",", this.at)
    const value = Number(this.text.slice(this.at, end))
    if (end < 0 || !Number.isSafeInteger(value)) this.ok = false
    this.at = end
    return value
  }
  /** An object of numbers (the version vector), up to its closing brace. */
  numbers(): Record<string, number> {
    const end = this.text.indexOf("}", this.at) + 1
    try {
      const value: unknown = JSON.parse(this.text.slice(this.at, end))
      this.at = end
      if (typeof value === "object" && value !== null && !Array.isArray(value)) return value as Record<string, number>
    } catch {}
    this.ok = false
    return {}
  }
}

/**
 * The envelope without `data`, read from the members before `"data"`
 * (actor, at, commit) and after it (id … type), or undefined when the line
 * is not a sealed line with this seq, prev and hash, or is shaped otherwise
 * (the caller then parses it whole).
 */
export const readSealedHeader = (text: string, expectedSeq: number, prev: string): ReplayedEvent | undefined => {
  const cut = text.length - HASH_SUFFIX_LENGTH - 1
  if (cut < 1 || !text.startsWith(',"hash":"', cut) || !text.endsWith('"}')) return undefined
  const hash = text.slice(cut + 9, cut + 9 + 64)
  if (chainHash(prev, `${text.slice(0, cut)}}`) !== hash) return undefined
  const head = new MemberReader(text, 0)
  head.next('{"actor":"')
  const actor = head.string()
  head.next(',"at":"')
  const at = head.string()
  const commit = text.startsWith(',"commit":true', head.at)
  if (commit) head.next(',"commit":true')
  head.next(',"data":')
  // A JSON string holds no bare quote, so the last `,"id":"` is the envelope's own id:
  // every member after it holds numbers, hex digits or plain names.
  const tail = new MemberReader(text, text.lastIndexOf(',"id":"', cut))
  if (!head.ok || tail.at < head.at) return undefined
  tail.next(',"id":"')
  const id = tail.string()
  tail.next(',"lamport":')
  const lamport = tail.integer()
  tail.next(',"prev":"')
  const linePrev = tail.string()
  tail.next(',"seen":')
  const seen = tail.numbers()
  tail.next(',"seq":')
  const seq = tail.integer()
  const sig = text.startsWith(',"sig":"', tail.at) && tail.next(',"sig":"') ? tail.string() : undefined
  tail.next(',"town":"')
  const town = tail.string()
  tail.next(',"townSeq":')
  const townSeq = tail.integer()
  tail.next(',"type":"')
  const type = tail.string()
  if (!tail.ok || tail.at !== cut || seq !== expectedSeq || linePrev !== prev) return undefined
  // One literal of a fixed shape; the two optional members are added only where present.
  const event: ReplayedEvent & { commit?: true } = { actor, at, id, lamport, prev, seen, seq, town, townSeq, type, hash }
  if (commit) event.commit = true
  if (sig !== undefined) (event as { sig?: string }).sig = sig
  return event
}

/**
 * Replay from the first line. Each checked line's event goes to `onEvent`
 * as soon as it is read, until `onEvent` answers "last" or "stop"; then
 * `onCommit` marks the end of each committed write group. What came after
 * the last `onCommit` is an unfinished write, which readers ignore: the
 * caller keeps what it folded as of that call (holding no write group in
 * memory). The segment where it stops is still checked to its end, as `read`
 * checks it; later segments are not read. `dataOf` names the types whose
 * payload is needed, undefined for all. Throws IntegrityError (callers wrap
 * in Effect.try and map it).
 */
export const replayLog = (
  dir: string,
  dataOf: ReadonlySet<string> | undefined,
  onEvent: (event: ReplayedEvent) => ReplayStep,
  onCommit: () => void
): void => {
  const segments = listSegments(dir)
  const final = segments[segments.length - 1]
  let seq = 0
  let hash = GENESIS_HASH
  let stopped = false
  for (const segment of segments) {
    const file = segmentPath(dir, segment)
    let text: string
    try {
      text = fs.readFileSync(file, "utf8")
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") continue
      throw error
    }
    let uncommitted = 0
    let line = 0
    let start = 0
    for (let at = text.indexOf("\n"); at !== -1; start = at + 1, at = text.indexOf("\n", start)) {
      line++
      const lineText = text.slice(start, at)
      const expected = seq + 1
      const header = dataOf === undefined ? undefined : readSealedHeader(lineText, expected, hash)
      let event: ReplayedEvent
      if (header !== undefined && dataOf?.has(header.type) === false) {
        event = header
      } else {
        const whole = parseEventLine(lineText, expected, hash)
        if (typeof whole === "string") throw new IntegrityError({ file, line, reason: whole })
        event = whole
      }
      seq = event.seq
      hash = event.hash
      uncommitted++
      if (!stopped) stopped = onEvent(event) !== "fold"
      if ((event as { commit?: boolean }).commit === true) {
        uncommitted = 0
        onCommit()
      }
    }
    if (segment !== final && (uncommitted > 0 || start < text.length)) {
      throw new IntegrityError({ file, line: line + 1, reason: "an unfinished write in the middle of the log" })
    }
    if (stopped) break
  }
}
