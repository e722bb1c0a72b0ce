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

/** Where an event's line lies in the log: its segment, the byte offset and length of the line (without its newline), and its seq. */
export interface LineRef {
  readonly segment: number
  readonly offset: number
  readonly length: number
  readonly seq: number
}

/**
 * An entry's text: its JSON, or a reference to the line of the one event
 * that, folded into the initial state, gives the entry (an issue imported
 * or created, unchanged since). A reference is written as
 * `{"ref":[segment,offset,length,seq]}`, so a snapshot of 100,000 issues
 * just imported does not hold a second copy of them.
 */
export type EntryText = string | LineRef

/** An event in the log: where its line is, and its id. */
export interface LineOrigin {
  readonly ref: LineRef
  readonly event: string
}

/** Where the line of an event (by id, town and townSeq) lies, when the log knows it and the event's `originKey` is `key`. */
export type OriginOf = (key: object, event: string, town: string, townSeq: number) => LineRef | undefined

export interface KeyedEntries<S> {
  /**
   * The entries in key order: their keys, their snapshot texts (each one
   * JSON value on one line) and their columns. An entry still as the event
   * that made it left it is a reference to that event's line: `originOf`
   * gives the line of the event named, if the log knows it and that
   * event's `originKey` is this very object (an object the entry keeps, by
   * identity, while it is unchanged).
   */
  readonly encodeEntries: (state: S, originOf: OriginOf) => EncodedEntries
  /** The object of an event's data that an entry made by this event alone keeps as it is; undefined when the event makes no entry alone. */
  readonly originKey: (event: Envelope) => object | undefined
  /** The object the entry under `key` keeps by identity while it is unchanged (an event's `originKey`, or the copy a fold made of it). */
  readonly kept: (state: S, key: string) => object | undefined
  /** The key and the entry (its JSON value) that this one event folded into the initial state gives; undefined when it gives none. */
  readonly entryOf: (event: Envelope) => { readonly key: string; readonly entry: unknown } | undefined
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
