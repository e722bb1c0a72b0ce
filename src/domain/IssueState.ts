/**
 * The folded state of work items and how events change it.
 *
 * An issue is kept as the plain JSON object of its beads fields exactly as
 * they came, so fields this project does not interpret survive a round trip.
 * Next to it, every field carries the stamp of the event that last set it:
 * each field is a last-writer-wins register ordered by (lamport, town, event
 * id). `evolve` applies a value only when its stamp is higher than the one
 * stored, so any order of the same events folds to the same state.
 */
import { HashMap, Option } from "effect"
import type { Envelope } from "../events/Envelope.js"
import type { Slice } from "../events/Slice.js"
import { compareText, isJsonObject, setMember } from "./IssueFields.js"

export interface Stamp {
  readonly lamport: number
  readonly town: string
  readonly event: string
}

export interface IssueRecord {
  readonly fields: Readonly<Record<string, unknown>>
  readonly stamps: Readonly<Record<string, Stamp>>
}

/** A persistent map, so one event costs one record copy, never a copy of every issue. */
export interface IssuesState {
  readonly issues: HashMap.HashMap<string, IssueRecord>
}

export const initialIssues: IssuesState = { issues: HashMap.empty() }

export const IssueEventType = {
  created: "IssueCreated",
  updated: "IssueUpdated",
  closed: "IssueClosed",
  reopened: "IssueReopened",
  imported: "IssueImported"
} as const

/** `IssueCreated` and `IssueImported`: field -> value. */
export interface IssueFieldsData {
  readonly id: string
  readonly fields: Readonly<Record<string, unknown>>
}

/** `IssueUpdated`, `IssueClosed`, `IssueReopened`: field -> new value, or null to remove the field. */
export interface IssueChangesData {
  readonly id: string
  readonly changes: Readonly<Record<string, unknown>>
}

/** The base rule of the design: higher lamport wins, then the higher town id; the event id breaks any tie left. */
export const compareStamps = (a: Stamp, b: Stamp): number =>
  a.lamport !== b.lamport
    ? a.lamport - b.lamport
    : a.town !== b.town
    ? compareText(a.town, b.town)
    : compareText(a.event, b.event)

/**
 * Sets each field whose stamp is higher than the stored one; null removes the
 * field but keeps its stamp, so an older value arriving later cannot bring it
 * back. `id` is the map key and never changes, so it is not stamped.
 */
const applyValues = (
  state: IssuesState,
  id: string,
  values: Readonly<Record<string, unknown>>,
  stamp: Stamp
): IssuesState => {
  const previous = HashMap.get(state.issues, id)
  const fields: Record<string, unknown> = Option.isSome(previous) ? { ...previous.value.fields } : { id }
  const stamps: Record<string, Stamp> = Option.isSome(previous) ? { ...previous.value.stamps } : {}
  let changed = Option.isNone(previous)
  for (const [key, value] of Object.entries(values)) {
    if (key === "id" || value === undefined) continue
    const stored = stamps[key]
    if (stored !== undefined && compareStamps(stamp, stored) <= 0) continue
    setMember(stamps as Record<string, unknown>, key, stamp)
    if (value === null) delete fields[key]
    else setMember(fields, key, value)
    changed = true
  }
  return changed ? { issues: HashMap.set(state.issues, id, { fields, stamps }) } : state
}

/**
 * A change to an issue not yet known (its creation has not arrived) makes a
 * partial record; the creation merges into it when it comes, by the same rule.
 * Malformed payloads are ignored: events reach the fold only after the log
 * has verified them, so this is defence, not validation.
 */
export const evolve = (state: IssuesState, event: Envelope): IssuesState => {
  const data = event.data
  if (!isJsonObject(data) || typeof data["id"] !== "string" || data["id"] === "") return state
  const stamp: Stamp = { lamport: event.lamport, town: event.town, event: event.id }
  switch (event.type) {
    case IssueEventType.created:
    case IssueEventType.imported: {
      const fields = data["fields"]
      return isJsonObject(fields) ? applyValues(state, data["id"], fields, stamp) : state
    }
    case IssueEventType.updated:
    case IssueEventType.closed:
    case IssueEventType.reopened: {
      const changes = data["changes"]
      return isJsonObject(changes) ? applyValues(state, data["id"], changes, stamp) : state
    }
    default:
      return state
  }
}

export const getIssue = (state: IssuesState, id: string): Option.Option<IssueRecord> => HashMap.get(state.issues, id)

export const issueCount = (state: IssuesState): number => HashMap.size(state.issues)

/** Every issue, sorted by id (code-unit order, the same on every machine). */
export const allIssues = (state: IssuesState): ReadonlyArray<IssueRecord> =>
  Array.from(HashMap.values(state.issues)).sort((a, b) => compareText(a.fields["id"] as string, b.fields["id"] as string))

/**
 * Snapshot form: the fields as they are, and the stamps grouped by event.
 * All fields an event set share one stamp, so grouping keeps a snapshot of
 * 100,000 issues from repeating the same stamp for every field.
 */
interface EncodedStamp {
  readonly lamport: number
  readonly town: string
  readonly event: string
  readonly fields: ReadonlyArray<string>
}

interface EncodedIssue {
  readonly fields: Readonly<Record<string, unknown>>
  readonly stamps: ReadonlyArray<EncodedStamp>
}

const encodeStamps = (stamps: Readonly<Record<string, Stamp>>): ReadonlyArray<EncodedStamp> => {
  const groups = new Map<string, { stamp: Stamp; fields: Array<string> }>()
  for (const [field, stamp] of Object.entries(stamps)) {
    const group = groups.get(stamp.event)
    if (group === undefined) groups.set(stamp.event, { stamp, fields: [field] })
    else group.fields.push(field)
  }
  return Array.from(groups.values())
    .sort((a, b) => compareStamps(a.stamp, b.stamp))
    .map(({ fields, stamp }) => ({ lamport: stamp.lamport, town: stamp.town, event: stamp.event, fields: fields.sort(compareText) }))
}

const decodeIssue = (encoded: EncodedIssue): readonly [string, IssueRecord] => {
  const stamps: Record<string, Stamp> = {}
  for (const group of encoded.stamps) {
    // One object per event, shared by its fields, as after a fold.
    const stamp: Stamp = { lamport: group.lamport, town: group.town, event: group.event }
    for (const field of group.fields) stamps[field] = stamp
  }
  return [encoded.fields["id"] as string, { fields: encoded.fields, stamps }]
}

export const encodeIssues = (state: IssuesState): ReadonlyArray<EncodedIssue> =>
  allIssues(state).map((record) => ({ fields: record.fields, stamps: encodeStamps(record.stamps) }))

export const decodeIssues = (json: unknown): IssuesState => ({
  issues: HashMap.fromIterable((json as ReadonlyArray<EncodedIssue>).map(decodeIssue))
})

export const IssuesSlice: Slice<IssuesState> = {
  name: "issues",
  initial: initialIssues,
  evolve,
  encode: encodeIssues,
  decode: decodeIssues
}
