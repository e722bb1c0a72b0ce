/**
 * How signed batches sit in a Dolt database (pure): one table, `bd_batches`,
 * one row per batch holding the three files of the batch byte for byte as
 * its origin wrote them, and the id of the git commit those files make
 * (src/layers/GitRemote.ts `writeBatch`); one Dolt commit per row. A town's
 * branch at a Dolt endpoint is the Dolt branch `beads/towns/<townId>`,
 * exactly as a git endpoint has `refs/beads/towns/<townId>`.
 */
import { Either } from "effect"
import { type BatchMeta, parseBatchMeta } from "../domain/Batch.js"
import type { BatchFiles } from "./GitRemote.js"

export const BATCHES_TABLE = "bd_batches"

/** Only this table is ever in a town branch: the branch starts from the database's empty first commit. */
export const CREATE_BATCHES_TABLE = `CREATE TABLE IF NOT EXISTS ${BATCHES_TABLE} (
  batch INT NOT NULL PRIMARY KEY,
  town VARCHAR(64) NOT NULL,
  commit_id CHAR(40) NOT NULL,
  meta LONGTEXT NOT NULL,
  events LONGTEXT NOT NULL,
  signature LONGTEXT NOT NULL
)`

const TOWNS = "beads/towns/"

/** The branch of a town, at an endpoint. */
export const townBranch = (town: string): string => `${TOWNS}${town}`

/**
 * The local branch a push builds for one town and one peer, pushed as
 * `townBranch(town)`. Remade for every push from what the endpoint has,
 * so it holds nothing of the town's projection.
 */
export const outgoingBranch = (peer: string, town: string): string => `beads/out/${peer}/${town}`

/** `dolt_remote_branches` names a fetched branch `remotes/<remote>/<branch>`. */
export const townOfRemoteBranch = (remote: string, name: string): string | undefined => {
  const prefix = `remotes/${remote}/${TOWNS}`
  const town = name.startsWith(prefix) ? name.slice(prefix.length) : ""
  return /^[0-9a-f]{16}$/.test(town) ? town : undefined
}

export const commitMessage = (meta: BatchMeta): string =>
  `beads: batch ${meta.batch} of town ${meta.town}, events ${meta.first}..${meta.last}`

/** The author of a batch's Dolt commit, as Dolt's `--author` takes it. */
export const commitAuthor = (meta: BatchMeta): string => `bd <bd@${meta.town}>`

export interface BatchRow {
  readonly batch: number
  readonly town: string
  /** The git commit id the files make: how a batch is compared without reading it. */
  readonly commit: string
  readonly files: BatchFiles
}

/** The row of a stored batch. */
export const rowOf = (commit: string, files: BatchFiles): Either.Either<BatchRow, string> =>
  Either.map(parseBatchMeta(files.meta), (meta) => ({ batch: meta.batch, town: meta.town, commit, files }))

/** The values of an INSERT into `bd_batches`, in column order. */
export const rowValues = (row: BatchRow): ReadonlyArray<string | number> =>
  [row.batch, row.town, row.commit, row.files.meta, row.files.events, row.files.signature]

export const INSERT_BATCH =
  `INSERT INTO ${BATCHES_TABLE} (batch, town, commit_id, meta, events, signature) VALUES (?, ?, ?, ?, ?, ?)`

const text = (value: unknown): string | undefined =>
  typeof value === "string" ? value : Buffer.isBuffer(value) ? value.toString("utf8") : undefined

/** A row as the server returns it; anything malformed is a reason, not a row. */
export const decodeRow = (raw: Readonly<Record<string, unknown>>): Either.Either<BatchRow, string> => {
  const batch = Number(raw["batch"])
  const [town, commit, meta, events, signature] = ["town", "commit_id", "meta", "events", "signature"].map((k) => text(raw[k]))
  if (!Number.isInteger(batch) || batch < 1) return Either.left(`a row has batch number ${String(raw["batch"])}`)
  if (town === undefined || commit === undefined || meta === undefined || events === undefined || signature === undefined) {
    return Either.left(`row of batch ${batch} lacks a column`)
  }
  if (!/^[0-9a-f]{40}$/.test(commit)) return Either.left(`row of batch ${batch} has commit id ${JSON.stringify(commit)}`)
  return Either.right({ batch, town, commit, files: { meta, events, signature } })
}

/**
 * What the endpoint's branch of a town is to ours, by batch commit ids
 * (oldest first): the same, behind by some batches (a fast-forward sends
 * the rest), ahead of ours, or another history.
 */
export type Comparison =
  | { readonly _tag: "Same" }
  | { readonly _tag: "Behind"; readonly have: number }
  | { readonly _tag: "Ahead" }
  | { readonly _tag: "Diverged"; readonly at: number }

export const compareBranches = (ours: ReadonlyArray<string>, theirs: ReadonlyArray<string>): Comparison => {
  const common = Math.min(ours.length, theirs.length)
  for (let i = 0; i < common; i++) {
    if (ours[i] !== theirs[i]) return { _tag: "Diverged", at: i + 1 }
  }
  if (ours.length === theirs.length) return { _tag: "Same" }
  return ours.length > theirs.length ? { _tag: "Behind", have: theirs.length } : { _tag: "Ahead" }
}

/** Batch numbers run 1, 2, 3… in a branch; a gap or a repeat means the rows are not a branch of batches. */
export const rowsProblem = (rows: ReadonlyArray<BatchRow>): string | undefined => {
  for (let i = 0; i < rows.length; i++) {
    if (rows[i]!.batch !== i + 1) return `batch ${rows[i]!.batch} where ${i + 1} was expected`
  }
  return undefined
}
