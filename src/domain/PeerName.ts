/**
 * The name a town gives a peer (`bd federation add-peer NAME ENDPOINT`).
 * Rules from the seed ("Peer Name Rules"): starts with a letter; only ASCII
 * letters, digits, '-' and '_'; not a name git already gives a meaning to.
 */
import { type Brand, Either, Schema } from "effect"
import { InvalidPeerName } from "./Errors.js"

export type PeerName = string & Brand.Brand<"PeerName">

export const PEER_NAME_MAX_LENGTH = 64

/** Compared lower-cased: on case-insensitive file systems `Origin` and `origin` are the same ref. */
const RESERVED = new Set(["origin", "main", "master", "head"])

/** Shows an offending character so that invisible ones can still be read. */
const showCharacter = (char: string): string =>
  char === " " || !/[\p{C}\p{Z}]/u.test(char)
    ? `'${char}'`
    : `U+${(char.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, "0")}`

/** Why `text` is not a peer name, or `undefined` when it is one. */
const peerNameProblem = (text: string): string | undefined => {
  if (text.length === 0) return "is empty"
  if (!/^[A-Za-z]/.test(text)) return "must start with a letter"
  const bad = /[^A-Za-z0-9_-]/u.exec(text)
  if (bad !== null) return `may contain only letters, digits, '-' and '_' (found ${showCharacter(bad[0])})`
  if (text.length > PEER_NAME_MAX_LENGTH) {
    return `is longer than ${PEER_NAME_MAX_LENGTH} characters (found ${text.length})`
  }
  if (RESERVED.has(text.toLowerCase())) return "is reserved"
  return undefined
}

export const parsePeerName = (text: string): Either.Either<PeerName, InvalidPeerName> => {
  const reason = peerNameProblem(text)
  return reason === undefined
    ? Either.right(text as PeerName)
    : Either.left(new InvalidPeerName({ name: text, reason }))
}

/** For names read back from stored data: the same rules as `parsePeerName`. */
export const PeerNameSchema = Schema.String.pipe(
  Schema.filter((text) => peerNameProblem(text) ?? true, { identifier: "PeerName" }),
  Schema.brand("PeerName")
)
