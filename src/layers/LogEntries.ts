/**
 * Some entries of a keyed slice at the head, without parsing the rest of it:
 * the snapshot's index says where each entry is (SnapshotEntries.ts), and
 * the tail after the snapshot is read, chain-checked, and folded over the
 * entries it touches. Every key in the state handed back is exact: its
 * snapshot entry (if any) and every later event that touches it are folded.
 * An entry that refers to its event's line (LineRefs.ts) is read from the
 * segment where the line is. Undefined when the snapshot has no index, or a
 * damaged one, or an entry read does not check out; the caller then loads
 * the slice whole (which fails on an entry that does not check out, and
 * `verify` reports a damaged index).
 */
import type { Envelope } from "../events/Envelope.js"
import { foldSlice, type KeyedEntries, type Slice } from "../events/Slice.js"
import { entryResolver, segmentLines } from "./LineRefs.js"
import { knownSnapshot, readSnapshotMeta, retryingVanishedSnapshot } from "./LogFiles.js"
import { type ScanEnd, scanLog } from "./LogScan.js"
import { type EntriesIndex, findKey, readEntries, readEntriesIndex } from "./SnapshotEntries.js"

export type KeyedSlice<S> = Slice<S> & { readonly entries: KeyedEntries<S> }

interface Keyed<S> {
  readonly index: EntriesIndex
  readonly touched: ReadonlySet<string>
  /** Where the touched keys that the snapshot holds are in the index. */
  readonly touchedPositions: ReadonlyArray<number>
  readonly end: ScanEnd
  /**
   * The state holding the entries at these index positions and those the
   * tail touches, with the tail folded; undefined when the index does not
   * match the slice file (a damaged index: the caller loads the slice whole).
   */
  readonly stateWith: (positions: ReadonlyArray<number>) => S | undefined
}

/** Entries read beyond which the segments are read whole. */
const MANY_REFERENCES = 1_000

const openKeyed = <S>(dir: string, name: string, slice: KeyedSlice<S>): Keyed<S> | undefined => {
  const snapshot = readSnapshotMeta(dir)
  if (snapshot === undefined || !knownSnapshot(snapshot.meta) || !snapshot.meta.slices.includes(name)) return undefined
  const index = readEntriesIndex(snapshot.at, name)
  if (index === undefined) return undefined
  const { meta } = snapshot
  const tail: Array<ReadonlyArray<Envelope>> = []
  const touched = new Set<string>()
  const end = scanLog(dir, { position: meta.position, seq: meta.seq, hash: meta.hash }, (group) => {
    tail.push(group)
    for (const event of group) for (const key of slice.entries.touched(event)) touched.add(key)
  })
  const touchedPositions = Array.from(touched, (key) => findKey(index, key)).filter((i) => i >= 0)
  const stateWith = (positions: ReadonlyArray<number>): S | undefined => {
    const all = Array.from(new Set([...positions, ...touchedPositions])).sort((a, b) => a - b)
    // Many references (`bd list -n 0`) are read from their segments read whole; a few, where they lie.
    const lines = segmentLines(dir, all.length > MANY_REFERENCES)
    let entries: ReadonlyArray<unknown> | undefined
    try {
      entries = readEntries(snapshot.at, name, index, all, slice.entries.keyOf, entryResolver(lines, slice.entries, meta.seq))
    } finally {
      lines.close()
    }
    return entries === undefined ? undefined : tail.reduce((state, group) => foldSlice(slice, state, group), slice.entries.decodeSome(entries))
  }
  return { index, touched, touchedPositions, end, stateWith }
}

/** The entries under `keys` (those that exist), exact at the head. */
export const lookupEntries = <S>(
  dir: string,
  name: string,
  slice: KeyedSlice<S>,
  keys: ReadonlyArray<string>
): { readonly state: S; readonly end: ScanEnd } | undefined =>
  retryingVanishedSnapshot(() => {
    const keyed = openKeyed(dir, name, slice)
    if (keyed === undefined) return undefined
    const positions = keys.map((key) => findKey(keyed.index, key)).filter((i) => i >= 0)
    const state = keyed.stateWith(positions)
    return state === undefined ? undefined : { state, end: keyed.end }
  })

/** Most columns take few values: `match` is asked once per combination of them, not once per entry. */
const MAX_COMBINATIONS = 1 << 16

const matcher = (index: EntriesIndex, match: (columns: ReadonlyArray<unknown>) => boolean): (i: number) => boolean => {
  const columns = index.columnCount
  const row = new Array<unknown>(columns)
  const direct = (i: number): boolean => {
    for (let c = 0; c < columns; c++) row[c] = index.column(c, i)
    return match(row)
  }
  let combinations = 1
  for (let c = 0; c < columns; c++) combinations *= Math.max(1, index.distinct(c))
  if (combinations > MAX_COMBINATIONS) return direct
  // 0: not asked yet, 1: matches, 2: does not.
  const known = new Uint8Array(combinations)
  return (i) => {
    let combination = 0
    for (let c = 0; c < columns; c++) combination = combination * index.distinct(c) + index.code(c, i)
    const seen = known[combination]!
    if (seen !== 0) return seen === 1
    const result = direct(i)
    known[combination] = result ? 1 : 2
    return result
  }
}

export interface Selection<S> {
  /** Holds at least the selected entries. */
  readonly state: S
  /** The first `limit` matching keys, in key order. */
  readonly keys: ReadonlyArray<string>
  /** How many entries match in all. */
  readonly total: number
  readonly end: ScanEnd
}

/**
 * The first `limit` entries whose columns match, in key order, and how many
 * match in all: the index's columns for entries the tail did not touch,
 * the folded state's for those it did.
 */
export const selectEntries = <S>(
  dir: string,
  name: string,
  slice: KeyedSlice<S>,
  match: (columns: ReadonlyArray<unknown>) => boolean,
  limit: number
): Selection<S> | undefined =>
  retryingVanishedSnapshot(() => {
    const keyed = openKeyed(dir, name, slice)
    if (keyed === undefined) return undefined
    const { index, touched } = keyed
    // Of the untouched entries, only the first `limit` that match can be shown; all are counted.
    const shown: Array<number> = []
    let total = 0
    const matches = matcher(index, match)
    const skipped = new Set(keyed.touchedPositions)
    for (let i = 0; i < index.size; i++) {
      if (skipped.size > 0 && skipped.has(i)) continue
      if (!matches(i)) continue
      total++
      if (shown.length < limit) shown.push(i)
    }
    const shownKeys = shown.map((i) => index.keyAt(i))
    if (shownKeys.some((key) => key === undefined)) return undefined
    // One read and one fold: the shown entries, and those the tail touched, whose columns are the folded state's.
    const state = keyed.stateWith(shown)
    if (state === undefined) return undefined
    const changed = touched.size === 0
      ? []
      : slice.entries.keysIn(state).filter((key) => touched.has(key) && match(slice.entries.columns(state, key)))
    total += changed.length
    const keys: Array<string> = []
    let a = 0
    let b = 0
    while (keys.length < limit && (a < shown.length || b < changed.length)) {
      const fromIndex = a < shown.length ? shownKeys[a] : undefined
      const fromTail = b < changed.length ? changed[b]! : undefined
      if (fromTail === undefined || (fromIndex !== undefined && fromIndex < fromTail)) {
        keys.push(fromIndex!)
        a++
      } else {
        keys.push(fromTail)
        b++
      }
    }
    return { state, keys, total, end: keyed.end }
  })
