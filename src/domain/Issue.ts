/**
 * The work-item decider: beads issues, created, edited, closed, reopened and
 * imported. Commands carry the time, the actor and (for a new issue) the
 * digest its id is made from; the log stamps town and lamport on the events.
 * The state and `evolve` live in IssueState.ts and are re-exported here.
 */
import { Either, Option } from "effect"
import type { NewEvent } from "../events/Envelope.js"
import { InvalidArgument } from "./Errors.js"
import { IssueNotFound } from "./IssueErrors.js"
import {
  DEFAULT_ISSUE_TYPE,
  DEFAULT_PRIORITY,
  isLaterTimestamp,
  isPriority,
  isStatus,
  jsonEqual,
  MAX_TITLE_LENGTH,
  normalizeLabels,
  setMember,
  sortTexts,
  STATUSES
} from "./IssueFields.js"
import { getIssue, IssueEventType, type IssuesState } from "./IssueState.js"

export * from "./IssueState.js"

interface CommandMeta {
  readonly at: string
  readonly actor: string
}

export interface CreateIssue extends CommandMeta {
  readonly _tag: "CreateIssue"
  readonly title: string
  readonly description?: string | undefined
  readonly priority?: number | undefined
  readonly issue_type?: string | undefined
  readonly assignee?: string | undefined
  readonly labels?: ReadonlyArray<string> | undefined
  /** Hex sha-256, computed outside the domain over town, time, title and a nonce. */
  readonly digest: string
  readonly prefix: string
  readonly town: string
}

/** The fields a user edits with `bd update`; null (or an empty string) clears an optional text field. */
export interface EditableFields {
  readonly title?: string | undefined
  readonly description?: string | null | undefined
  readonly design?: string | null | undefined
  readonly acceptance_criteria?: string | null | undefined
  readonly notes?: string | null | undefined
  /** One of STATUSES; a string so the command can carry raw user input to be refused here. */
  readonly status?: string | undefined
  readonly priority?: number | undefined
  readonly issue_type?: string | undefined
  readonly assignee?: string | null | undefined
  readonly owner?: string | null | undefined
  readonly external_ref?: string | null | undefined
}

export interface UpdateIssue extends CommandMeta {
  readonly _tag: "UpdateIssue"
  readonly id: string
  readonly set: EditableFields
  readonly addLabels?: ReadonlyArray<string> | undefined
  readonly removeLabels?: ReadonlyArray<string> | undefined
}

export interface CloseIssue extends CommandMeta {
  readonly _tag: "CloseIssue"
  readonly id: string
  readonly reason?: string | undefined
}

export interface ReopenIssue extends CommandMeta {
  readonly _tag: "ReopenIssue"
  readonly id: string
}

export interface ImportIssues extends CommandMeta {
  readonly _tag: "ImportIssues"
  /** Records as the JSONL parser returns them (already validated). */
  readonly records: ReadonlyArray<Readonly<Record<string, unknown>>>
  readonly town: string
}

export type IssueCommand = CreateIssue | UpdateIssue | CloseIssue | ReopenIssue | ImportIssues

export type IssueDecision = Either.Either<ReadonlyArray<NewEvent>, IssueNotFound | InvalidArgument>

type Fields = Readonly<Record<string, unknown>>
type Check<A> = Either.Either<A, InvalidArgument>

const STATUS_LIST = STATUSES.join(", ")
const OPTIONAL_TEXT = ["description", "design", "acceptance_criteria", "notes", "assignee", "owner", "external_ref"]
/** Identifiers, unlike prose, lose surrounding white space. */
const TRIMMED_TEXT = new Set(["assignee", "owner", "external_ref"])
const EDITABLE = ["title", "status", "priority", "issue_type", ...OPTIONAL_TEXT]

/** Shortest id suffix; longer ones are tried only when the shorter id is taken. */
export const ID_SUFFIX_LENGTH = 6
const MAX_ID_SUFFIX_LENGTH = 50

const invalid = (argument: string, value: unknown, allowed: string) =>
  Either.left(new InvalidArgument({ argument, value: typeof value === "string" ? value : JSON.stringify(value) ?? "undefined", allowed }))

const checkTitle = (title: unknown): Check<string> => {
  const trimmed = typeof title === "string" ? title.trim() : ""
  if (trimmed === "") return invalid("title", title, "a non-empty title")
  return [...trimmed].length > MAX_TITLE_LENGTH
    ? invalid("title", `${trimmed.slice(0, 40)}…`, `a title of at most ${MAX_TITLE_LENGTH} characters`)
    : Either.right(trimmed)
}

const checkPriority = (priority: unknown): Check<number> =>
  isPriority(priority) ? Either.right(priority) : invalid("priority", priority, "an integer from 0 (highest) to 4 (lowest)")

const checkType = (type: unknown): Check<string> => {
  const trimmed = typeof type === "string" ? type.trim() : ""
  return trimmed === "" ? invalid("type", type, "a non-empty type such as bug, feature, task, epic or chore") : Either.right(trimmed)
}

/** The value an edit stores: null means the field is removed. */
const checkEdit = (field: string, value: unknown): Check<unknown> => {
  switch (field) {
    case "title":
      return checkTitle(value)
    case "status":
      return isStatus(value) ? Either.right(value) : invalid("status", value, `one of ${STATUS_LIST}`)
    case "priority":
      return checkPriority(value)
    case "issue_type":
      return checkType(value)
    default: {
      if (!OPTIONAL_TEXT.includes(field)) return invalid("field", field, `one of ${EDITABLE.join(", ")}`)
      if (value === null) return Either.right(null)
      if (typeof value !== "string") return invalid(field, value, "a string")
      const text = TRIMMED_TEXT.has(field) ? value.trim() : value
      return Either.right(text === "" ? null : text)
    }
  }
}

const stringList = (value: unknown): ReadonlyArray<string> =>
  Array.isArray(value) ? value.filter((item): item is string => typeof item === "string") : []

/** An absent field and a field about to be removed are the same. */
const diff = (current: Fields, target: Fields): Record<string, unknown> => {
  const out: Record<string, unknown> = {}
  for (const [field, value] of Object.entries(target)) {
    const before = current[field] ?? null
    if (!jsonEqual(before, value)) setMember(out, field, value)
  }
  return out
}

const event = (type: string, data: unknown, command: CommandMeta): NewEvent => ({ type, data, at: command.at, actor: command.actor })

/** The id suffix is the low-order base36 digits of the digest, so every length is uniformly distributed. */
const newId = (state: IssuesState, command: CreateIssue): Check<string> => {
  if (!/^[0-9a-fA-F]+$/.test(command.digest)) return invalid("digest", command.digest, "a hex sha-256 digest")
  if (!/^\S+$/.test(command.prefix)) return invalid("prefix", command.prefix, "a non-empty prefix without spaces")
  const n = BigInt(`0x${command.digest}`)
  for (let k = ID_SUFFIX_LENGTH; k <= MAX_ID_SUFFIX_LENGTH; k++) {
    const id = `${command.prefix}-${(n % 36n ** BigInt(k)).toString(36).padStart(k, "0")}`
    if (Option.isNone(getIssue(state, id))) return Either.right(id)
  }
  return invalid("digest", command.digest, "a digest whose id is not taken (compute it with a new nonce)")
}

const decideCreate = (state: IssuesState, c: CreateIssue): IssueDecision =>
  Either.gen(function*() {
    const id = yield* newId(state, c)
    const title = yield* checkTitle(c.title)
    const priority = yield* checkPriority(c.priority ?? DEFAULT_PRIORITY)
    const issueType = yield* checkType(c.issue_type ?? DEFAULT_ISSUE_TYPE)
    const assignee = c.assignee?.trim() ?? ""
    const labels = normalizeLabels(c.labels ?? [])
    const fields: Record<string, unknown> = {
      id,
      title,
      ...(c.description === undefined || c.description === "" ? {} : { description: c.description }),
      status: "open",
      priority,
      issue_type: issueType,
      ...(assignee === "" ? {} : { assignee }),
      created_by: c.actor,
      ...(labels.length === 0 ? {} : { labels }),
      created_at: c.at,
      updated_at: c.at,
      source_system: c.town
    }
    return [event(IssueEventType.created, { id, fields }, c)]
  })

const decideUpdate = (current: Fields, c: UpdateIssue): IssueDecision =>
  Either.gen(function*() {
    const target: Record<string, unknown> = {}
    for (const [field, value] of Object.entries(c.set)) {
      if (value !== undefined) target[field] = yield* checkEdit(field, value)
    }
    if ((c.addLabels?.length ?? 0) > 0 || (c.removeLabels?.length ?? 0) > 0) {
      const removed = new Set(normalizeLabels(c.removeLabels ?? []))
      const labels = normalizeLabels([...stringList(current["labels"]), ...(c.addLabels ?? [])])
        .filter((label) => !removed.has(label))
      target["labels"] = labels.length === 0 ? null : labels
    }
    // Like beads, closed_at follows the status whichever command changes it.
    const status = target["status"]
    if (status !== undefined && status !== current["status"]) {
      if (status === "closed") target["closed_at"] = c.at
      else if (current["status"] === "closed") Object.assign(target, { closed_at: null, close_reason: null })
    }
    const changed = diff(current, target)
    return Object.keys(changed).length === 0
      ? []
      : [event(IssueEventType.updated, { id: c.id, changes: { ...changed, updated_at: c.at } }, c)]
  })

const decideClose = (current: Fields, c: CloseIssue): IssueDecision => {
  // Closing twice is a no-op rather than an error, so scripts can close idempotently.
  if (current["status"] === "closed") return Either.right([])
  const reason = c.reason?.trim() ?? ""
  const changes = { status: "closed", closed_at: c.at, close_reason: reason === "" ? null : reason, updated_at: c.at }
  return Either.right([event(IssueEventType.closed, { id: c.id, changes }, c)])
}

const decideReopen = (current: Fields, c: ReopenIssue): IssueDecision => {
  // Only a closed issue is reopened; an open, blocked or deleted one is left as it is.
  if (current["status"] !== "closed") return Either.right([])
  const changes = { status: "open", closed_at: null, close_reason: null, updated_at: c.at }
  return Either.right([event(IssueEventType.reopened, { id: c.id, changes }, c)])
}

/**
 * A new record as imported: null members dropped, `source_system` the
 * importing town unless the record names one. `id` comes first and the
 * rest in code-unit order, as folding the log lays an issue out, so the
 * state can keep this very object.
 */
const newImportFields = (raw: Fields, town: string): Record<string, unknown> => {
  // Sorted with `id`, which is skipped: no second array without it.
  const keys = Object.keys(raw)
  if (!Object.hasOwn(raw, "source_system")) keys.push("source_system")
  sortTexts(keys)
  const fields: Record<string, unknown> = { id: raw["id"] }
  for (const key of keys) {
    if (key === "id") continue
    const value = key === "source_system" ? raw[key] ?? town : raw[key]
    if (value !== null && value !== undefined) setMember(fields, key, value)
  }
  return fields
}

/** The fields of an issue the state holds, undefined for a new id. */
const fieldsOf = (state: IssuesState, id: string): Fields | undefined => {
  const issue = getIssue(state, id)
  return Option.isSome(issue) ? issue.value.fields : undefined
}

/**
 * A new id imports the whole record; a known id imports only what differs,
 * and only from a record whose updated_at is strictly later, so importing
 * the same file twice decides nothing the second time. A JSON null member is
 * the same as an absent one (null removes a field in a change).
 */
const decideImport = (state: IssuesState, c: ImportIssues): IssueDecision => {
  const decided = new Map<string, Fields>()
  const events: Array<NewEvent> = []
  for (let i = 0; i < c.records.length; i++) {
    const raw = c.records[i]!
    const id = raw["id"]
    if (typeof id !== "string" || id.trim() === "") return invalid("id", id, "a non-empty string id on every record")
    const current = decided.get(id) ?? fieldsOf(state, id)
    if (current === undefined) {
      const fields = newImportFields(raw, c.town)
      events.push(event(IssueEventType.imported, { fields, id }, c))
      decided.set(id, fields)
      continue
    }
    const record = Object.fromEntries(Object.entries(raw).filter(([, value]) => value !== null && value !== undefined))
    if (isLaterTimestamp(record["updated_at"], current["updated_at"])) {
      // A record without source_system keeps the one stamped at its first import.
      const removed = Object.keys(current).filter((field) => !(field in record) && field !== "source_system")
      const target = { ...record, ...Object.fromEntries(removed.map((field) => [field, null])) }
      const fields = diff(current, target)
      delete fields["id"]
      if (Object.keys(fields).length > 0) {
        events.push(event(IssueEventType.imported, { fields, id }, c))
        const kept = record["source_system"] === undefined ? { source_system: current["source_system"] } : {}
        decided.set(id, { ...record, ...kept })
      }
    }
  }
  return Either.right(events)
}

const withIssue = (
  state: IssuesState,
  id: string,
  decideFor: (current: Fields) => IssueDecision
): IssueDecision =>
  Option.match(getIssue(state, id), {
    onNone: () => Either.left(new IssueNotFound({ id })),
    onSome: (issue) => decideFor(issue.fields)
  })

export const decide = (state: IssuesState, command: IssueCommand): IssueDecision => {
  switch (command._tag) {
    case "CreateIssue":
      return decideCreate(state, command)
    case "UpdateIssue":
      return withIssue(state, command.id, (current) => decideUpdate(current, command))
    case "CloseIssue":
      return withIssue(state, command.id, (current) => decideClose(current, command))
    case "ReopenIssue":
      return withIssue(state, command.id, (current) => decideReopen(current, command))
    case "ImportIssues":
      return decideImport(state, command)
  }
}
