/**
 * Test support for the work-item specifications: a tiny in-memory "town"
 * that decides a command, seals the events as the log would (town, townSeq,
 * lamport), and folds them.
 */
import { Either } from "effect"
import type { Envelope, NewEvent } from "../../src/events/Envelope.js"
import { decide, evolve, initialIssues, type IssueCommand, type IssuesState } from "../../src/domain/Issue.js"

export const AT = "2025-03-01T10:00:00Z"
export const LATER = "2025-03-02T10:00:00Z"

/** A digest whose six low-order base36 digits are "00000z" (and seven are "100000z"). */
export const DIGEST = (36 ** 6 + 35).toString(16)

export const seal = (event: NewEvent, town: string, lamport: number): Envelope => ({
  seq: 0,
  id: `${town}:${lamport}`,
  town,
  townSeq: lamport,
  lamport,
  seen: {},
  type: event.type,
  at: event.at,
  actor: event.actor,
  data: event.data,
  prev: "",
  hash: ""
})

export const foldAll = (events: ReadonlyArray<Envelope>, from: IssuesState = initialIssues): IssuesState =>
  events.reduce(evolve, from)

/** Given these sealed events, the state a town holds. */
export const given = (...events: ReadonlyArray<Envelope>): IssuesState => foldAll(events)

/** Decides a command that must succeed, returning its events. */
export const decided = (state: IssuesState, command: IssueCommand): ReadonlyArray<NewEvent> =>
  Either.getOrThrowWith(decide(state, command), (error) => new Error(`unexpected ${error._tag}: ${error.message}`))

/** Decides and folds, as one town would, numbering lamports from `lamport`. */
export const run = (
  state: IssuesState,
  command: IssueCommand,
  town = "town-a",
  lamport = 1
): { readonly state: IssuesState; readonly events: ReadonlyArray<Envelope> } => {
  const events = decided(state, command).map((event, i) => seal(event, town, lamport + i))
  return { state: foldAll(events, state), events }
}

export const create = (title: string, extra: Partial<Extract<IssueCommand, { _tag: "CreateIssue" }>> = {}) =>
  ({
    _tag: "CreateIssue",
    title,
    digest: DIGEST,
    prefix: "bd",
    town: "town-a",
    at: AT,
    actor: "alice",
    ...extra
  }) as const
