/** A point in the log named by an auditor: a local seq, an event id, or a time. */
import { Either } from "effect"
import { InvalidArgument } from "./Errors.js"

export type LogPoint =
  | { readonly _tag: "Seq"; readonly seq: number }
  | { readonly _tag: "EventId"; readonly id: string }
  | { readonly _tag: "Time"; readonly at: string; readonly ms: number }

const ALLOWED = "a sequence number, an event id (TOWN:N) or an RFC 3339 time"

export const parseLogPoint = (what: string, text: string): Either.Either<LogPoint, InvalidArgument> => {
  const trimmed = text.trim()
  if (/^\d+$/.test(trimmed)) return Either.right({ _tag: "Seq", seq: Number(trimmed) })
  if (/^[0-9a-z]+:\d+$/.test(trimmed)) return Either.right({ _tag: "EventId", id: trimmed })
  const ms = Date.parse(trimmed)
  if (/^\d{4}-\d{2}-\d{2}/.test(trimmed) && !Number.isNaN(ms)) return Either.right({ _tag: "Time", at: trimmed, ms })
  return Either.left(new InvalidArgument({ argument: what, value: text, allowed: ALLOWED }))
}
