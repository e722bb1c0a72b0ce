/**
 * The folded state of work items and how events change it.
 *
 * An issue is kept as the plain JSON object of its beads fields exactly as
 * they came, so fields this project does not interpret survive a round trip.
 * Next to it, every field carries the stamp of the event that last set it:
 * each field is a last-writer-wins register ordered by (lamport, town, event
 * id). `evolve` applies a value only when its stamp is higher than the one
 * stored, so any order of the same events folds to the same state.
 *
 * Conflicts: besides the winning value, a field keeps its *heads*, the
 * versions no other version has seen (compared by the events' `seen`
 * version vectors). Two heads with different values are an open conflict;
 * the base rule still shows the winner, so towns agree while it is open.
 * The set of heads depends only on the set of events (the log ingests in
 * causal order), so every town finds the same conflicts.
 */
import { HashMap, HashSet, Option } from "effect"
import { type Envelope, seenOf, type VersionVector } from "../events/Envelope.js"
import type { EncodedEntries, OriginOf, Slice } from "../events/Slice.js"
import { compareText, isJsonObject, setMember, sortTexts } from "./IssueFields.js"

export interface Stamp {
  readonly lamport: number
  readonly town: string
  readonly event: string
  readonly townSeq: number
  /** What the town had integrated when it decided the event. */
  readonly seen: VersionVector
  /** For a conflict resolution: the heads it resolved (sorted event ids, comma-joined). */
  readonly resolves?: string
}

/** One concurrent version of a field: `value` undefined means the field was removed. */
export interface Head {
  readonly stamp: Stamp
  readonly value: unknown
}

/**
 * An issue: its fields, and each field's stamp. Most issues were made by
 * one event and nothing changed them since (a creation, an import): one
 * `stamp` then stamps every field but `id`, and no object of stamps is
 * kept. Any other issue keeps `stamps`, field by field (a removed field
 * keeps its stamp), and its `heads`.
 */
export type IssueRecord = {
  readonly fields: Readonly<Record<string, unknown>>
  readonly stamps: Readonly<Record<string, Stamp>>
  readonly stamp?: undefined
  /** Only fields with several concurrent versions (a conflict when their values differ). */
  readonly heads?: Readonly<Record<string, ReadonlyArray<Head>>>
} | {
  /** With `id` and at least one other member; `stamp` stamps every other member, and nothing else. */
  readonly fields: Readonly<Record<string, unknown>>
  readonly stamps?: undefined
  readonly stamp: Stamp
  readonly heads?: undefined
}

/** The stamp of each field, as an object (made anew for an issue one stamp stamps whole). */
export const stampsOf = (record: IssueRecord): Readonly<Record<string, Stamp>> => {
  if (record.stamps !== undefined) return record.stamps
  const stamps: Record<string, Stamp> = {}
  for (const key of Object.keys(record.fields)) if (key !== "id") setMember(stamps as Record<string, unknown>, key, record.stamp)
  return stamps
}

/**
 * A record in its one form: with one `stamp` when a single event stamps
 * every field but `id` (at least one) and nothing else, and there are no
 * heads; else field by field. The same issue is then always the same value,
 * whichever order its events were folded in.
 */
const recordOf = (
  fields: Readonly<Record<string, unknown>>,
  stamps: Readonly<Record<string, Stamp>>,
  heads: Readonly<Record<string, ReadonlyArray<Head>>> | undefined
): IssueRecord => {
  if (heads !== undefined && Object.keys(heads).length > 0) return { fields, stamps, heads }
  const names = Object.keys(stamps)
  const stamp = names.length === 0 ? undefined : stamps[names[0]!]!
  if (stamp === undefined || names.length !== Object.keys(fields).length - 1 || !Object.hasOwn(fields, "id")) return { fields, stamps }
  for (const name of names) {
    if (stamps[name]!.event !== stamp.event || !Object.hasOwn(fields, name)) return { fields, stamps }
  }
  return { fields, stamp }
}

/** The fields one stamp stamps: every field but `id`. */
const uniformFields = (fields: Readonly<Record<string, unknown>>): Array<string> => {
  const keys = Object.keys(fields)
  const at = keys.indexOf("id")
  if (at !== -1) keys.splice(at, 1)
  return keys
}

/** A persistent map, so one event costs one record copy, never a copy of every issue. */
export interface IssuesState {
  readonly issues: HashMap.HashMap<string, IssueRecord>
  /** Open conflicts as `<issue id>/<field>`. */
  readonly conflicts: HashSet.HashSet<string>
}

export const initialIssues: IssuesState = { issues: HashMap.empty(), conflicts: HashSet.empty() }

export const conflictId = (issue: string, field: string): string => `${issue}/${field}`

export const IssueEventType = {
  created: "IssueCreated",
  updated: "IssueUpdated",
  closed: "IssueClosed",
  reopened: "IssueReopened",
  imported: "IssueImported",
  conflictResolved: "ConflictResolved",
  /** Local: more complete versions of events this town holds (a lower sovereignty tier's). */
  upgraded: "EventsUpgraded"
} as const

/**
 * `EventsUpgraded`: another town's events this town had in a less complete
 * version (say T3, relayed), in the more complete version of a lower tier
 * that arrived since (say T1, from the town itself). Same ids, stamps and
 * causal history; only values differ.
 */
export interface EventsUpgradedData {
  readonly town: string
  /** The tier of the versions given here, and the one they replace. */
  readonly tier: string
  readonly from: string
  /** As the origin published them (`ForeignEvent`s). */
  readonly events: ReadonlyArray<{
    readonly id: string
    readonly town: string
    readonly townSeq: number
    readonly lamport: number
    readonly seen: VersionVector
    readonly type: string
    readonly data: unknown
    readonly at: string
    readonly actor: string
  }>
}

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
 * Bookkeeping timestamps follow the edits they belong to: two towns editing
 * at once differ in them by construction, which is not a conflict worth a
 * person's time. They still converge by the base rule.
 */
const UNCONFLICTED: ReadonlySet<string> = new Set(["updated_at", "closed_at"])

/** Whether the event behind `a` had integrated the event behind `b`. */
export const hasSeen = (a: Stamp, b: Stamp): boolean => seenOf(a.seen, b.town) >= b.townSeq

/** A member of the record itself: issues may have fields named like Object's own (`constructor`). */
const own = <A>(record: Readonly<Record<string, A>> | undefined, key: string): A | undefined =>
  record !== undefined && Object.hasOwn(record, key) ? record[key] : undefined

const sameValue = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b)

/**
 * The heads after one more version: dropped if a head has seen it, else it
 * replaces the heads it has seen. Concurrent resolutions of the same conflict
 * collapse to the one the base rule prefers.
 */
const nextHeads = (heads: ReadonlyArray<Head>, incoming: Head): ReadonlyArray<Head> => {
  if (heads.some((head) => head.stamp.event === incoming.stamp.event || hasSeen(head.stamp, incoming.stamp))) return heads
  const kept = heads.filter((head) => !hasSeen(incoming.stamp, head.stamp))
  const resolves = incoming.stamp.resolves
  if (resolves !== undefined) {
    const rival = kept.find((head) => head.stamp.resolves === resolves)
    if (rival !== undefined) {
      return compareStamps(rival.stamp, incoming.stamp) > 0 ? kept : sortHeads([...kept.filter((head) => head !== rival), incoming])
    }
  }
  return sortHeads([...kept, incoming])
}

/** Heads in base-rule order, so the same set is always the same array. */
const sortHeads = (heads: Array<Head>): ReadonlyArray<Head> => heads.sort((a, b) => compareStamps(a.stamp, b.stamp))

const inConflict = (heads: ReadonlyArray<Head>): boolean =>
  heads.length > 1 && heads.some((head) => !sameValue(head.value, heads[0]!.value))

/**
 * Sets each field whose stamp is higher than the stored one; null removes the
 * field but keeps its stamp, so an older value arriving later cannot bring it
 * back. `id` is the map key and never changes, so it is not stamped. The
 * field's heads are kept up to date for conflict detection.
 */
const applyValues = (
  state: IssuesState,
  id: string,
  values: Readonly<Record<string, unknown>>,
  stamp: Stamp
): IssuesState => {
  const previous = HashMap.get(state.issues, id)
  if (Option.isNone(previous)) return created(state, id, values, stamp)
  const fields: Record<string, unknown> = { ...previous.value.fields }
  // A copy to edit: `stampsOf` makes one already for an issue one stamp stamps.
  const stamps = (previous.value.stamps === undefined ? stampsOf(previous.value) : { ...previous.value.stamps }) as Record<string, Stamp>
  let heads: Record<string, ReadonlyArray<Head>> | undefined = previous.value.heads
  let conflicts = state.conflicts
  let changed = false
  for (const [key, value] of Object.entries(values)) {
    if (key === "id" || value === undefined) continue
    const stored = own(stamps, key)
    // The common case, a change that saw the current value (or an older one arriving late),
    // leaves the heads as they are: no need to build them.
    const plain = own(heads, key) === undefined &&
      (stored === undefined || hasSeen(stamp, stored) || hasSeen(stored, stamp))
    if (!UNCONFLICTED.has(key) && !plain) {
      const current: ReadonlyArray<Head> = own(heads, key) ??
        (stored === undefined ? [] : [{ stamp: stored, value: own(fields, key) }])
      const after = nextHeads(current, { stamp, value: value === null ? undefined : value })
      // Several heads are kept even when they agree, so that the set of heads,
      // and with it every conflict, depends on the events only, not their order.
      if (after !== current && (after.length > 1 || own(heads, key) !== undefined)) {
        heads = { ...heads }
        if (after.length > 1) setMember(heads, key, after)
        else delete heads[key]
        conflicts = inConflict(after) ? HashSet.add(conflicts, conflictId(id, key)) : HashSet.remove(conflicts, conflictId(id, key))
        changed = true
      }
    }
    if (stored !== undefined && compareStamps(stamp, stored) <= 0) continue
    setMember(stamps as Record<string, unknown>, key, stamp)
    if (value === null) delete fields[key]
    else setMember(fields, key, value)
    changed = true
  }
  if (!changed) return state
  return { issues: HashMap.set(state.issues, id, recordOf(fields, stamps, heads)), conflicts }
}

/**
 * The first values of an issue: what `applyValues` does when there is no
 * record yet (every value wins, no heads), without comparing anything.
 * Values that already are the fields as `applyValues` would lay them out
 * (`id` first, nothing null) are kept as they are, not copied. Without a
 * null (a removal, which keeps its stamp without a field), and with a
 * field to stamp, the one stamp stamps the issue whole.
 */
const created = (state: IssuesState, id: string, values: Readonly<Record<string, unknown>>, stamp: Stamp): IssuesState => {
  const keys = Object.keys(values)
  let laidOut = keys[0] === "id" && values["id"] === id
  let removes = false
  let sets = false
  for (const key of keys) {
    const value = values[key]
    if (value === undefined || value === null) laidOut = false
    if (key === "id") continue
    if (value === null) removes = true
    else if (value !== undefined) sets = true
  }
  let fields = values
  if (!laidOut) {
    const copy: Record<string, unknown> = { id }
    for (const key of keys) {
      const value = values[key]
      if (key !== "id" && value !== undefined && value !== null) setMember(copy, key, value)
    }
    fields = copy
  }
  if (sets && !removes) return { issues: HashMap.set(state.issues, id, { fields, stamp }), conflicts: state.conflicts }
  const stamps: Record<string, Stamp> = {}
  for (const key of keys) {
    if (key !== "id" && values[key] !== undefined) setMember(stamps as Record<string, unknown>, key, stamp)
  }
  return { issues: HashMap.set(state.issues, id, { fields, stamps }), conflicts: state.conflicts }
}

/**
 * A more complete version of an event already folded. The fold keeps values
 * beside stamps, and which stamp wins (or which versions are a field's heads)
 * depends on stamps only, so a version's values can be swapped where its stamp
 * shows. A field the older version lacked (T4 removes people) is folded now,
 * as if it had come in order: the fold does not depend on order.
 */
const upgradeValues = (
  state: IssuesState,
  id: string,
  values: Readonly<Record<string, unknown>>,
  stamp: Stamp
): IssuesState => {
  const previous = HashMap.get(state.issues, id)
  if (Option.isNone(previous)) return applyValues(state, id, values, stamp)
  const record = previous.value
  // Field by field from here: a removal swapped in keeps its stamp without a field.
  const stamps = stampsOf(record)
  let fields: Record<string, unknown> | undefined
  let heads: Record<string, ReadonlyArray<Head>> | undefined
  let conflicts = state.conflicts
  const late: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(values)) {
    if (key === "id" || value === undefined) continue
    const shown = own(stamps, key)?.event === stamp.event
    const list = own(record.heads, key)
    const inHeads = list !== undefined && list.some((head) => head.stamp.event === stamp.event)
    if (shown) {
      fields ??= { ...record.fields }
      if (value === null) delete fields[key]
      else setMember(fields, key, value)
    }
    if (inHeads) {
      heads ??= { ...record.heads }
      const after = list.map((head) => head.stamp.event === stamp.event ? { stamp: head.stamp, value: value === null ? undefined : value } : head)
      setMember(heads, key, after)
      conflicts = inConflict(after) ? HashSet.add(conflicts, conflictId(id, key)) : HashSet.remove(conflicts, conflictId(id, key))
    }
    if (!shown && !inHeads) setMember(late, key, value)
  }
  const swapped: IssuesState = fields === undefined && heads === undefined
    ? state
    : {
      issues: HashMap.set(state.issues, id, recordOf(fields ?? record.fields, stamps, heads ?? record.heads)),
      conflicts
    }
  return Object.keys(late).length === 0 ? swapped : applyValues(swapped, id, late, stamp)
}

const stampOf = (event: {
  readonly lamport: number
  readonly town: string
  readonly id: string
  readonly townSeq: number
  readonly seen: VersionVector
}): Stamp => ({ lamport: event.lamport, town: event.town, event: event.id, townSeq: event.townSeq, seen: event.seen })

/** The values an issue event sets, with its stamp; undefined for anything else. */
const issueValues = (
  event: { readonly type: string; readonly data: unknown },
  stamp: Stamp
): { readonly id: string; readonly values: Readonly<Record<string, unknown>>; readonly stamp: Stamp } | undefined => {
  const data = event.data
  if (!isJsonObject(data) || typeof data["id"] !== "string" || data["id"] === "") return undefined
  const id = data["id"]
  switch (event.type) {
    case IssueEventType.conflictResolved: {
      const changes = data["changes"]
      const resolves = data["resolves"]
      return isJsonObject(changes) && typeof resolves === "string" ? { id, values: changes, stamp: { ...stamp, resolves } } : undefined
    }
    case IssueEventType.created:
    case IssueEventType.imported: {
      const fields = data["fields"]
      return isJsonObject(fields) ? { id, values: fields, stamp } : undefined
    }
    case IssueEventType.updated:
    case IssueEventType.closed:
    case IssueEventType.reopened: {
      const changes = data["changes"]
      return isJsonObject(changes) ? { id, values: changes, stamp } : undefined
    }
    default:
      return undefined
  }
}

const ISSUE_EVENT_TYPES: ReadonlySet<string> = new Set(Object.values(IssueEventType))

/** The issues an event changes: one for an issue event, several for an upgrade. */
export const issuesTouched = (event: { readonly type: string; readonly data: unknown }): ReadonlyArray<string> => {
  const data = event.data
  if (!isJsonObject(data)) return []
  if (event.type === IssueEventType.upgraded) {
    const events = data["events"]
    return Array.isArray(events)
      ? events.flatMap((inner: unknown) => {
        const id = isJsonObject(inner) && isJsonObject(inner["data"]) ? inner["data"]["id"] : undefined
        return typeof id === "string" && id !== "" ? [id] : []
      })
      : []
  }
  const id = data["id"]
  return ISSUE_EVENT_TYPES.has(event.type) && typeof id === "string" && id !== "" ? [id] : []
}

/**
 * A change to an issue not yet known (its creation has not arrived) makes a
 * partial record; the creation merges into it when it comes, by the same rule.
 * Malformed payloads are ignored: events reach the fold only after the log
 * has verified them, so this is defence, not validation.
 */
export const evolve = (state: IssuesState, event: Envelope): IssuesState => {
  if (event.type === IssueEventType.upgraded) {
    const data = event.data
    const events = isJsonObject(data) && Array.isArray(data["events"]) ? data["events"] : []
    let next = state
    for (const inner of events as ReadonlyArray<EventsUpgradedData["events"][number]>) {
      if (!isJsonObject(inner) || typeof inner.id !== "string" || typeof inner.town !== "string") continue
      const found = issueValues(inner, stampOf(inner))
      if (found !== undefined) next = upgradeValues(next, found.id, found.values, found.stamp)
    }
    return next
  }
  const found = issueValues(event, stampOf(event))
  return found === undefined ? state : applyValues(state, found.id, found.values, found.stamp)
}

export const getIssue = (state: IssuesState, id: string): Option.Option<IssueRecord> => HashMap.get(state.issues, id)

export const issueCount = (state: IssuesState): number => HashMap.size(state.issues)

/** Every issue with its id, sorted by id (code-unit order, the same on every machine). */
const issueEntries = (state: IssuesState): Array<readonly [string, IssueRecord]> => {
  const records = new Map<string, IssueRecord>()
  HashMap.forEach(state.issues, (record, id) => records.set(id, record))
  // Sorting strings without a comparator is code-unit order, compareText's, and it is several times faster than with one.
  return Array.from(records.keys()).sort().map((id) => [id, records.get(id)!] as const)
}

/** Every issue, sorted by id. */
export const allIssues = (state: IssuesState): ReadonlyArray<IssueRecord> => issueEntries(state).map((entry) => entry[1])

/**
 * Snapshot form: the fields as they are, and the stamps grouped by event.
 * All fields an event set share one stamp, so grouping keeps a snapshot of
 * 100,000 issues from repeating the same stamp for every field.
 */
interface EncodedStamp extends Stamp {
  readonly fields: ReadonlyArray<string>
}

interface EncodedIssue {
  readonly fields: Readonly<Record<string, unknown>>
  readonly stamps: ReadonlyArray<EncodedStamp>
  readonly heads?: Readonly<Record<string, ReadonlyArray<{ readonly stamp: Stamp; readonly value?: unknown }>>>
}

const encodeStamps = (stamps: Readonly<Record<string, Stamp>>): ReadonlyArray<EncodedStamp> => {
  // Most issues were set by one event only (a creation, an import): one group, nothing to sort but its fields.
  const fields = Object.keys(stamps)
  const only = fields.length > 0 ? stamps[fields[0]!]!.event : undefined
  if (fields.every((field) => stamps[field]!.event === only)) {
    return fields.length === 0 ? [] : [{ ...stamps[fields[0]!]!, fields: sortTexts(fields) }]
  }
  const groups = new Map<string, { stamp: Stamp; fields: Array<string> }>()
  for (const [field, stamp] of Object.entries(stamps)) {
    const group = groups.get(stamp.event)
    if (group === undefined) groups.set(stamp.event, { stamp, fields: [field] })
    else group.fields.push(field)
  }
  return Array.from(groups.values())
    .sort((a, b) => compareStamps(a.stamp, b.stamp))
    .map(({ fields, stamp }) => ({ ...stamp, fields: sortTexts(fields) }))
}

/** Whether names (an encoded stamp's) are every field but `id`, each once, in code-unit order. */
const namesEveryField = (names: ReadonlyArray<string>, fields: Readonly<Record<string, unknown>>): boolean => {
  if (names.length !== Object.keys(fields).length - 1) return false
  for (let i = 0; i < names.length; i++) {
    const name = names[i]!
    if (name === "id" || !Object.hasOwn(fields, name) || (i > 0 && !(names[i - 1]! < name))) return false
  }
  return true
}

const decodeIssue = (encoded: EncodedIssue): readonly [string, IssueRecord] => {
  const id = encoded.fields["id"] as string
  const only = encoded.stamps.length === 1 && encoded.heads === undefined && Object.hasOwn(encoded.fields, "id")
    ? encoded.stamps[0]!
    : undefined
  if (only !== undefined && namesEveryField(only.fields, encoded.fields)) {
    const { fields: _, ...stamp } = only
    return [id, { fields: encoded.fields, stamp }]
  }
  const stamps: Record<string, Stamp> = {}
  for (const { fields, ...stamp } of encoded.stamps) {
    // One object per event, shared by its fields, as after a fold.
    for (const field of fields) setMember(stamps as Record<string, unknown>, field, stamp)
  }
  const heads = encoded.heads === undefined
    ? undefined
    : Object.fromEntries(
      Object.entries(encoded.heads).map(([field, list]) => [field, list.map((head) => ({ stamp: head.stamp, value: head.value }))])
    )
  return [id, recordOf(encoded.fields, stamps, heads)]
}

export const encodeIssues = (state: IssuesState): ReadonlyArray<EncodedIssue> => allIssues(state).map(encodeRecord)

/** The stamp every field of an issue shares, if one does (an issue set by one event: a creation, an import). */
const onlyStamp = (stamps: Readonly<Record<string, Stamp>>, fields: ReadonlyArray<string>): Stamp | undefined => {
  const stamp = fields.length === 0 ? undefined : stamps[fields[0]!]!
  for (let i = 1; i < fields.length; i++) {
    if (stamps[fields[i]!]!.event !== stamp!.event) return undefined
  }
  return stamp
}

/**
 * `JSON.stringify(sortTexts(fields))`, remembering the last list: the
 * issues of one import often share one. A fold mostly stamps fields in
 * code-unit order already (imports and creations lay them out so), and a
 * list in order is not copied and sorted again. One per snapshot.
 */
const sortedFieldsTexts = (): (fields: Array<string>) => string => {
  let last: ReadonlyArray<string> = []
  let lastText = "[]"
  return (fields) => {
    let same = fields.length === last.length
    for (let i = 0; i < fields.length && same; i++) same = fields[i] === last[i]
    if (same) return lastText
    let sorted = true
    for (let i = 1; i < fields.length && sorted; i++) sorted = fields[i - 1]! < fields[i]!
    last = fields
    lastText = JSON.stringify(sorted ? fields : sortTexts([...fields]))
    return lastText
  }
}

/**
 * The object an issue made by this event alone keeps as its fields, by
 * identity, for as long as nothing changes it: the fields of a creation or
 * an import (`created` keeps them as they came when they are laid out as a
 * fold lays them out; any later change copies them).
 */
const originKey = (event: Envelope): object | undefined => {
  if (event.type !== IssueEventType.created && event.type !== IssueEventType.imported) return undefined
  const data = event.data
  const fields = isJsonObject(data) ? data["fields"] : undefined
  return isJsonObject(fields) ? fields : undefined
}

const encodeRecord = (record: IssueRecord): EncodedIssue => {
  if (record.stamp !== undefined) {
    const names = sortTexts(uniformFields(record.fields))
    return { fields: record.fields, stamps: names.length === 0 ? [] : [{ ...record.stamp, fields: names }] }
  }
  return record.heads === undefined
    ? { fields: record.fields, stamps: encodeStamps(record.stamps) }
    : { fields: record.fields, stamps: encodeStamps(record.stamps), heads: record.heads }
}

/** The issue a creation or an import makes on its own, encoded as a snapshot entry. */
const entryOf = (event: Envelope): { readonly key: string; readonly entry: unknown } | undefined => {
  if (originKey(event) === undefined) return undefined
  const found = issueValues(event, stampOf(event))
  if (found === undefined) return undefined
  const record = HashMap.get(applyValues(initialIssues, found.id, found.values, found.stamp).issues, found.id)
  return Option.isNone(record) ? undefined : { key: found.id, entry: encodeRecord(record.value) }
}

/** The stamp of the first field stamped, if any. */
const firstStamp = (record: IssueRecord): Stamp | undefined => {
  if (record.stamp !== undefined) return record.stamp
  for (const field in record.stamps) return record.stamps[field]
  return undefined
}

/**
 * Each issue's entry of the snapshot, in id order: the text of
 * `encodeIssues(state)[i]`, or a reference to the line of the event that
 * made the issue when its fields are still the very object that event
 * carried (nothing changed it since: every change copies them), its stamps
 * name that event and the log knows where that line is. (An issue with
 * only an id has no stamp: it is written out.) An issue set by one event has one group of
 * stamps, written out without building it.
 */
export const encodeIssueEntries = (
  state: IssuesState,
  originOf: OriginOf
): EncodedEntries => {
  const sortedFields = sortedFieldsTexts()
  const entries = issueEntries(state)
  return {
    keys: entries.map((entry) => entry[0]),
    textAt: (i) => {
      const record = entries[i]![1]
      const first = record.heads === undefined ? firstStamp(record) : undefined
      const ref = first === undefined ? undefined : originOf(record.fields, first.event, first.town, first.townSeq)
      if (ref !== undefined) return ref
      const stamped = record.stamps === undefined ? uniformFields(record.fields) : Object.keys(record.stamps)
      const stamp = record.stamps === undefined ? first : onlyStamp(record.stamps, stamped)
      let stamps = "[]"
      if (stamp !== undefined) {
        const text = JSON.stringify(stamp)
        stamps = `[${text === "{}" ? "{" : `${text.slice(0, -1)},`}"fields":${sortedFields(stamped)}}]`
      } else if (record.stamps !== undefined && stamped.length > 0) stamps = JSON.stringify(encodeStamps(record.stamps))
      const heads = record.heads === undefined ? "" : `,"heads":${JSON.stringify(record.heads)}`
      return `{"fields":${JSON.stringify(record.fields)},"stamps":${stamps}${heads}}`
    },
    columnsAt: (i) => issueColumns(entries[i]![1].fields)
  }
}

/** What `bd list` filters on: status, assignee, type (null where absent). */
export const issueColumns = (fields: Readonly<Record<string, unknown>>): ReadonlyArray<unknown> => [
  fields["status"] ?? null,
  fields["assignee"] ?? null,
  fields["issue_type"] ?? null
]

export const decodeIssues = (json: unknown): IssuesState => {
  const records = (json as ReadonlyArray<EncodedIssue>).map(decodeIssue)
  const conflicts = records.flatMap(([id, record]) =>
    Object.entries(record.heads ?? {}).flatMap(([field, heads]) => (inConflict(heads) ? [conflictId(id, field)] : []))
  )
  return { issues: HashMap.fromIterable(records), conflicts: HashSet.fromIterable(conflicts) }
}

/** Folding a group: the same as `evolve` event by event, with the map edited in place meanwhile. */
export const evolveAll = (state: IssuesState, events: ReadonlyArray<Envelope>): IssuesState => {
  let next: IssuesState = { issues: HashMap.beginMutation(state.issues), conflicts: state.conflicts }
  for (const event of events) next = evolve(next, event)
  return { issues: HashMap.endMutation(next.issues), conflicts: next.conflicts }
}

export const IssuesSlice: Slice<IssuesState> = {
  name: "issues",
  initial: initialIssues,
  evolve,
  evolveAll,
  encode: encodeIssues,
  decode: decodeIssues,
  entries: {
    encodeEntries: encodeIssueEntries,
    originKey,
    kept: (state, key) => Option.getOrUndefined(getIssue(state, key))?.fields,
    entryOf,
    keyOf: (entry) => {
      const fields = isJsonObject(entry) ? entry["fields"] : undefined
      return isJsonObject(fields) && typeof fields["id"] === "string" ? fields["id"] : undefined
    },
    decodeSome: decodeIssues,
    keysIn: (state) => issueEntries(state).map((entry) => entry[0]),
    touched: issuesTouched,
    columns: (state, key) => Option.match(getIssue(state, key), { onNone: () => [], onSome: (record) => issueColumns(record.fields) })
  }
}
