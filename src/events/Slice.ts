/**
 * A slice is one independent part of the folded town state (the clock, the
 * peers, the work items). Each folds the log on its own and is snapshotted
 * in its own file, so a command that reads only peers never parses work
 * items, whatever the size of the town.
 */
import type { Envelope } from "./Envelope.js"

/**
 * A slice made of entries under keys (the work items under their ids). Its
 * snapshot file holds one entry a line, sorted by key, with an index beside
 * it (keys, where each line is, and a few columns to filter on), so a reader
 * can take some entries of a large slice without parsing the rest.
 */
export interface EncodedEntries {
  readonly keys: ReadonlyArray<string>
  /**
   * The text and the columns of the entry under `keys[i]`, made when asked:
   * a snapshot writes each text at once, so that 100,000 of them are never
   * held together.
   */
  readonly textAt: (i: number) => EntryText
  readonly columnsAt: (i: number) => ReadonlyArray<unknown>
}

/**
 * An entry's text: a string, or a string around UTF-8 bytes already encoded
 * (a value cut out of a line just sealed), so that the bytes are copied, not
 * decoded and encoded again.
 */
export type EntryText = string | { readonly head: string; readonly bytes: Uint8Array; readonly tail: string }

export interface KeyedEntries<S> {
  /**
   * The entries in key order: their keys, their snapshot texts (each one
   * JSON value on one line) and their columns. A text may reuse the bytes
   * of the canonical text of the data of events just sealed (`dataBytes`
   * of an event's position in `sealed`, undefined when not known) instead of
   * serialising it again.
   */
  readonly encodeEntries: (
    state: S,
    sealed: ReadonlyArray<Envelope>,
    dataBytes: (position: number) => Uint8Array | undefined
  ) => EncodedEntries
  /** The key of an entry of the snapshot (a JSON value), undefined when it is not one. */
  readonly keyOf: (entry: unknown) => string | undefined
  /** A state holding only these entries of the snapshot (decoded from their JSON values), as `decode` would. */
  readonly decodeSome: (entries: ReadonlyArray<unknown>) => S
  /** The keys present in a state, in key order. */
  readonly keysIn: (state: S) => ReadonlyArray<string>
  /** The keys whose entries an event may change. */
  readonly touched: (event: Envelope) => ReadonlyArray<string>
  /** What a selection filters on, for the entry under `key` (kept in the index for every entry). */
  readonly columns: (state: S, key: string) => ReadonlyArray<unknown>
}

export interface Slice<S> {
  readonly name: string
  readonly initial: S
  /** Pure: the state after one more event. Events a slice does not know leave it unchanged. */
  readonly evolve: (state: S, event: Envelope) => S
  /**
   * The event types whose `data` evolve reads. A replay hands every other
   * event without `data`, so it need not parse payloads nobody reads; a slice
   * without this list gets every event whole.
   */
  readonly dataOf?: ReadonlySet<string>
  /** The same as `evolve` over each event in turn, where a slice can fold many at once more cheaply. */
  readonly evolveAll?: (state: S, events: ReadonlyArray<Envelope>) => S
  /** A JSON value for the snapshot file, and back. */
  readonly encode: (state: S) => unknown
  readonly decode: (json: unknown) => S
  /** Set for a slice of keyed entries: its snapshot is one entry a line, with an index. */
  readonly entries?: KeyedEntries<S>
}

/** A slice's state after a group of events: `evolveAll` where the slice has it, else `evolve` event by event. */
export const foldSlice = <S>(slice: Slice<S>, state: S, group: ReadonlyArray<Envelope>): S => {
  if (slice.evolveAll !== undefined) return slice.evolveAll(state, group)
  let next = state
  for (const event of group) next = slice.evolve(next, event)
  return next
}
