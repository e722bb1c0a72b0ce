/**
 * Moving signed batches through a Dolt SQL server (`dolt.url`): the Dolt
 * transport of the Remote service. The batches themselves stay where the
 * git Remote keeps them, in the town's shadow repository, so that a town
 * has one branch of its own per tier and one held branch per other town,
 * whichever engines its peers use. This module only carries them:
 *
 * - push: for our branch (and every other town's branch we may relay),
 *   compare it with the endpoint's copy as last fetched; build a local Dolt
 *   branch `beads/out/<peer>/<town>` from that copy (or from another
 *   endpoint's copy, so relays send the very Dolt commits fetched, or from
 *   the database's empty first commit), one Dolt commit per missing batch
 *   in `bd_batches`, and `CALL DOLT_PUSH(peer, 'beads/out/<peer>/<town>:beads/towns/<town>')`,
 *   never forced;
 * - fetch: `CALL DOLT_FETCH(peer)`, then read each fetched
 *   `remotes/<peer>/beads/towns/<town>` with `AS OF`, and write its batches
 *   back into the shadow repository as the git commits their origin made
 *   (`refs/beads/incoming/<peer>/<town>`), where the git Remote's checks
 *   (fast-forward, signature, `batchProblem`) judge them as any fetched batch.
 *
 * Written to Dolt's documented procedures (DOLT_REMOTE, DOLT_FETCH,
 * DOLT_PUSH, DOLT_BRANCH, DOLT_CHECKOUT, DOLT_COMMIT; `dolt_remotes`,
 * `dolt_remote_branches`, `dolt_log`, `AS OF`). No Dolt server runs where bd
 * is built: the texts Dolt refuses with are matched loosely (UNCONFIRMED),
 * and test/dolt/DoltRemote.contract.test.ts is the check against a real one.
 */
import { SqlClient } from "@effect/sql"
import { SqlError } from "@effect/sql/SqlError"
import { Duration, Effect, Either, Option, Ref } from "effect"
import * as fs from "node:fs"
import { type BatchMeta, parseBatchMeta } from "../domain/Batch.js"
import { BatchRefused, DoltBackendRequired, RemoteRejected, RemoteUnreachable, StorageError } from "../domain/Errors.js"
import type { PeerTarget, PushReport, RemoteApi, TownUpdate, TransportError } from "../services/Remote.js"
import {
  type BatchRow,
  BATCHES_TABLE,
  commitAuthor,
  commitMessage,
  compareBranches,
  CREATE_BATCHES_TABLE,
  decodeRow,
  INSERT_BATCH,
  outgoingBranch,
  rowOf,
  rowsProblem,
  rowValues,
  townBranch,
  townOfRemoteBranch
} from "./DoltBatches.js"
import { type DoltTarget, DoltSqlLive, type DoltUnavailable, serverErrno, serverMessage } from "./DoltSql.js"
import { doltRemoteUrl } from "./DoltVersioning.js"
import type { GitShadow, StoredBatch } from "./GitRemote.js"

/** Transfers may outlast an ordinary statement by far (git's calls get the same). */
const TRANSFER_TIMEOUT = Duration.seconds(120)

const TOWNS_PREFIX = "refs/beads/towns/"
const incomingRef = (peer: string, town: string) => `refs/beads/incoming/${peer}/${town}`

// UNCONFIRMED texts: how Dolt words a push that is not a fast-forward.
const NOT_FAST_FORWARD = /fast.?forward|rejected|behind|diverge|non-ff|out of date/i

/** The engine-specific part of the Remote service, on Dolt (the rest works on the shadow repository). */
export interface DoltTransport extends Pick<RemoteApi, "fetch" | "push" | "probe"> {
  /** Towns whose rows at the peer, as last fetched, do not make a branch of batches: why. */
  readonly fetchProblems: (peer: PeerTarget) => Effect.Effect<ReadonlyArray<TownUpdate>>
}

type Rows = ReadonlyArray<Readonly<Record<string, unknown>>>

/** One pinned connection: Dolt's procedures act on the session's branch. */
interface Session {
  /** A statement, within the query timeout of the configuration (or `timeout`, for transfers). */
  readonly query: (sql: string, params?: ReadonlyArray<unknown>, timeout?: Duration.Duration) => Effect.Effect<Rows, SqlError>
}

/** A CALL answers a result set wrapped in an outer array; a plain statement answers rows or nothing. */
const rowsOf = (result: ReadonlyArray<unknown>): Rows =>
  (Array.isArray(result[0]) ? result[0] : result) as Rows

export const makeDoltTransport = (target: DoltTarget, town: string, shadow: GitShadow): Effect.Effect<DoltTransport> =>
  Effect.gen(function*() {
    const problems = yield* Ref.make(new Map<string, ReadonlyArray<TownUpdate>>())

    const unreachable = (peer: PeerTarget, what: string) => (error: SqlError | { readonly message: string }) =>
      new RemoteUnreachable({
        peer: peer.name,
        endpoint: peer.endpoint.raw,
        reason: `${what} through the Dolt server at ${target.url}: ${
          "_tag" in error && error._tag === "SqlError" ? serverMessage(error as SqlError) : error.message
        }`
      })

    /** MariaDB and MySQL hold the read model; only Dolt can push and fetch. */
    const requireDolt = (peer: PeerTarget, session: Session): Effect.Effect<void, RemoteUnreachable | DoltBackendRequired> =>
      session.query("SELECT dolt_version() AS version").pipe(
        Effect.asVoid,
        Effect.catchAll((error): Effect.Effect<void, RemoteUnreachable | DoltBackendRequired> =>
          serverErrno(error) === undefined
            ? Effect.fail(unreachable(peer, "ask the server's kind")(error))
            : Effect.fail(new DoltBackendRequired({
              backend: "",
              reason: `peer ${peer.name} (${peer.endpoint.raw}) moves its batches through Dolt, and the SQL server at ${target.url} is not a Dolt server (it refused dolt_version(): ${serverMessage(error)})`,
              advice: "point dolt.url at a Dolt sql-server (MariaDB and MySQL keep the read model only), or give the peer a git endpoint (file://, ssh://, https://, git@host:path)"
            })))
      )

    /** Run `use` on one reserved connection of a pool opened for it and closed after it. */
    const withSession = <A, E>(
      peer: PeerTarget,
      use: (session: Session) => Effect.Effect<A, E>
    ): Effect.Effect<A, E | RemoteUnreachable | DoltBackendRequired> =>
      Effect.scoped(Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const connection = yield* Effect.mapError(sql.reserve, unreachable(peer, "connect"))
        const session: Session = {
          query: (text, params = [], timeout = Duration.millis(target.queryTimeoutMs)) =>
            Effect.map(connection.executeUnprepared(text, params, undefined), rowsOf).pipe(
              Effect.timeoutFail({
                duration: timeout,
                onTimeout: () => new SqlError({ cause: undefined, message: `no answer within ${Duration.format(timeout)}` })
              })
            )
        }
        yield* requireDolt(peer, session)
        return yield* use(session)
      })).pipe(
        Effect.provide(DoltSqlLive(target)),
        Effect.catchIf(
          (error): error is DoltUnavailable => (error as { readonly _tag?: unknown })._tag === "DoltUnavailable",
          (error) => Effect.fail(unreachable(peer, "connect")(error))
        )
      )

    /** The peer as a Dolt remote named after it, at the URL its endpoint maps to (re-pointed if it moved). */
    const ensureRemote = (peer: PeerTarget, session: Session) =>
      Effect.gen(function*() {
        const url = doltRemoteUrl(peer.endpoint.raw)
        const listed = yield* session.query("SELECT url FROM dolt_remotes WHERE name = ?", [peer.name])
        const current = listed[0]?.["url"]
        if (current === url) return
        if (current !== undefined) yield* session.query("CALL DOLT_REMOTE('remove', ?)", [peer.name])
        yield* session.query("CALL DOLT_REMOTE('add', ?, ?)", [peer.name, url])
      }).pipe(Effect.mapError(unreachable(peer, "register the Dolt remote")))

    /** `--user` for a remotesapi endpoint; the password can only come from the server's DOLT_REMOTE_PASSWORD. */
    const userArgs = (peer: PeerTarget): ReadonlyArray<string> =>
      peer.credentials === undefined ? [] : ["--user", peer.credentials.user]

    /** DOLT_FETCH / DOLT_PUSH: a long timeout of their own; a status other than 0 is a refusal. */
    const transfer = (session: Session, call: string, args: ReadonlyArray<string>) =>
      Effect.flatMap(session.query(call, args, TRANSFER_TIMEOUT), (rows) => {
        const status = rows[0]?.["status"]
        return status === undefined || Number(status) === 0
          ? Effect.succeed(rows)
          : Effect.fail({ _tag: "Status", message: String(rows[0]?.["message"] ?? `status ${String(status)}`) } as const)
      })

    const fetchAll = (peer: PeerTarget, session: Session) =>
      Effect.mapError(
        transfer(session, `CALL DOLT_FETCH(${placeholders(userArgs(peer).length + 1)})`, [...userArgs(peer), peer.name]),
        unreachable(peer, "fetch")
      )

    /** The fetched town branches of every remote: remote -> town -> Dolt commit. */
    const remoteBranches = (peer: PeerTarget, session: Session) =>
      Effect.map(
        Effect.mapError(session.query("SELECT name, hash FROM dolt_remote_branches"), unreachable(peer, "list fetched branches")),
        (rows) => {
          const found = new Map<string, Map<string, string>>()
          for (const row of rows) {
            const name = String(row["name"] ?? "")
            const remote = /^remotes\/([^/]+)\//.exec(name)?.[1]
            const owner = remote === undefined ? undefined : townOfRemoteBranch(remote, name)
            if (remote === undefined || owner === undefined) continue
            const byTown = found.get(remote) ?? new Map<string, string>()
            byTown.set(owner, String(row["hash"]))
            found.set(remote, byTown)
          }
          return found
        }
      )

    const idsAt = (peer: PeerTarget, session: Session, commit: string) =>
      Effect.map(
        Effect.mapError(
          session.query(`SELECT batch, commit_id FROM ${BATCHES_TABLE} AS OF ? ORDER BY batch`, [commit]),
          unreachable(peer, `read the batches of Dolt commit ${commit}`)
        ),
        (rows) => rows.map((row) => String(row["commit_id"]))
      )

    const rowsAt = (peer: PeerTarget, session: Session, commit: string, after: number) =>
      Effect.mapError(
        session.query(
          `SELECT batch, town, commit_id, meta, events, signature FROM ${BATCHES_TABLE} AS OF ? WHERE batch > ? ORDER BY batch`,
          [commit, after]
        ),
        unreachable(peer, `read the batches of Dolt commit ${commit}`)
      )

    /**
     * Write the endpoint's branch of `owner` into the shadow repository as
     * `refs/beads/incoming/<peer>/<owner>`: batches already there (same
     * commit ids) are kept, the rest written as their origin's git commits.
     * A row whose files do not make the commit it names stops the branch there.
     */
    const bringIn = (peer: PeerTarget, session: Session, owner: string, doltCommit: string) =>
      Effect.gen(function*() {
        const ref = incomingRef(peer.name, owner)
        const present = (yield* shadow.refs(ref)).get("")
        const have = present === undefined ? [] : yield* shadow.commits(present)
        const ids = yield* idsAt(peer, session, doltCommit)
        let kept = 0
        while (kept < have.length && kept < ids.length && have[kept] === ids[kept]) kept++
        const rows = yield* rowsAt(peer, session, doltCommit, kept)
        let parent = kept === 0 ? undefined : have[kept - 1]
        let problem: string | undefined
        const decoded: Array<BatchRow> = []
        for (const raw of rows) {
          const row = decodeRow(raw)
          if (Either.isLeft(row)) {
            problem = row.left
            break
          }
          decoded.push(row.right)
        }
        problem ??= rowsProblem([...ids.slice(0, kept).map((_, i) => ({ batch: i + 1 }) as BatchRow), ...decoded])
        for (const row of decoded) {
          if (problem !== undefined) break
          const meta = parseBatchMeta(row.files.meta)
          if (Either.isLeft(meta)) {
            problem = `batch ${row.batch}: ${meta.left}`
            break
          }
          const commit = yield* shadow.writeBatch(row.files, meta.right, parent)
          if (commit !== row.commit) {
            problem = `batch ${row.batch}: its files make commit ${commit.slice(0, 12)}, not the ${row.commit.slice(0, 12)} its row names`
            break
          }
          parent = commit
        }
        if (parent !== present) yield* shadow.setRef(ref, parent)
        return problem === undefined
          ? undefined
          : { town: owner, batches: [], problem: new BatchRefused({ peer: peer.name, town: owner, reason: problem }) }
      })

    const fetch = (peer: PeerTarget): Effect.Effect<void, TransportError> =>
      withSession(peer, (session) =>
        Effect.gen(function*() {
          yield* shadow.ensure
          yield* ensureRemote(peer, session)
          yield* fetchAll(peer, session)
          const branches = (yield* remoteBranches(peer, session)).get(peer.name) ?? new Map<string, string>()
          const found: Array<TownUpdate> = []
          for (const [owner, commit] of branches) {
            const problem = yield* bringIn(peer, session, owner, commit)
            if (problem !== undefined) found.push(problem)
          }
          // As git's --prune: a branch gone from the endpoint is gone from the incoming namespace.
          for (const owner of (yield* shadow.refs(`refs/beads/incoming/${peer.name}/`)).keys()) {
            if (!branches.has(owner)) yield* shadow.setRef(incomingRef(peer.name, owner), undefined)
          }
          yield* Ref.update(problems, (map) => new Map(map).set(peer.name, found))
        }))

    /**
     * A file:// endpoint is a directory the Dolt server writes its chunk store
     * in; it is made on first push, as the git Remote makes its bare repository
     * (whether Dolt makes it itself is UNCONFIRMED). On this machine only: a
     * server elsewhere needs the directory on its own.
     */
    const ensureFileEndpoint = (peer: PeerTarget) =>
      peer.endpoint._tag !== "File"
        ? Effect.void
        : Effect.try({
          try: () => {
            if (peer.endpoint._tag === "File") fs.mkdirSync(peer.endpoint.path, { recursive: true })
          },
          catch: (error) => unreachable(peer, "create the file:// endpoint")(error as Error)
        })

    /** The empty first commit of the database: where a town branch with no copy anywhere starts. */
    const firstCommit = (peer: PeerTarget, session: Session) =>
      Effect.flatMap(
        Effect.mapError(
          session.query("SELECT commit_hash FROM dolt_log ORDER BY date ASC, commit_hash ASC LIMIT 1"),
          unreachable(peer, "read dolt_log")
        ),
        (rows) => {
          const hash = rows[0]?.["commit_hash"]
          return hash === undefined
            ? Effect.fail(new StorageError({ path: target.url, reason: "the database has no commit to start a branch from" }))
            : Effect.succeed(String(hash))
        }
      )

    /**
     * Make `outgoing` = `base` plus one Dolt commit per batch of `missing`.
     * The session goes back to the branch it was on.
     */
    const buildBranch = (
      peer: PeerTarget,
      session: Session,
      outgoing: string,
      base: string,
      fresh: boolean,
      missing: ReadonlyArray<StoredBatch>
    ) =>
      Effect.gen(function*() {
        const active = String((yield* session.query("SELECT active_branch() AS branch"))[0]?.["branch"] ?? "main")
        const exists = yield* session.query("SELECT name FROM dolt_branches WHERE name = ?", [outgoing])
        if (exists.length > 0) yield* session.query("CALL DOLT_BRANCH('-D', ?)", [outgoing])
        yield* session.query("CALL DOLT_BRANCH(?, ?)", [outgoing, base])
        yield* session.query("CALL DOLT_CHECKOUT(?)", [outgoing])
        const written = Effect.gen(function*() {
          if (fresh) {
            const tables = (yield* session.query("SHOW TABLES")).map((row) => String(Object.values(row)[0]))
            if (tables.length > 0) {
              return yield* Effect.fail(new StorageError({
                path: target.url,
                reason: `the first commit of the database holds tables (${tables.join(", ")}); a town branch must start empty, so that it carries only batches`
              }))
            }
            yield* session.query(CREATE_BATCHES_TABLE)
          }
          for (const batch of missing) {
            const row = rowOf(batch.commit, batch.files)
            if (Either.isLeft(row)) return yield* Effect.fail(new StorageError({ path: shadow.path, reason: row.left }))
            const meta = Either.getOrThrow(parseBatchMeta(batch.files.meta))
            yield* session.query(INSERT_BATCH, [...rowValues(row.right)])
            yield* session.query("CALL DOLT_COMMIT('-Am', ?, '--author', ?)", [commitMessage(meta), commitAuthor(meta)])
          }
        })
        yield* Effect.ensuring(written, Effect.ignore(session.query("CALL DOLT_CHECKOUT(?)", [active])))
      }).pipe(Effect.catchTag("SqlError", (error) => Effect.fail(unreachable(peer, `build branch ${outgoing}`)(error))))

    const push = (
      peer: PeerTarget,
      relay: (town: string, tip: BatchMeta | undefined) => boolean
    ): Effect.Effect<PushReport, TransportError | RemoteRejected> =>
      withSession(peer, (session) =>
        Effect.gen(function*() {
          yield* shadow.ensure
          yield* ensureFileEndpoint(peer)
          yield* ensureRemote(peer, session)
          // An endpoint not created yet cannot be fetched; the push itself tells whether it is reachable.
          yield* Effect.ignore(fetchAll(peer, session))
          const fetched = yield* remoteBranches(peer, session)
          const atPeer = fetched.get(peer.name) ?? new Map<string, string>()
          const outgoing: Array<{ readonly owner: string; readonly batches: ReadonlyArray<StoredBatch> }> = []
          const own = (yield* shadow.refs(shadow.ownRef(peer.tier))).get("")
          if (own !== undefined) outgoing.push({ owner: town, batches: yield* shadow.chain(own) })
          for (const [owner, tip] of yield* shadow.refs(TOWNS_PREFIX)) {
            if (owner === town) continue
            const batches = yield* shadow.chain(tip)
            const last = batches[batches.length - 1]
            const meta = last === undefined ? undefined : Option.getOrUndefined(Either.getRight(parseBatchMeta(last.files.meta)))
            if (relay(owner, meta)) outgoing.push({ owner, batches })
          }
          const updated: Array<string> = []
          const peerAhead: Array<string> = []
          for (const { batches, owner } of outgoing) {
            const ours = batches.map((batch) => batch.commit)
            const there = atPeer.get(owner)
            const theirs = there === undefined ? [] : yield* idsAt(peer, session, there)
            const comparison = compareBranches(ours, theirs)
            if (comparison._tag === "Same") continue
            if (comparison._tag !== "Behind") {
              if (owner !== town) {
                peerAhead.push(owner)
                continue
              }
              return yield* Effect.fail(new RemoteRejected({
                peer: peer.name,
                endpoint: peer.endpoint.raw,
                reason: comparison._tag === "Ahead"
                  ? "branch of this town: the endpoint holds batches of this town that this town does not"
                  : `branch of this town: the endpoint's differs from batch ${comparison.at} on (rewritten)`
              }))
            }
            const base = there !== undefined
              ? { commit: there, have: comparison.have }
              : yield* relayBase(peer, session, fetched, owner, ours)
            const fresh = base === undefined
            const start = base ?? { commit: yield* firstCommit(peer, session), have: 0 }
            const branch = outgoingBranch(peer.name, owner)
            yield* buildBranch(peer, session, branch, start.commit, fresh, batches.slice(start.have))
            const sent = yield* Effect.either(transfer(session, `CALL DOLT_PUSH(${placeholders(userArgs(peer).length + 2)})`, [
              ...userArgs(peer),
              peer.name,
              `${branch}:${townBranch(owner)}`
            ]))
            yield* Effect.ignore(session.query("CALL DOLT_BRANCH('-D', ?)", [branch]))
            if (Either.isRight(sent)) {
              updated.push(owner)
              continue
            }
            const reason = sent.left._tag === "Status" ? sent.left.message : serverMessage(sent.left)
            if (sent.left._tag === "SqlError" && serverErrno(sent.left) === undefined) {
              return yield* Effect.fail(unreachable(peer, "push")(sent.left))
            }
            if (!NOT_FAST_FORWARD.test(reason)) return yield* Effect.fail(unreachable(peer, "push")({ message: reason }))
            if (owner === town) {
              return yield* Effect.fail(new RemoteRejected({ peer: peer.name, endpoint: peer.endpoint.raw, reason: `branch of this town: ${reason}` }))
            }
            peerAhead.push(owner)
          }
          return { updated, peerAhead }
        }))

    /** Another endpoint's copy of a town's branch that ours continues: relaying sends those very Dolt commits. */
    const relayBase = (
      peer: PeerTarget,
      session: Session,
      fetched: ReadonlyMap<string, ReadonlyMap<string, string>>,
      owner: string,
      ours: ReadonlyArray<string>
    ) =>
      Effect.gen(function*() {
        let best: { readonly commit: string; readonly have: number } | undefined
        for (const [remote, byTown] of fetched) {
          const commit = byTown.get(owner)
          if (remote === peer.name || commit === undefined) continue
          const ids = yield* idsAt(peer, session, commit)
          const comparison = compareBranches(ours, ids)
          const have = comparison._tag === "Same" ? ids.length : comparison._tag === "Behind" ? comparison.have : -1
          if (have > 0 && (best === undefined || have > best.have)) best = { commit, have }
        }
        return best
      })

    const probe = (peer: PeerTarget) =>
      withSession(peer, (session) =>
        Effect.gen(function*() {
          yield* ensureRemote(peer, session)
          yield* fetchAll(peer, session)
          const tips = new Map<string, BatchMeta | undefined>()
          const branches = (yield* remoteBranches(peer, session)).get(peer.name) ?? new Map<string, string>()
          for (const [owner, commit] of branches) {
            const rows = yield* Effect.mapError(
              session.query(`SELECT meta FROM ${BATCHES_TABLE} AS OF ? ORDER BY batch DESC LIMIT 1`, [commit]),
              unreachable(peer, "read a branch tip")
            )
            const text = rows[0]?.["meta"]
            tips.set(owner, typeof text === "string" ? Option.getOrUndefined(Either.getRight(parseBatchMeta(text))) : undefined)
          }
          return tips as ReadonlyMap<string, BatchMeta | undefined>
        }))

    return {
      fetch,
      push,
      probe,
      fetchProblems: (peer) => Effect.map(Ref.get(problems), (map) => map.get(peer.name) ?? [])
    }
  })

const placeholders = (n: number): string => Array.from({ length: n }, () => "?").join(", ")
