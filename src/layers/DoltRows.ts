/**
 * The rows of the SQL projection, computed from events and the folded
 * state. Pure, so the writer and the tests that compare tables with the
 * state share one mapping.
 *
 * Issues keep their whole beads JSON in `fields`, so fields this project
 * does not interpret survive; the typed columns beside it are for queries.
 * A value that does not fit its typed column (a status of 100 characters, a
 * priority that is not an integer) leaves the column NULL: `fields` always
 * has it as it is.
 */
import { HashSet, Option } from "effect"
import { findConflict, type OpenConflict } from "../domain/Conflicts.js"
import { findPeer, listPeers, type Peer, type PeersState } from "../domain/Federation.js"
import { compareText, isJsonObject } from "../domain/IssueFields.js"
import { allIssues, getIssue, issuesTouched, type IssuesState } from "../domain/IssueState.js"
import type { Envelope } from "../events/Envelope.js"

export type Row = ReadonlyArray<string | number | boolean | null>

/** A table as the writer upserts it: its columns in order, and the key the upsert matches on. */
export interface TableSpec {
  readonly name: string
  readonly columns: ReadonlyArray<string>
  readonly key: ReadonlyArray<string>
}

export const EventsTable: TableSpec = {
  name: "bd_events",
  columns: ["seq", "id", "town", "town_seq", "lamport", "type", "at", "actor", "data", "seen", "sig", "prev", "hash"],
  key: ["seq"]
}

type IssueColumn =
  | { readonly kind: "text" }
  | { readonly kind: "bounded"; readonly max: number }
  | { readonly kind: "int" }
  | { readonly kind: "json" }

const text = { kind: "text" } as const
const bounded = (max: number) => ({ kind: "bounded", max }) as const
const json = { kind: "json" } as const

/** The typed issue columns, as in src/layers/DoltSchema.ts. */
export const ISSUE_COLUMNS: ReadonlyArray<readonly [string, IssueColumn]> = [
  ["title", text],
  ["description", text],
  ["design", text],
  ["acceptance_criteria", text],
  ["notes", text],
  ["status", bounded(64)],
  ["priority", { kind: "int" }],
  ["issue_type", bounded(64)],
  ["assignee", bounded(255)],
  ["owner", bounded(255)],
  ["created_by", bounded(255)],
  ["labels", json],
  ["dependencies", json],
  ["comments", json],
  ["external_ref", text],
  ["created_at", bounded(64)],
  ["updated_at", bounded(64)],
  ["closed_at", bounded(64)],
  ["close_reason", text],
  ["deleted_at", bounded(64)],
  ["deleted_by", bounded(255)],
  ["delete_reason", text],
  ["original_type", bounded(64)],
  ["source_system", bounded(255)]
]

export const IssuesTable: TableSpec = {
  name: "bd_issues",
  columns: ["id", ...ISSUE_COLUMNS.map(([name]) => name), "fields"],
  key: ["id"]
}

export const PeersTable: TableSpec = {
  name: "bd_peers",
  columns: ["name", "endpoint", "sovereignty", "has_credentials", "added_at", "added_by"],
  key: ["name"]
}

export const SyncRunsTable: TableSpec = {
  name: "bd_sync_runs",
  columns: ["seq", "event_id", "peer", "operation", "outcome", "at", "actor", "message", "data"],
  key: ["seq"]
}

export const ConflictsTable: TableSpec = {
  name: "bd_conflicts",
  columns: ["issue_id", "field", "conflict_id", "heads", "shown"],
  key: ["issue_id", "field"]
}

/** JSON text for a JSON column; a missing value is SQL NULL. */
export const jsonText = (value: unknown): string | null => (value === undefined ? null : JSON.stringify(value))

/** Free text as it is; anything else that is set, as its JSON text. */
const asText = (value: unknown): string | null =>
  value === undefined || value === null ? null : typeof value === "string" ? value : JSON.stringify(value)

const INT_MIN = -2147483648
const INT_MAX = 2147483647

const cell = (column: IssueColumn, value: unknown): string | number | null => {
  switch (column.kind) {
    case "text":
      return asText(value)
    case "bounded": {
      // JavaScript counts UTF-16 units, never fewer than the server's characters: a value that fits here fits there.
      const shown = asText(value)
      return shown !== null && shown.length <= column.max ? shown : null
    }
    case "int":
      return typeof value === "number" && Number.isInteger(value) && value >= INT_MIN && value <= INT_MAX ? value : null
    case "json":
      return jsonText(value)
  }
}

const own = (fields: Readonly<Record<string, unknown>>, key: string): unknown =>
  Object.hasOwn(fields, key) ? fields[key] : undefined

export const issueRow = (fields: Readonly<Record<string, unknown>>): Row => [
  String(fields["id"]),
  ...ISSUE_COLUMNS.map(([name, column]) => cell(column, own(fields, name))),
  JSON.stringify(fields)
]

export const eventRow = (event: Envelope): Row => [
  event.seq,
  event.id,
  event.town,
  event.townSeq,
  event.lamport,
  event.type,
  event.at,
  event.actor,
  jsonText(event.data),
  JSON.stringify(event.seen ?? {}),
  event.sig ?? null,
  event.prev,
  event.hash
]

export const peerRow = (peer: Peer): Row => [
  peer.name,
  peer.endpoint,
  peer.sovereignty ?? null,
  peer.hasCredentials,
  peer.addedAt,
  peer.addedBy
]

const SYNC_RUN_TYPES: Readonly<Record<string, readonly [operation: string, outcome: string]>> = {
  PushStarted: ["push", "started"],
  PushCompleted: ["push", "completed"],
  PushFailed: ["push", "failed"],
  PullStarted: ["pull", "started"],
  PullCompleted: ["pull", "completed"],
  PullFailed: ["pull", "failed"],
  SyncCompleted: ["sync", "completed"]
}

/** A sync run's row, for Push*, Pull* and SyncCompleted events. */
export const syncRunRow = (event: Envelope): Row | undefined => {
  const kind = SYNC_RUN_TYPES[event.type]
  if (kind === undefined) return undefined
  const data = isJsonObject(event.data) ? event.data : {}
  const peer = typeof data["peer"] === "string" && data["peer"].length <= 255 ? data["peer"] : ""
  const message = typeof data["message"] === "string" ? data["message"] : null
  return [event.seq, event.id, peer, kind[0], kind[1], event.at, event.actor, message, jsonText(event.data)]
}

export const conflictRow = (conflict: OpenConflict): Row => [
  conflict.issue,
  conflict.field,
  conflict.id,
  JSON.stringify(conflict.heads.map((head) => ({
    value: head.value ?? null,
    town: head.stamp.town,
    event: head.stamp.event,
    lamport: head.stamp.lamport
  }))),
  JSON.stringify(conflict.heads[conflict.heads.length - 1]?.value ?? null)
]

/** The peer an event adds or removes, if it does. */
export const peerOf = (event: Envelope): string | undefined => {
  if (!isJsonObject(event.data)) return undefined
  const name = event.type === "PeerAdded" || event.type === "PeerRemoved"
    ? event.data["name"]
    : event.type === "PeerOrganizationLearned"
    ? event.data["peer"]
    : undefined
  return typeof name === "string" ? name : undefined
}

/** The rows of one batch of events. */
export interface BatchRows {
  readonly events: ReadonlyArray<Row>
  readonly syncRuns: ReadonlyArray<Row>
  readonly issues: ReadonlyArray<Row>
  /** Issues the events named that the state does not hold (malformed events): no row. */
  readonly goneIssues: ReadonlyArray<string>
  readonly peers: ReadonlyArray<Row>
  readonly gonePeers: ReadonlyArray<string>
  /** The issues whose conflict rows are replaced by `conflicts`. */
  readonly conflictIssues: ReadonlyArray<string>
  readonly conflicts: ReadonlyArray<Row>
}

/**
 * Everything one batch of events writes. `issues` and `peers` are the state
 * the rows are taken from; `due` says which of the issues and peers the
 * events touch get their row now (by default, all of them).
 */
export const batchRows = (
  events: ReadonlyArray<Envelope>,
  issues: IssuesState,
  peers: PeersState,
  due: (kind: "issue" | "peer", key: string) => boolean = () => true
): BatchRows => {
  const touchedIssues = new Set<string>()
  const touchedPeers = new Set<string>()
  const syncRuns: Array<Row> = []
  for (const event of events) {
    for (const issue of issuesTouched(event)) if (due("issue", issue)) touchedIssues.add(issue)
    const peer = peerOf(event)
    if (peer !== undefined && due("peer", peer)) touchedPeers.add(peer)
    const run = syncRunRow(event)
    if (run !== undefined) syncRuns.push(run)
  }
  const issueRows: Array<Row> = []
  const goneIssues: Array<string> = []
  // In key order: the server appends to its index pages rather than jumping between them.
  for (const id of [...touchedIssues].sort(compareText)) {
    Option.match(getIssue(issues, id), {
      onNone: () => goneIssues.push(id),
      onSome: (record) => issueRows.push(issueRow(record.fields))
    })
  }
  const peerRows: Array<Row> = []
  const gonePeers: Array<string> = []
  for (const name of touchedPeers) {
    Option.match(findPeer(peers, name), {
      onNone: () => gonePeers.push(name),
      onSome: (peer) => peerRows.push(peerRow(peer))
    })
  }
  const conflicts: Array<Row> = []
  if (touchedIssues.size > 0) {
    for (const id of HashSet.values(issues.conflicts)) {
      Option.map(findConflict(issues, id), (conflict) => {
        if (touchedIssues.has(conflict.issue)) conflicts.push(conflictRow(conflict))
      })
    }
  }
  return {
    events: events.map(eventRow),
    syncRuns,
    issues: issueRows,
    goneIssues,
    peers: peerRows,
    gonePeers,
    conflictIssues: [...touchedIssues],
    conflicts
  }
}

/** Every row the projection holds for a folded state and its events: what the tables must equal. */
export const allRows = (events: ReadonlyArray<Envelope>, issues: IssuesState, peers: PeersState) => ({
  events: events.map(eventRow),
  syncRuns: events.flatMap((event) => {
    const row = syncRunRow(event)
    return row === undefined ? [] : [row]
  }),
  issues: allIssues(issues).map((record) => issueRow(record.fields)),
  peers: listPeers(peers).map(peerRow),
  conflicts: Array.from(HashSet.values(issues.conflicts)).flatMap((id) =>
    Option.toArray(Option.map(findConflict(issues, id), conflictRow))
  )
})
