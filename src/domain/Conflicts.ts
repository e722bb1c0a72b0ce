/**
 * Open conflicts and their resolution. A conflict is a field of an issue
 * with concurrent versions of different values (see IssueState.ts); its id
 * is `<issue id>/<field>`. Resolving records a shared `ConflictResolved`
 * that has seen every head, so it supersedes them in every town.
 */
import { Either, HashSet, Option } from "effect"
import type { NewEvent } from "../events/Envelope.js"
import { ConflictNotFound, InvalidArgument } from "./Errors.js"
import { compareStamps, getIssue, type Head, IssueEventType, type IssuesState } from "./IssueState.js"

export interface OpenConflict {
  readonly id: string
  readonly issue: string
  readonly field: string
  /** Concurrent versions, in base-rule order (the last one is shown while the conflict is open). */
  readonly heads: ReadonlyArray<Head>
}

const splitId = (id: string): { readonly issue: string; readonly field: string } | undefined => {
  const cut = id.lastIndexOf("/")
  return cut <= 0 || cut === id.length - 1 ? undefined : { issue: id.slice(0, cut), field: id.slice(cut + 1) }
}

export const findConflict = (state: IssuesState, id: string): Option.Option<OpenConflict> => {
  const parts = splitId(id)
  if (parts === undefined || !HashSet.has(state.conflicts, id)) return Option.none()
  return Option.flatMap(getIssue(state, parts.issue), (record) => {
    const heads = record.heads?.[parts.field]
    return heads === undefined ? Option.none() : Option.some({ id, ...parts, heads })
  })
}

export const openConflicts = (state: IssuesState): ReadonlyArray<OpenConflict> =>
  Array.from(HashSet.values(state.conflicts))
    .sort()
    .flatMap((id) => Option.toArray(findConflict(state, id)))

export type Side = "ours" | "theirs"

export type Choice =
  | { readonly _tag: "Side"; readonly side: Side }
  | { readonly _tag: "Value"; readonly value: unknown }

/**
 * "ours" is the version this town wrote, or the shown one when it wrote none;
 * "theirs" is the best version of another town that differs from ours.
 */
export const pickSide = (conflict: OpenConflict, town: string, side: Side): Head => {
  const winner = conflict.heads[conflict.heads.length - 1]!
  const mine = [...conflict.heads].reverse().find((head) => head.stamp.town === town) ?? winner
  if (side === "ours") return mine
  const others = conflict.heads.filter((head) =>
    head.stamp.town !== town && JSON.stringify(head.value) !== JSON.stringify(mine.value)
  )
  return others.sort((a, b) => compareStamps(a.stamp, b.stamp))[others.length - 1] ?? winner
}

export interface ResolveConflict {
  readonly conflict: string
  readonly choice: Choice
  /** The resolving town, for "ours" and "theirs". */
  readonly town: string
  readonly strategy: string
  readonly at: string
  readonly actor: string
}

export const decideResolve = (
  state: IssuesState,
  command: ResolveConflict
): Either.Either<ReadonlyArray<NewEvent>, ConflictNotFound | InvalidArgument> =>
  Option.match(findConflict(state, command.conflict), {
    onNone: () => Either.left(new ConflictNotFound({ id: command.conflict })),
    onSome: (conflict) => {
      const value = command.choice._tag === "Value"
        ? command.choice.value
        : pickSide(conflict, command.town, command.choice.side).value
      if (conflict.field === "title" && (typeof value !== "string" || value.trim() === "")) {
        return Either.left(new InvalidArgument({ argument: "--value", value: String(value), allowed: "a non-empty title" }))
      }
      return Either.right([{
        type: IssueEventType.conflictResolved,
        data: {
          id: conflict.issue,
          field: conflict.field,
          changes: { [conflict.field]: value === undefined ? null : value },
          resolves: conflict.heads.map((head) => head.stamp.event).sort().join(","),
          strategy: command.strategy
        },
        at: command.at,
        actor: command.actor
      }])
    }
  })
