/** `bd federation push | pull | sync | status | conflicts | resolve`. */
import { Args, Command, Options } from "@effect/cli"
import { Effect, Either, Option } from "effect"
import type { Choice, OpenConflict } from "../domain/Conflicts.js"
import { ConflictsPending, InvalidArgument, PeersFailed } from "../domain/Errors.js"
import type { Head } from "../domain/IssueState.js"
import type { ConflictStrategy } from "../domain/Settings.js"
import { Progress } from "../services/Progress.js"
import { type PeerFailure, type PeerStatus, Sync } from "../services/Sync.js"
import { Globals } from "./Globals.js"
import { emit, renderError, table } from "./Output.js"
import { inTown } from "./Runtime.js"

const peerArg = Args.text({ name: "peer" }).pipe(Args.optional, Args.withDescription("one peer (default: all)"))

const failureJson = (error: PeerFailure) => {
  const rendered = renderError(error)
  return { code: rendered.code, message: rendered.message, hint: rendered.hint }
}

/** Print each peer's outcome, then fail with the first failure's exit code if any peer failed. */
interface Outcome {
  readonly peer: string
  readonly failure: PeerFailure | undefined
  readonly json: unknown
  readonly lines: ReadonlyArray<string>
}

const finish = (
  outcomes: ReadonlyArray<Outcome>,
  extra: { readonly json: Record<string, unknown>; readonly lines: ReadonlyArray<string>; readonly pendingConflicts?: number }
) =>
  Effect.gen(function*() {
    yield* (yield* Progress).done
    const failures = outcomes.flatMap((o) => (o.failure === undefined ? [] : [o.failure]))
    const globals = yield* Globals
    const first = failures[0]
    const pending = extra.pendingConflicts ?? 0
    yield* emit(
      () => ({
        ok: failures.length === 0 && pending === 0,
        peers: outcomes.map((o) => o.json),
        ...extra.json,
        ...(first === undefined ? {} : { error: failureJson(first) })
      }),
      () =>
        outcomes.length === 0
          ? ["No peers configured. Add one with: bd federation add-peer NAME ENDPOINT"]
          : [...outcomes.flatMap((o) => o.lines), ...extra.lines]
    )
    if (first !== undefined) {
      return yield* Effect.fail(new PeersFailed({
        failed: failures.length,
        total: outcomes.length,
        code: renderError(first).exitCode,
        reported: globals.json
      }))
    }
    if (pending > 0) return yield* Effect.fail(new ConflictsPending({ count: pending, reported: globals.json }))
  })

const errorLine = (peer: string, error: PeerFailure) => `${peer}: error: ${error.message}`

export const pushCommand = Command.make("push", { peer: peerArg }, ({ peer }) =>
  inTown("bd federation push", Effect.gen(function*() {
    const outcomes = yield* (yield* Sync).push(Option.getOrUndefined(peer))
    yield* finish(
      outcomes.map(({ peer, result }): Outcome =>
        Either.match(result, {
          onLeft: (error) => ({ peer, failure: error, json: { peer, ok: false, error: failureJson(error) }, lines: [errorLine(peer, error)] }),
          onRight: (pushed) => ({
            peer,
            failure: undefined,
            json: { ok: true, ...pushed },
            lines: [
              `${peer}: pushed${pushed.published > 0 ? `, published ${pushed.published} new event(s)` : ""}; ${
                pushed.updated.length === 0 ? "already up to date" : `updated ${pushed.updated.length} town branch(es)`
              }${pushed.peerAhead.length > 0 ? `; the peer holds more of ${pushed.peerAhead.length} town(s): pull to get them` : ""}`
            ]
          })
        })),
      { json: {}, lines: [] }
    )
  }))).pipe(Command.withDescription("Publish this town's events and relay the towns it holds, to one peer or all"))

const pullLine = (
  peer: string,
  report: {
    batches: number
    events: number
    waiting: number
    newConflicts: ReadonlyArray<string>
    trusted: ReadonlyArray<{ town: string; key: string; how: string }>
    notes: ReadonlyArray<string>
    upgraded: ReadonlyArray<{ town: string; from: string; tier: string; events: number }>
  }
) =>
  report.notes.map((note) => `${peer}: note: ${note}\n`).join("") +
  report.upgraded.map((u) =>
    `${peer}: town ${u.town}: now holding its tier ${u.tier} version in place of tier ${u.from} (${u.events} event(s) more complete)\n`
  ).join("") +
  report.trusted.map((t) => `${peer}: trusting town ${t.town} with key …${t.key.slice(-16)} (${t.how === "pinned" ? "pinned" : "first use"})\n`).join("") +
  `${peer}: pulled ${report.events} event(s) in ${report.batches} batch(es)${
    report.waiting > 0 ? `; ${report.waiting} batch(es) wait for events of towns not seen yet` : ""
  }${report.newConflicts.length > 0 ? `; ${report.newConflicts.length} new conflict(s)` : ""}`

export const pullCommand = Command.make("pull", { peer: peerArg }, ({ peer }) =>
  inTown("bd federation pull", Effect.gen(function*() {
    const sync = yield* Sync
    const outcomes = yield* sync.pull(Option.getOrUndefined(peer))
    const open = (yield* sync.conflicts).length
    yield* finish(
      outcomes.map(({ peer, result }): Outcome =>
        Either.match(result, {
          onLeft: (error) => ({ peer, failure: error, json: { peer, ok: false, error: failureJson(error) }, lines: [errorLine(peer, error)] }),
          onRight: (report) => ({ peer, failure: undefined, json: { ok: true, ...report }, lines: [pullLine(peer, report)] })
        })),
      { json: { conflicts: open }, lines: open > 0 ? [`${open} conflict(s) open: see bd federation conflicts`] : [] }
    )
  }))).pipe(Command.withDescription("Fetch and ingest the events of one peer or all"))

export const syncCommand = Command.make(
  "sync",
  {
    peer: peerArg,
    peerOption: Options.text("peer").pipe(Options.optional, Options.withDescription("one peer (same as the argument)")),
    strategy: Options.choice("strategy", ["ours", "theirs"]).pipe(Options.optional, Options.withDescription("resolve every conflict this way"))
  },
  ({ peer, peerOption, strategy }) =>
    inTown("bd federation sync", Effect.gen(function*() {
      if (Option.isSome(peer) && Option.isSome(peerOption) && peer.value !== peerOption.value) {
        return yield* Effect.fail(new InvalidArgument({ argument: "--peer", value: peerOption.value, allowed: `the same peer as the argument (${peer.value})` }))
      }
      const sync = yield* Sync
      const name = Option.getOrUndefined(Option.orElse(peer, () => peerOption))
      const outcomes = yield* sync.sync(name, Option.getOrUndefined(strategy) as ConflictStrategy | undefined)
      const open = (yield* sync.conflicts).length
      yield* finish(
        outcomes.map((o): Outcome => {
          const failure = Either.isLeft(o.pull) ? o.pull.left : o.push !== undefined && Either.isLeft(o.push) ? o.push.left : undefined
          const lines = [
            Either.match(o.pull, { onLeft: (e) => errorLine(o.peer, e), onRight: (r) => pullLine(o.peer, r) }),
            ...(o.resolved > 0 ? [`${o.peer}: resolved ${o.resolved} conflict(s) (${Option.getOrElse(strategy, () => "")})`] : []),
            ...(o.push === undefined
              ? [`${o.peer}: not pushed (unreachable)`]
              : Either.match(o.push, {
                onLeft: (e) => [errorLine(o.peer, e)],
                onRight: (p) => [`${o.peer}: pushed${p.published > 0 ? `, published ${p.published} new event(s)` : ""}`]
              }))
          ]
          return {
            peer: o.peer,
            failure,
            json: {
              peer: o.peer,
              ok: failure === undefined,
              pull: Either.match(o.pull, { onLeft: failureJson, onRight: (r) => r }),
              resolved: o.resolved,
              push: o.push === undefined ? null : Either.match(o.push, { onLeft: failureJson, onRight: (p) => p })
            },
            lines
          }
        }),
        {
          json: { conflicts: open },
          lines: [
            `summary: ${outcomes.filter((o) => Either.isRight(o.pull) && o.push !== undefined && Either.isRight(o.push)).length} of ${outcomes.length} peer(s) synced${
              open > 0 ? `; ${open} conflict(s) open (bd federation conflicts)` : ""
            }`
          ],
          pendingConflicts: open
        }
      )
    }))
).pipe(Command.withDescription("Pull, resolve and push, for one peer or all"))

const statusRow = (s: PeerStatus): ReadonlyArray<string> => [
  s.peer,
  s.endpoint,
  s.sovereignty,
  s.reachable ? "yes" : "no",
  s.ahead === undefined ? "?" : String(s.ahead),
  s.behind === undefined ? "?" : String(s.behind),
  s.lastSync ?? "never",
  String(s.conflicts)
]

export const statusCommand = Command.make(
  "status",
  { peer: Options.text("peer").pipe(Options.optional, Options.withDescription("only this peer")) },
  ({ peer }) =>
    inTown("bd federation status", Effect.gen(function*() {
      const statuses = yield* (yield* Sync).status(Option.getOrUndefined(peer))
      yield* emit(
        () => statuses,
        () =>
          statuses.length === 0
            ? "No peers configured. Add one with: bd federation add-peer NAME ENDPOINT"
            : [
              ...table(["PEER", "ENDPOINT", "TIER", "REACHABLE", "AHEAD", "BEHIND", "LAST SYNC", "CONFLICTS"], statuses.map(statusRow)),
              ...statuses.flatMap((s) => [
                ...(s.reachable ? [] : [`${s.peer}: unreachable: ${s.reason ?? ""}`]),
                ...(s.behind === undefined && s.reachable ? [`${s.peer}: has batches not fetched yet (bd federation pull ${s.peer})`] : []),
                ...(s.lastError === undefined ? [] : [`${s.peer}: last error: ${s.lastError}`])
              ])
            ]
      )
    }))
).pipe(Command.withDescription("Per peer: reachable, ahead, behind, last sync, conflicts"))

const headText = (head: Head): string =>
  `${head.value === undefined ? "(removed)" : JSON.stringify(head.value)}  (town ${head.stamp.town}, event ${head.stamp.event})`

const conflictJson = (c: OpenConflict) => ({
  id: c.id,
  issue: c.issue,
  field: c.field,
  values: c.heads.map((h) => ({ value: h.value ?? null, town: h.stamp.town, event: h.stamp.event, lamport: h.stamp.lamport })),
  shown: c.heads[c.heads.length - 1]?.value ?? null
})

export const conflictsCommand = Command.make("conflicts", {}, () =>
  inTown("bd federation conflicts", Effect.gen(function*() {
    const conflicts = yield* (yield* Sync).conflicts
    yield* emit(
      () => conflicts.map(conflictJson),
      () =>
        conflicts.length === 0
          ? "No open conflicts."
          : conflicts.flatMap((c) => [`${c.id}`, ...c.heads.map((h) => `  ${headText(h)}`)])
    )
  }))).pipe(Command.withDescription("List open conflicts: fields changed concurrently in different towns"))

export const resolveCommand = Command.make(
  "resolve",
  {
    id: Args.text({ name: "conflict-id" }),
    ours: Options.boolean("ours").pipe(Options.withDescription("keep this town's value")),
    theirs: Options.boolean("theirs").pipe(Options.withDescription("take the other town's value")),
    value: Options.text("value").pipe(Options.optional, Options.withDescription("set this value (JSON for numbers and lists)"))
  },
  ({ id, ours, theirs, value }) =>
    inTown("bd federation resolve", Effect.gen(function*() {
      const chosen = [ours, theirs, Option.isSome(value)].filter(Boolean).length
      if (chosen !== 1) {
        return yield* Effect.fail(new InvalidArgument({ argument: "choice", value: String(chosen), allowed: "exactly one of --ours, --theirs, --value V" }))
      }
      const field = id.slice(id.lastIndexOf("/") + 1)
      const choice: Choice = Option.match(value, {
        onNone: () => ({ _tag: "Side", side: ours ? "ours" : "theirs" }) as const,
        onSome: (text) => ({ _tag: "Value", value: parseValue(field, text) }) as const
      })
      const conflict = yield* (yield* Sync).resolve(id, choice, Option.isSome(value) ? "value" : ours ? "ours" : "theirs")
      yield* emit(() => ({ id: conflict.id, status: "resolved" }), () => `Resolved ${conflict.id}`)
    }))
).pipe(Command.withDescription("Close a conflict with this town's value, the other's, or a new one"))

/** Text fields take the text as it is; others (priority, labels, …) take JSON when it parses. */
const parseValue = (field: string, text: string): unknown => {
  if (["title", "description", "design", "acceptance_criteria", "notes", "status", "issue_type", "assignee", "owner"].includes(field)) return text
  try {
    return JSON.parse(text) as unknown
  } catch {
    return text
  }
}
