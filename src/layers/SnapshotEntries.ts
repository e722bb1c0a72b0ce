/**
 * The snapshot files of a keyed slice (src/events/Slice.ts, `entries`):
 *
 *   <slice>.json        a JSON array, one entry a line, sorted by key
 *   <slice>.index       the keys, where each line is, and a few columns (below)
 *
 * meta.json lists the slices written with an index (`indexes`), so that
 * `verify` knows one is missing.
 *
 * The index says where each entry's line is and holds the columns a
 * selection filters on, so `bd show ID` reads one line of a 100,000-issue
 * snapshot and `bd list` reads the index and the lines it shows. Both files
 * are written into the snapshot's directory before CURRENT names it.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { type ByteSink, writeText } from "../events/Canonical.js"
import type { EncodedEntries } from "../events/Slice.js"
import { refText } from "./LineRefs.js"
import { readAt, type SnapshotFile } from "./LogFiles.js"

export interface EntriesIndex {
  readonly size: number
  /** The key of entry i, decoded when asked (a lookup decodes a few, not all of them); undefined when damaged. */
  readonly keyAt: (i: number) => string | undefined
  readonly offsetAt: (i: number) => number
  readonly lengthAt: (i: number) => number
  readonly columnCount: number
  /** Column c of entry i. */
  readonly column: (c: number, i: number) => unknown
  /** Column c of entry i as a number below `distinct(c)`: equal numbers, equal values. */
  readonly code: (c: number, i: number) => number
  readonly distinct: (c: number) => number
}

export const indexFile = (name: string): string => `${name}.index`

/**
 * The index is binary, and read lazily, so that reading it costs little
 * next to the rest of a command (a JSON index of 100,000 issues took 37 ms
 * to read and parse, its keys alone 10 ms):
 *
 *   "BDX2", then uint32 LE: entries N, columns C, header bytes H
 *   header: JSON {"values":[[…],…]}, each column's distinct values, padded with spaces to 4 bytes
 *   N uint32 LE: each entry's line length in bytes (the lines follow each other from offset 2)
 *   C×N uint32 LE: each entry's column values, as positions in the header's lists
 *   N uint32 LE: where each key's text ends in the keys that follow
 *   the keys, each as a JSON string (so that any string, a newline or a lone surrogate included, comes back as it was)
 */
const MAGIC = "BDX2"

const LITTLE_ENDIAN = os.endianness() === "LE"

const uint32Bytes = (values: ArrayLike<number>): Buffer => {
  if (LITTLE_ENDIAN) {
    // The machine's own layout is the file's: the values' bytes as they lie in a Uint32Array.
    const array = values instanceof Uint32Array ? values : Uint32Array.from(values)
    return Buffer.from(array.buffer, array.byteOffset, array.byteLength)
  }
  const bytes = Buffer.allocUnsafe(values.length * 4)
  for (let i = 0; i < values.length; i++) bytes.writeUInt32LE(values[i]!, i * 4)
  return bytes
}

/**
 * The columns of entries as codes, entry by entry: each column's distinct
 * values in a list, and for each entry the position of its value there.
 * A primitive (nearly every value is a string) is found under itself,
 * anything else under its JSON. A row shorter than another has null in the
 * columns it lacks.
 */
const columnCodes = (n: number) => {
  const values: Array<Array<unknown>> = []
  const primitives: Array<Map<unknown, number>> = []
  const others: Array<Map<string, number>> = []
  const codes: Array<Uint32Array> = []
  const codeOf = (k: number, value: unknown): number => {
    const [positions, key]: readonly [Map<unknown, number>, unknown] = typeof value !== "object" || value === null
      ? [primitives[k]!, value]
      : [others[k]!, JSON.stringify(value)]
    let at = positions.get(key)
    if (at === undefined) {
      at = values[k]!.length
      values[k]!.push(value)
      positions.set(key, at)
    }
    return at
  }
  /** Entry i's columns (entries come in order). */
  const add = (i: number, row: ReadonlyArray<unknown>): void => {
    while (codes.length < row.length) {
      values.push([])
      primitives.push(new Map())
      others.push(new Map())
      codes.push(new Uint32Array(n))
      // The entries before this one lacked the column: null, the column's first value.
      if (i > 0) codes[codes.length - 1]!.fill(codeOf(codes.length - 1, null), 0, i)
    }
    for (let k = 0; k < codes.length; k++) codes[k]![i] = codeOf(k, row[k] ?? null)
  }
  return { add, values, codes }
}

const encodeIndex = (
  keys: ReadonlyArray<string>,
  lengths: ReadonlyArray<number>,
  { codes, values }: { readonly codes: ReadonlyArray<Uint32Array>; readonly values: ReadonlyArray<ReadonlyArray<unknown>> }
): Buffer => {
  const n = keys.length
  const c = codes.length
  let header = JSON.stringify({ values })
  header += " ".repeat((4 - (Buffer.byteLength(header) % 4)) % 4)
  const head = Buffer.alloc(16)
  head.write(MAGIC, 0, "latin1")
  head.writeUInt32LE(n, 4)
  head.writeUInt32LE(c, 8)
  head.writeUInt32LE(Buffer.byteLength(header), 12)
  const keyTexts = keys.map((key) => JSON.stringify(key))
  const allKeys = keyTexts.join("")
  // JSON escapes no ASCII into more than ASCII: when the whole text is ASCII, each key's bytes are its characters.
  const ascii = Buffer.byteLength(allKeys) === allKeys.length
  const keyEnds = new Array<number>(n)
  let end = 0
  keyTexts.forEach((text, i) => {
    end += ascii ? text.length : Buffer.byteLength(text)
    keyEnds[i] = end
  })
  return Buffer.concat([head, Buffer.from(header), uint32Bytes(lengths), ...codes.map(uint32Bytes), uint32Bytes(keyEnds), Buffer.from(allKeys)])
}

/** Bytes of the buffer the slice file is made in (an entry longer than this makes it grow to hold the entry). */
const CHUNK_BYTES = 1 << 20

/**
 * The slice file and its index, to be written in this order: `[`, then each
 * entry's text on its own line (a comma after all but the last), then `]`:
 * the same JSON value as the array of entries (an entry that is a reference
 * to a log line is written as one). Each text is encoded once into one
 * buffer, written out whenever it is full and then used again, and each line
 * is measured for the index meanwhile.
 */
export const entriesFiles = (name: string, { columnsAt, keys, textAt }: EncodedEntries): ReadonlyArray<SnapshotFile> => {
  const lengths = new Array<number>(keys.length)
  const columns = columnCodes(keys.length)
  let measured = false
  const slice = (emit: (piece: Buffer) => void): void => {
    // Room for more bytes: else what the buffer holds goes out first, and the buffer is used again.
    const sink: ByteSink = {
      buffer: Buffer.allocUnsafe(CHUNK_BYTES),
      used: 0,
      room: (bytes) => {
        if (sink.used + bytes <= sink.buffer.length) return
        emit(sink.buffer.subarray(0, sink.used))
        if (bytes > sink.buffer.length) sink.buffer = Buffer.allocUnsafe(bytes)
        sink.used = 0
      }
    }
    writeText(sink, "[\n")
    const last = keys.length - 1
    for (let i = 0; i <= last; i++) {
      const text = textAt(i)
      lengths[i] = writeText(sink, typeof text === "string" ? text : refText(text))
      columns.add(i, columnsAt(i))
      sink.room(2)
      if (i < last) sink.buffer[sink.used++] = 0x2c
      sink.buffer[sink.used++] = 0x0a
    }
    writeText(sink, "]")
    emit(sink.buffer.subarray(0, sink.used))
    measured = true
  }
  const index = (emit: (piece: Buffer) => void): void => {
    if (!measured) throw new Error(`the index of ${name} is written before its slice file`)
    emit(encodeIndex(keys, lengths, columns))
  }
  return [[`${name}.json`, slice], [indexFile(name), index]]
}

/** Uint32 LE values from a byte range: a view where the machine is little-endian and the range aligned, else read one by one. */
const uint32s = (bytes: Buffer, start: number, count: number): ArrayLike<number> => {
  const at = bytes.byteOffset + start
  if (LITTLE_ENDIAN) {
    return at % 4 === 0
      ? new Uint32Array(bytes.buffer, at, count)
      : new Uint32Array(Uint8Array.prototype.slice.call(bytes, start, start + count * 4).buffer)
  }
  return Array.from({ length: count }, (_, i) => bytes.readUInt32LE(start + i * 4))
}

/**
 * The index of a slice in a snapshot directory; undefined when there is
 * none (written by an older bd) or it is not one (damaged): readers then
 * load the slice whole, and `verify` says what is wrong.
 */
export const readEntriesIndex = (snapshotAt: string, name: string): EntriesIndex | undefined => {
  const bytes = readIndexBytes(snapshotAt, name)
  return bytes === undefined ? undefined : parseEntriesIndex(bytes)
}

/** The index file's bytes, undefined when there is none. */
export const readIndexBytes = (snapshotAt: string, name: string): Buffer | undefined => {
  try {
    return fs.readFileSync(path.join(snapshotAt, indexFile(name)))
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined
    throw error
  }
}

/** An index from its bytes; undefined when they are not one. */
export const parseEntriesIndex = (bytes: Buffer): EntriesIndex | undefined => {
  if (bytes.length < 16 || bytes.toString("latin1", 0, 4) !== MAGIC) return undefined
  const n = bytes.readUInt32LE(4)
  const c = bytes.readUInt32LE(8)
  const headerBytes = bytes.readUInt32LE(12)
  const lengthsAt = 16 + headerBytes
  const codesAt = lengthsAt + 4 * n
  const keyEndsAt = codesAt + 4 * c * n
  const keysAt = keyEndsAt + 4 * n
  if (keysAt > bytes.length) return undefined
  let values: ReadonlyArray<ReadonlyArray<unknown>>
  try {
    values = (JSON.parse(bytes.toString("utf8", 16, lengthsAt)) as { values: ReadonlyArray<ReadonlyArray<unknown>> }).values
  } catch {
    return undefined
  }
  if (!Array.isArray(values) || values.length !== c || !values.every(Array.isArray)) return undefined
  const lengths = uint32s(bytes, lengthsAt, n)
  const codes = uint32s(bytes, codesAt, c * n)
  const keyEnds = uint32s(bytes, keyEndsAt, n)
  if (n > 0 && keysAt + keyEnds[n - 1]! !== bytes.length) return undefined
  const offsets = new Float64Array(n)
  let offset = 2
  for (let i = 0; i < n; i++) {
    offsets[i] = offset
    offset += lengths[i]! + 2
  }
  const keyAt = (i: number): string | undefined => {
    const start = i === 0 ? 0 : keyEnds[i - 1]!
    const end = keyEnds[i]!
    if (end < start) return undefined
    try {
      const key: unknown = JSON.parse(bytes.toString("utf8", keysAt + start, keysAt + end))
      return typeof key === "string" ? key : undefined
    } catch {
      return undefined
    }
  }
  return {
    size: n,
    keyAt,
    offsetAt: (i) => offsets[i]!,
    lengthAt: (i) => lengths[i]!,
    columnCount: c,
    column: (k, i) => values[k]![codes[k * n + i]!] ?? null,
    code: (k, i) => codes[k * n + i]!,
    distinct: (k) => values[k]!.length
  }
}

/** Where `key` is in the index (keys are sorted in code-unit order), or -1. */
export const findKey = (index: EntriesIndex, key: string): number => {
  let lo = 0
  let hi = index.size
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    const at = index.keyAt(mid)
    if (at === undefined) return -1
    if (at === key) return mid
    if (at < key) lo = mid + 1
    else hi = mid
  }
  return -1
}

/**
 * Turns the entry of a slice file at a position of its index into the
 * entry it stands for (a reference to a log line into the entry its event
 * makes: LineRefs.ts); undefined when it stands for none.
 */
export type ResolveEntry = (entry: unknown, position: number) => unknown

/**
 * The entries at these positions of the index, each line read by
 * `readLine(offset, length)` and resolved; undefined when a line is not the
 * entry the index says (cut short, not JSON, a reference that does not
 * check out, or another key): the snapshot is damaged.
 */
const entriesAt = (
  index: EntriesIndex,
  positions: ReadonlyArray<number>,
  keyOf: (entry: unknown) => string | undefined,
  resolve: ResolveEntry,
  readLine: (offset: number, length: number) => string | undefined
): ReadonlyArray<unknown> | undefined => {
  const entries: Array<unknown> = []
  for (const i of positions) {
    const text = readLine(index.offsetAt(i), index.lengthAt(i))
    if (text === undefined) return undefined
    let entry: unknown
    try {
      entry = resolve(JSON.parse(text), i)
    } catch (error) {
      if (error instanceof SyntaxError) return undefined
      throw error
    }
    const key = keyOf(entry)
    if (key === undefined || key !== index.keyAt(i)) return undefined
    entries.push(entry)
  }
  return entries
}

/** The JSON values of the entries at these positions of the index, read line by line from the slice file. */
export const readEntries = (
  snapshotAt: string,
  name: string,
  index: EntriesIndex,
  positions: ReadonlyArray<number>,
  keyOf: (entry: unknown) => string | undefined,
  resolve: ResolveEntry
): ReadonlyArray<unknown> | undefined => {
  if (positions.length === 0) return []
  const fd = fs.openSync(path.join(snapshotAt, `${name}.json`), "r")
  try {
    return entriesAt(index, positions, keyOf, resolve, (offset, length) => readAt(fd, offset, length)?.toString("utf8"))
  } finally {
    fs.closeSync(fd)
  }
}

/**
 * Why an index does not describe its slice file (undefined when it does),
 * from the bytes of both as read together: the keys and columns are those
 * of the folded state, and every entry's line, at its offset, is the entry
 * the file holds there (`stored`, its references resolved).
 */
export const indexMismatch = (
  files: { readonly slice: Buffer; readonly index: Buffer | undefined },
  stored: ReadonlyArray<unknown>,
  expected: {
    readonly keys: ReadonlyArray<string>
    readonly columnsOf: (key: string) => ReadonlyArray<unknown>
    readonly keyOf: (entry: unknown) => string | undefined
  },
  resolve: ResolveEntry,
  sameValue: (a: unknown, b: unknown) => boolean
): string | undefined => {
  if (files.index === undefined) return "its index is missing"
  const index = parseEntriesIndex(files.index)
  if (index === undefined) return "its index is damaged"
  if (index.size !== stored.length || index.size !== expected.keys.length) return "its index has another number of entries"
  const all = Array.from({ length: index.size }, (_, i) => i)
  for (const i of all) {
    const key = index.keyAt(i)
    if (key === undefined || key !== expected.keys[i]) return `its index names ${JSON.stringify(key)} where the state has ${JSON.stringify(expected.keys[i])}`
    const columns = expected.columnsOf(key)
    if (!columns.every((value, c) => c < index.columnCount && sameValue(index.column(c, i), value))) {
      return `its index has other columns for ${JSON.stringify(key)}`
    }
  }
  const { slice } = files
  const lines = entriesAt(index, all, expected.keyOf, resolve, (offset, length) =>
    offset + length <= slice.length ? slice.toString("utf8", offset, offset + length) : undefined)
  if (lines === undefined) return "its index points at lines that are not the entries it names"
  for (const i of all) {
    if (!sameValue(lines[i], stored[i])) return `its index points at another entry for ${JSON.stringify(index.keyAt(i))}`
  }
  return undefined
}
