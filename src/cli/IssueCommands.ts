/** `bd create | update | close | reopen | show | list`: work items. */
import { Args, Command, Options } from "@effect/cli"
import { Effect, Either, Option } from "effect"
import { InvalidArgument } from "../domain/Errors.js"
import type { EditableFields } from "../domain/Issue.js"
import type { Head } from "../domain/IssueState.js"
import { inExportOrder } from "../domain/IssueJsonl.js"
import { type IssueFields, Issues } from "../services/Issues.js"
import { emit, table } from "./Output.js"
import { inTown } from "./Runtime.js"

const text = (name: string, description: string) => Options.text(name).pipe(Options.optional, Options.withDescription(description))
const get = <A>(option: Option.Option<A>): A | undefined => Option.getOrUndefined(option)

/** `2`, `P2` or `p2`. */
export const parsePriority = (value: string | undefined): Either.Either<number | undefined, InvalidArgument> => {
  if (value === undefined) return Either.right(undefined)
  const match = /^[pP]?([0-9]+)$/.exec(value.trim())
  return match === null
    ? Either.left(new InvalidArgument({ argument: "priority", value, allowed: "0, 1, 2, 3 or 4 (or P0..P4)" }))
    : Either.right(Number(match[1]))
}

const splitList = (value: string | undefined): ReadonlyArray<string> | undefined =>
  value === undefined ? undefined : value.split(",").map((item) => item.trim()).filter((item) => item !== "")

const str = (fields: IssueFields, key: string): string => {
  const value = fields[key]
  return value === undefined || value === null ? "" : typeof value === "string" ? value : JSON.stringify(value)
}

const issueLine = (fields: IssueFields): ReadonlyArray<string> => [
  str(fields, "id"),
  `P${str(fields, "priority")}`,
  str(fields, "status"),
  str(fields, "issue_type"),
  str(fields, "assignee") || "-",
  str(fields, "title")
]

const showLines = (fields: IssueFields): ReadonlyArray<string> => {
  const labels = Array.isArray(fields["labels"]) ? (fields["labels"] as ReadonlyArray<string>).join(", ") : ""
  const section = (title: string, key: string) => (str(fields, key) === "" ? [] : ["", `${title}:`, str(fields, key)])
  return [
    `${str(fields, "id")}: ${str(fields, "title")}`,
    `Status: ${str(fields, "status")}   Priority: P${str(fields, "priority")}   Type: ${str(fields, "issue_type")}`,
    ...(str(fields, "assignee") === "" ? [] : [`Assignee: ${str(fields, "assignee")}`]),
    ...(labels === "" ? [] : [`Labels: ${labels}`]),
    `Created: ${str(fields, "created_at")}${str(fields, "created_by") ? ` by ${str(fields, "created_by")}` : ""}`,
    `Updated: ${str(fields, "updated_at")}`,
    ...(str(fields, "closed_at") === "" ? [] : [`Closed: ${str(fields, "closed_at")}${str(fields, "close_reason") ? ` (${str(fields, "close_reason")})` : ""}`]),
    ...(str(fields, "source_system") === "" ? [] : [`Source: ${str(fields, "source_system")}`]),
    ...section("Description", "description"),
    ...section("Design", "design"),
    ...section("Acceptance criteria", "acceptance_criteria"),
    ...section("Notes", "notes")
  ]
}

/** Fields with concurrent versions of different values, as `bd show` displays them. */
const conflictsOf = (heads: Readonly<Record<string, ReadonlyArray<Head>>> | undefined) =>
  Object.entries(heads ?? {})
    .filter(([, list]) => new Set(list.map((head) => JSON.stringify(head.value))).size > 1)
    .map(([field, list]) => ({
      field,
      values: list.map((head) => ({ value: head.value ?? null, town: head.stamp.town, event: head.stamp.event }))
    }))

export const createCommand = Command.make(
  "create",
  {
    title: Args.text({ name: "title" }),
    description: text("description", "description").pipe(Options.withAlias("d")),
    priority: text("priority", "0 (highest) to 4, default 2").pipe(Options.withAlias("p")),
    type: text("type", "bug, feature, task, epic, chore, message, …").pipe(Options.withAlias("t")),
    assignee: text("assignee", "who works on it"),
    labels: text("labels", "comma-separated labels").pipe(Options.withAlias("l"))
  },
  (args) =>
    inTown("bd create", Effect.gen(function*() {
      const priority = yield* parsePriority(get(args.priority))
      const issue = yield* (yield* Issues).create({
        title: args.title,
        description: get(args.description),
        priority,
        issue_type: get(args.type),
        assignee: get(args.assignee),
        labels: splitList(get(args.labels))
      })
      yield* emit(() => inExportOrder(issue), () => `Created ${str(issue, "id")}: ${str(issue, "title")}`)
    }))
).pipe(Command.withDescription("Create a work item and print its id"))

export const updateCommand = Command.make(
  "update",
  {
    id: Args.text({ name: "id" }),
    title: text("title", "new title"),
    description: text("description", "new description (empty to clear)").pipe(Options.withAlias("d")),
    design: text("design", "design notes"),
    acceptance: text("acceptance", "acceptance criteria"),
    notes: text("notes", "notes"),
    status: text("status", "open, in_progress, blocked, deferred, closed, tombstone").pipe(Options.withAlias("s")),
    priority: text("priority", "0 to 4").pipe(Options.withAlias("p")),
    type: text("type", "issue type").pipe(Options.withAlias("t")),
    assignee: text("assignee", "who works on it (empty to clear)"),
    owner: text("owner", "owner (empty to clear)"),
    externalRef: text("external-ref", "a reference elsewhere (empty to clear)"),
    addLabel: Options.text("add-label").pipe(Options.repeated, Options.withDescription("add a label (repeatable)")),
    removeLabel: Options.text("remove-label").pipe(Options.repeated, Options.withDescription("remove a label (repeatable)"))
  },
  (args) =>
    inTown("bd update", Effect.gen(function*() {
      const priority = yield* parsePriority(get(args.priority))
      const set: EditableFields = {
        title: get(args.title),
        description: get(args.description),
        design: get(args.design),
        acceptance_criteria: get(args.acceptance),
        notes: get(args.notes),
        status: get(args.status),
        priority,
        issue_type: get(args.type),
        assignee: get(args.assignee),
        owner: get(args.owner),
        external_ref: get(args.externalRef)
      }
      const { changed, issue } = yield* (yield* Issues).update(args.id, {
        set,
        addLabels: args.addLabel,
        removeLabels: args.removeLabel
      })
      yield* emit(() => [inExportOrder(issue)], () => (changed ? `Updated ${args.id}` : `No change to ${args.id}`))
    }))
).pipe(Command.withDescription("Change fields of a work item"))

export const closeCommand = Command.make(
  "close",
  { id: Args.text({ name: "id" }), reason: text("reason", "why it is closed").pipe(Options.withAlias("r")) },
  ({ id, reason }) =>
    inTown("bd close", Effect.gen(function*() {
      const { changed, issue } = yield* (yield* Issues).close(id, get(reason))
      yield* emit(() => [inExportOrder(issue)], () => (changed ? `Closed ${id}` : `${id} was already closed`))
    }))
).pipe(Command.withDescription("Close a work item"))

export const reopenCommand = Command.make("reopen", { id: Args.text({ name: "id" }) }, ({ id }) =>
  inTown("bd reopen", Effect.gen(function*() {
    const { changed, issue } = yield* (yield* Issues).reopen(id)
    yield* emit(() => [inExportOrder(issue)], () => (changed ? `Reopened ${id}` : `${id} is not closed`))
  }))).pipe(Command.withDescription("Reopen a closed work item"))

export const showCommand = Command.make("show", { id: Args.text({ name: "id" }) }, ({ id }) =>
  inTown("bd show", Effect.gen(function*() {
    const record = yield* (yield* Issues).show(id)
    const conflicts = conflictsOf(record.heads)
    yield* emit(
      () => [conflicts.length === 0 ? inExportOrder(record.fields) : { ...inExportOrder(record.fields), conflicts }],
      () => [
        ...showLines(record.fields),
        ...conflicts.flatMap((c) => [
          "",
          `CONFLICT on ${c.field} (resolve with: bd federation resolve ${id}/${c.field} --ours|--theirs|--value V):`,
          ...c.values.map((v) => `  ${v.value === null ? "(removed)" : JSON.stringify(v.value)}  from town ${v.town}`)
        ])
      ]
    )
  }))).pipe(Command.withDescription("Show one work item"))

export const listCommand = Command.make(
  "list",
  {
    status: text("status", "only this status").pipe(Options.withAlias("s")),
    assignee: text("assignee", "only this assignee").pipe(Options.withAlias("a")),
    type: text("type", "only this type").pipe(Options.withAlias("t")),
    all: Options.boolean("all").pipe(Options.withDescription("include closed work items")),
    limit: Options.integer("limit").pipe(Options.withAlias("n"), Options.withDefault(50), Options.withDescription("at most N (0: no limit)"))
  },
  (args) =>
    inTown("bd list", Effect.gen(function*() {
      if (args.limit < 0) {
        return yield* Effect.fail(new InvalidArgument({ argument: "--limit", value: String(args.limit), allowed: "0 (no limit) or a positive number" }))
      }
      const filter = { status: get(args.status), assignee: get(args.assignee), type: get(args.type), all: args.all }
      const issues = yield* Issues
      const { issues: shown, total } = args.limit === 0
        ? yield* Effect.map(issues.list(filter), (all) => ({ issues: all, total: all.length }))
        : yield* issues.page(filter, args.limit)
      yield* emit(
        () => shown.map(inExportOrder),
        () =>
          shown.length === 0
            ? "No work items."
            : [
              ...table(["ID", "PRI", "STATUS", "TYPE", "ASSIGNEE", "TITLE"], shown.map(issueLine)),
              ...(shown.length < total ? [`(${total - shown.length} more; see --limit)`] : [])
            ]
      )
    }))
).pipe(Command.withDescription("List work items (open ones unless --all or --status)"))
