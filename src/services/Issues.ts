/**
 * The Issues service: work items as commands in, events out. It works in
 * every sync mode; what the mode changes is what is projected after each
 * command (src/layers/modes.ts), not what happens here.
 */
import { Context, Effect, Either, HashMap, Layer, Option, Random } from "effect"
import { createHash } from "node:crypto"
import type { InvalidArgument } from "../domain/Errors.js"
import {
  decide,
  type EditableFields,
  getIssue,
  type IssueCommand,
  type IssueRecord,
  type IssuesState
} from "../domain/Issue.js"
import { IssueNotFound } from "../domain/IssueErrors.js"
import { allIssues, issueColumns } from "../domain/IssueState.js"
import { EventLog, type LogError } from "../events/EventLog.js"
import { commandMeta, Session } from "./Session.js"

export type IssueFields = Readonly<Record<string, unknown>>

export interface CreateInput {
  readonly title: string
  readonly description?: string | undefined
  readonly priority?: number | undefined
  readonly issue_type?: string | undefined
  readonly assignee?: string | undefined
  readonly labels?: ReadonlyArray<string> | undefined
}

export interface UpdateInput {
  readonly set: EditableFields
  readonly addLabels?: ReadonlyArray<string> | undefined
  readonly removeLabels?: ReadonlyArray<string> | undefined
}

export interface ListFilter {
  readonly status: string | undefined
  readonly assignee: string | undefined
  readonly type: string | undefined
  /** Include closed and tombstoned issues when no status is given. */
  readonly all: boolean
}

export interface ImportSummary {
  readonly records: number
  readonly created: number
  readonly updated: number
  readonly unchanged: number
  readonly events: number
}

type IssueError = IssueNotFound | InvalidArgument | LogError

export interface IssuesApi {
  readonly create: (input: CreateInput) => Effect.Effect<IssueFields, IssueError>
  readonly update: (id: string, input: UpdateInput) => Effect.Effect<{ readonly issue: IssueFields; readonly changed: boolean }, IssueError>
  readonly close: (id: string, reason: string | undefined) => Effect.Effect<{ readonly issue: IssueFields; readonly changed: boolean }, IssueError>
  readonly reopen: (id: string) => Effect.Effect<{ readonly issue: IssueFields; readonly changed: boolean }, IssueError>
  readonly show: (id: string) => Effect.Effect<IssueRecord, IssueNotFound | LogError>
  readonly list: (filter: ListFilter) => Effect.Effect<ReadonlyArray<IssueFields>, LogError>
  /** The first `limit` (> 0) issues that match, by id, and how many match in all; reads only those where it can. */
  readonly page: (filter: ListFilter, limit: number) => Effect.Effect<{ readonly issues: ReadonlyArray<IssueFields>; readonly total: number }, LogError>
  /** Import already-parsed records; with `dryRun`, decide only. */
  readonly importRecords: (records: ReadonlyArray<IssueFields>, dryRun: boolean) => Effect.Effect<ImportSummary, IssueError>
  readonly state: Effect.Effect<IssuesState, LogError>
}

export class Issues extends Context.Tag("beads/Issues")<Issues, IssuesApi>() {}

const CLOSED = new Set(["closed", "tombstone"])

/** The filter over an issue's columns (issueColumns: status, assignee, type). */
export const matchesColumns = (filter: ListFilter) => (columns: ReadonlyArray<unknown>): boolean => {
  const [status, assignee, type] = columns
  return (filter.status === undefined ? filter.all || !CLOSED.has(String(status)) : status === filter.status) &&
    (filter.assignee === undefined || assignee === filter.assignee) &&
    (filter.type === undefined || type === filter.type)
}

export const matchesFilter = (filter: ListFilter) => {
  const match = matchesColumns(filter)
  return (fields: IssueFields): boolean => match(issueColumns(fields))
}

const summarize = (state: IssuesState, records: ReadonlyArray<IssueFields>, events: number): ImportSummary => {
  let created = 0
  for (const record of records) if (!HashMap.has(state.issues, String(record["id"]))) created++
  return { records: records.length, created, updated: events - created, unchanged: records.length - events, events }
}

export const IssuesLive = (town: string, prefix: string): Layer.Layer<Issues, never, EventLog | Session> =>
  Layer.effect(
    Issues,
    Effect.gen(function*() {
      const log = yield* EventLog
      const session = yield* Session
      const meta = Effect.provideService(commandMeta, Session, session)

      /** Decide one command against fresh state under the lock; the issue as it is afterwards. */
      const run = (id: string, command: IssueCommand) =>
        Effect.map(
          log.transact(["issues"], (state) => Either.map(decide(state.issues, command), (events) => ({ events, result: events.length > 0 }))),
          (committed) => ({
            changed: committed.result,
            issue: Option.match(getIssue(committed.state.issues, id), {
              onNone: () => ({}),
              onSome: (record) => record.fields
            })
          })
        )

      const existing = (id: string) =>
        Effect.flatMap(log.lookup("issues", [id]), (loaded) =>
          Option.match(getIssue(loaded.state.issues, id), {
            onNone: () => Effect.fail(new IssueNotFound({ id })),
            onSome: Effect.succeed
          }))

      return Issues.of({
        create: (input) =>
          Effect.gen(function*() {
            const { actor, at } = yield* meta
            const nonce = yield* Random.nextInt
            const digest = createHash("sha256").update(`${town}\n${at}\n${input.title}\n${nonce}`).digest("hex")
            const committed = yield* log.transact(["issues"], (state) =>
              Either.map(
                decide(state.issues, { _tag: "CreateIssue", ...input, digest, prefix, town, actor, at }),
                (events) => ({ events, result: (events[0]?.data as { id: string }).id })
              ))
            return Option.getOrThrow(getIssue(committed.state.issues, committed.result)).fields
          }),
        update: (id, input) =>
          Effect.flatMap(meta, ({ actor, at }) => run(id, { _tag: "UpdateIssue", id, ...input, actor, at })),
        close: (id, reason) =>
          Effect.flatMap(meta, ({ actor, at }) => run(id, { _tag: "CloseIssue", id, reason, actor, at })),
        reopen: (id) => Effect.flatMap(meta, ({ actor, at }) => run(id, { _tag: "ReopenIssue", id, actor, at })),
        show: existing,
        list: (filter) =>
          Effect.map(log.load(["issues"]), (loaded) =>
            allIssues(loaded.state.issues).map((record) => record.fields).filter(matchesFilter(filter))),
        page: (filter, limit) =>
          Effect.map(log.select("issues", matchesColumns(filter), limit), (selected) => ({
            issues: selected.keys.flatMap((id) => Option.match(getIssue(selected.state.issues, id), { onNone: () => [], onSome: (record) => [record.fields] })),
            total: selected.total
          })),
        importRecords: (records, dryRun) =>
          Effect.gen(function*() {
            const { actor, at } = yield* meta
            const command: IssueCommand = { _tag: "ImportIssues", records, town, actor, at }
            if (dryRun) {
              const loaded = yield* log.load(["issues"])
              const events = yield* decide(loaded.state.issues, command)
              return summarize(loaded.state.issues, records, events.length)
            }
            const committed = yield* log.transact(["issues"], (state) =>
              Either.map(decide(state.issues, command), (events) => ({
                events,
                result: summarize(state.issues, records, events.length)
              })))
            return committed.result
          }),
        state: Effect.map(log.load(["issues"]), (loaded) => loaded.state.issues)
      })
    })
  )
