/**
 * Canonical JSON: object keys sorted by code unit, no insignificant white
 * space, `undefined` members dropped. The same value always gives the same
 * text, so hashes and exports are byte-stable across towns and runs.
 *
 * Every event is written through here, so the common case is made cheap:
 * plain JSON data is copied into objects whose keys are inserted in sorted
 * order (objects already in order are reused) and handed to the native
 * `JSON.stringify` once. Anything that native serialisation would treat
 * differently (integer-like keys, which JavaScript enumerates first;
 * functions, symbols, bigints, `toJSON`) takes the member-by-member path,
 * which is the definition (a hole is null in both).
 */
export const canonicalJson = (value: unknown): string => {
  const ordered = inOrder(value)
  return ordered === UNORDERABLE ? canonicalJsonSlow(value) : JSON.stringify(ordered)
}

/**
 * Where canonical JSON is written as UTF-8 bytes: the buffer, how many of
 * its bytes are used, and `room`, which makes sure `bytes` more fit after
 * `used` (it may put a new buffer in place, carrying over what the caller
 * is in the middle of writing).
 */
export interface ByteSink {
  buffer: Buffer
  used: number
  readonly room: (bytes: number) => void
}

/**
 * Writes `canonicalJson(value)` into the sink as UTF-8, member by member,
 * never building the text: a large import writes most of its bytes here,
 * and a string built piece by piece costs more to assemble and encode than
 * the bytes themselves. A string of printable ASCII with nothing to escape
 * is copied a character a byte; any other string is written as
 * `JSON.stringify` writes it. Objects are written member by member and
 * arrays item by item, as the definition does (whatever their prototype,
 * `toJSON` included: the definition never calls it), a hole or undefined
 * item as null; what is not JSON at all is written as `canonicalJson`
 * writes it.
 */
export const writeCanonicalJson = (sink: ByteSink, value: unknown): void => {
  switch (typeof value) {
    case "string":
      return writeString(sink, value)
    case "number":
      if (Number.isSafeInteger(value) && value >= 0) return writeCount(sink, value)
      writeText(sink, Number.isFinite(value) ? String(value) : "null")
      return
    case "boolean":
      writeText(sink, value ? "true" : "false")
      return
    case "object":
      if (value === null) writeText(sink, "null")
      else if (Array.isArray(value)) writeArray(sink, value)
      else writeRecord(sink, value)
      return
    default:
      writeText(sink, canonicalJson(value))
  }
}

/** Buffer's own encoders, where Node has them: `write` takes its arguments apart on every call, and an import makes a million. */
interface Encoders {
  readonly latin1Write?: (text: string, offset: number) => number
  readonly utf8Write?: (text: string, offset: number) => number
}

const encoders = Buffer.prototype as Encoders

/** Writes text as UTF-8 at `offset`, which has room for it; the bytes written. */
export const utf8Into: (buffer: Buffer, text: string, offset: number) => number = typeof encoders.utf8Write === "function"
  ? (buffer, text, offset) => (buffer as Encoders).utf8Write!(text, offset)
  : (buffer, text, offset) => buffer.write(text, offset, "utf8")

/** Writes text of one byte a character (what `NOT_PLAIN` passes, a hash) at `offset`, which has room for it. */
export const latin1Into: (buffer: Buffer, text: string, offset: number) => number = typeof encoders.latin1Write === "function"
  ? (buffer, text, offset) => (buffer as Encoders).latin1Write!(text, offset)
  : (buffer, text, offset) => buffer.write(text, offset, "latin1")

/** Text written as it is (UTF-8), in one piece; the bytes it took. */
export const writeText = (sink: ByteSink, text: string): number => {
  sink.room(3 * text.length)
  const written = utf8Into(sink.buffer, text, sink.used)
  sink.used += written
  return written
}

/** A non-negative safe integer, digit by digit: JSON writes it so. */
const writeCount = (sink: ByteSink, count: number): void => {
  let digits = 1
  for (let rest = count; rest >= 10; rest = Math.floor(rest / 10)) digits++
  sink.room(digits)
  const bytes = sink.buffer
  let at = sink.used + digits
  sink.used = at
  let rest = count
  do {
    bytes[--at] = 0x30 + (rest % 10)
    rest = Math.floor(rest / 10)
  } while (rest > 0)
}

/** Anything but printable ASCII with nothing to escape. */
const NOT_PLAIN = /[^\x20\x21\x23-\x5b\x5d-\x7e]/

/** A string as JSON writes it: its characters between quotes when they are printable ASCII and none needs escaping. */
const writeString = (sink: ByteSink, text: string): void => {
  const length = text.length
  sink.room(length + 2)
  const bytes = sink.buffer
  let at = sink.used
  if (length > 24) {
    // Long strings are checked by the regex engine and copied natively; short ones are cheaper in a loop.
    if (NOT_PLAIN.test(text)) {
      writeText(sink, JSON.stringify(text))
      return
    }
    bytes[at++] = 0x22
    at += latin1Into(bytes, text, at)
    bytes[at++] = 0x22
    sink.used = at
    return
  }
  bytes[at++] = 0x22
  for (let i = 0; i < length; i++) {
    const code = text.charCodeAt(i)
    // A control character, a quote, a backslash or anything beyond ASCII: JSON's own way (nothing is kept of this attempt).
    if (code < 0x20 || code > 0x7e || code === 0x22 || code === 0x5c) {
      writeText(sink, JSON.stringify(text))
      return
    }
    bytes[at++] = code
  }
  bytes[at++] = 0x22
  sink.used = at
}

const writeByte = (sink: ByteSink, byte: number): void => {
  sink.room(1)
  sink.buffer[sink.used++] = byte
}

const writeArray = (sink: ByteSink, array: ReadonlyArray<unknown>): void => {
  writeByte(sink, 0x5b)
  for (let i = 0; i < array.length; i++) {
    if (i > 0) writeByte(sink, 0x2c)
    const item: unknown = array[i]
    if (item === undefined) writeText(sink, "null")
    else writeCanonicalJson(sink, item)
  }
  writeByte(sink, 0x5d)
}

const writeRecord = (sink: ByteSink, value: object): void => {
  const record = value as Record<string, unknown>
  const keys = sortTexts(Object.keys(record))
  writeByte(sink, 0x7b)
  let first = true
  for (const key of keys) {
    const member = record[key]
    if (member === undefined) continue
    if (!first) writeByte(sink, 0x2c)
    first = false
    writeString(sink, key)
    writeByte(sink, 0x3a)
    writeCanonicalJson(sink, member)
  }
  writeByte(sink, 0x7d)
}

/** The definition, member by member. */
const canonicalJsonSlow = (value: unknown): string => {
  if (value === null || typeof value !== "object") {
    const text = JSON.stringify(value)
    if (text === undefined) throw new TypeError(`not representable in JSON: ${String(value)}`)
    return text
  }
  if (Array.isArray(value)) {
    // Item by item, a hole as null (as JSON writes it): `map` would keep holes, and `join` make them nothing.
    const items: Array<string> = []
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i]
      items.push(item === undefined ? "null" : canonicalJsonSlow(item))
    }
    return `[${items.join(",")}]`
  }
  const record = value as Record<string, unknown>
  const keys = Object.keys(record).sort()
  let out = "{"
  let first = true
  for (const key of keys) {
    const member = record[key]
    if (member === undefined) continue
    out += `${first ? "" : ","}${JSON.stringify(key)}:${canonicalJsonSlow(member)}`
    first = false
  }
  return `${out}}`
}

const UNORDERABLE: unique symbol = Symbol("unorderable")

/** An array index as JavaScript sees one: such keys are enumerated first, whatever the insertion order. */
const INDEX_LIKE = /^(?:0|[1-9]\d*)$/

/**
 * The value with every object's keys in code-unit order, sharing what is
 * already in order; `UNORDERABLE` when `JSON.stringify` of it could differ
 * from the definition.
 */
const inOrder = (value: unknown): unknown => {
  switch (typeof value) {
    case "string":
    case "number":
    case "boolean":
      return value
    case "object":
      return value === null ? value : Array.isArray(value) ? arrayInOrder(value) : recordInOrder(value)
    default:
      return UNORDERABLE
  }
}

/** A member as `JSON.stringify` will see it: primitives as they are, objects ordered. */
const memberInOrder = (member: unknown): unknown => {
  if (typeof member === "object" && member !== null) return inOrder(member)
  return typeof member === "function" || typeof member === "symbol" || typeof member === "bigint" ? UNORDERABLE : member
}

const arrayInOrder = (array: ReadonlyArray<unknown>): unknown => {
  if ("toJSON" in array) return UNORDERABLE
  let copy: Array<unknown> | undefined
  for (let i = 0; i < array.length; i++) {
    const item = array[i]
    const ordered = memberInOrder(item)
    if (ordered === UNORDERABLE) return UNORDERABLE
    if (ordered !== item) {
      copy ??= array.slice()
      copy[i] = ordered
    }
  }
  return copy ?? array
}

/**
 * Sorts texts in place by code unit, like the built-in `sort()`. A record's
 * few keys are sorted by insertion, which allocates nothing; the built-in
 * sort sets up work space on every call, and a large import makes tens of
 * thousands of such calls.
 */
export const sortTexts = (texts: Array<string>): Array<string> => {
  if (texts.length > 32) return texts.sort()
  for (let i = 1; i < texts.length; i++) {
    const text = texts[i]!
    let j = i - 1
    while (j >= 0 && texts[j]! > text) {
      texts[j + 1] = texts[j]!
      j--
    }
    texts[j + 1] = text
  }
  return texts
}

const recordInOrder = (value: object): unknown => {
  const proto: unknown = Object.getPrototypeOf(value)
  if ((proto !== Object.prototype && proto !== null) || "toJSON" in value) return UNORDERABLE
  const record = value as Record<string, unknown>
  const keys = Object.keys(record)
  let sorted = true
  for (let i = 1; i < keys.length && sorted; i++) sorted = keys[i - 1]! < keys[i]!
  if (!sorted) sortTexts(keys)
  // A copy is made only once something differs: the order, or a member's own copy.
  let copy: Record<string, unknown> | undefined = sorted ? undefined : {}
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!
    const first = key.charCodeAt(0)
    if ((first >= 48 && first <= 57 && INDEX_LIKE.test(key)) || key === "__proto__") return UNORDERABLE
    const member = record[key]
    const ordered = memberInOrder(member)
    if (ordered === UNORDERABLE) return UNORDERABLE
    if (copy === undefined && ordered !== member) {
      copy = {}
      for (let j = 0; j < i; j++) if (record[keys[j]!] !== undefined) copy[keys[j]!] = record[keys[j]!]
    }
    if (copy !== undefined && ordered !== undefined) copy[key] = ordered
  }
  return copy ?? value
}
