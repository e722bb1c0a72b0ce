/**
 * The Remote service on git. The town keeps a bare shadow repository
 * (`.beads/federation/remote.git`):
 *
 *   refs/beads/own/<tier>            our branch as published at that tier:
 *                                    one commit per published batch
 *   refs/beads/towns/<other town>    the last batch of that town we ingested
 *   refs/beads/incoming/<peer>/<t>   what the last fetch from <peer> brought
 *
 * A batch commit's tree holds `events.jsonl` (canonical JSON, one event a
 * line), `meta.json` (which carries the events' hash) and `signature.json`
 * (the origin town's Ed25519 signature of the canonical meta). Pushing sends
 * our branch of the peer's tier as `refs/beads/towns/<our town>`, and relays
 * the other towns' branches we hold that the sovereignty rules allow — the
 * very objects we fetched — never forced. Fetching force-updates only the
 * incoming namespace; whether a town's branch moved forward is then checked
 * against what we ingested.
 */
import { CommandExecutor } from "@effect/platform"
import { Effect, Either, Layer, Option } from "effect"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { BATCH_VERSION, type BatchMeta, batchProblem, moreComplete, parseBatchMeta, publishedEvent } from "../domain/Batch.js"
import { BatchRefused, IntegrityError, RemoteRejected, RemoteUnreachable, StorageError } from "../domain/Errors.js"
import { canonicalJson } from "../events/Canonical.js"
import type { ForeignEvent } from "../events/Envelope.js"
import { type FetchedBatch, type PeerTarget, Remote, type RemoteApi, type TownUpdate } from "../services/Remote.js"
import { type GitFailure, gitEnvironment, gitReason, type GitResult, runGit } from "./Git.js"
import { makeSecretDir } from "./Credentials.js"
import { type TownKeys, verifySignature } from "./TownKeys.js"

export interface GitRemoteOptions {
  readonly beadsDir: string
  readonly town: string
  /** The user's environment, from which git gets what it needs (PATH, HOME, ssh and TLS settings). */
  readonly env: Readonly<Record<string, string | undefined>>
  /** Where the askpass helper lives (the town's secret directory, never `.beads/`). */
  readonly secretsDir: string
  /** The town's signing keys, made on first need. */
  readonly keys: () => TownKeys
}

const OWN_PREFIX = "refs/beads/towns/"

/**
 * Batches are machine-written JSON, large at a first sync: zlib's fastest
 * level costs a fraction of the default's time for a little more space, and
 * a fetched pack is kept as it came rather than unpacked and compressed
 * again object by object.
 */
const TUNING: ReadonlyArray<string> = ["-c", "core.compression=1", "-c", "transfer.unpackLimit=1"]
const ZERO = "0".repeat(40)

const ASKPASS = `#!/bin/sh
# bd: answers git's credential prompts from the environment of this git process only.
case "$1" in
  Username*) printf '%s\\n' "$BD_GIT_USERNAME" ;;
  *) printf '%s\\n' "$BD_GIT_PASSWORD" ;;
esac
`

const sha256 = (text: string): string => createHash("sha256").update(text, "utf8").digest("hex")

const parseSignature = (text: string): { readonly key: string; readonly sig: string } | undefined => {
  try {
    const parsed = JSON.parse(text) as { alg?: unknown; key?: unknown; sig?: unknown }
    return parsed.alg === "ed25519" && typeof parsed.key === "string" && typeof parsed.sig === "string"
      ? { key: parsed.key, sig: parsed.sig }
      : undefined
  } catch {
    return undefined
  }
}

/** The URL git is given: the endpoint as the user wrote it (git reads every accepted form). */
const gitUrl = (peer: PeerTarget): string => peer.endpoint.raw

/** The three files of a batch, byte for byte as its origin wrote them. */
export interface BatchFiles {
  readonly meta: string
  readonly events: string
  readonly signature: string
}

export interface StoredBatch {
  readonly commit: string
  readonly files: BatchFiles
}

/** The shadow repository, for another transport that moves the same batches (src/layers/DoltRemote.ts). */
export interface GitShadow {
  readonly path: string
  readonly ensure: Effect.Effect<void, StorageError>
  /** Refs under a prefix (name less the prefix -> commit). */
  readonly refs: (prefix: string) => Effect.Effect<ReadonlyMap<string, string>, StorageError>
  readonly chain: (tip: string) => Effect.Effect<ReadonlyArray<StoredBatch>, StorageError>
  /** The batch commits of a branch up to `tip`, oldest first. */
  readonly commits: (tip: string) => Effect.Effect<ReadonlyArray<string>, StorageError>
  readonly writeBatch: (files: BatchFiles, meta: BatchMeta, parent: string | undefined) => Effect.Effect<string, StorageError>
  /** Set (or, with undefined, delete) a ref, whatever it held. */
  readonly setRef: (ref: string, sha: string | undefined) => Effect.Effect<void, StorageError>
  readonly ownRef: (tier: string) => string
}

const make = (
  options: GitRemoteOptions,
  executor: CommandExecutor.CommandExecutor
): { readonly remote: RemoteApi; readonly shadow: GitShadow } => {
  const shadow = path.join(options.beadsDir, "federation", "remote.git")
  const ownRef = (tier: string) => `refs/beads/own/${tier}`
  const seenRef = (peer: PeerTarget) => `refs/beads/seen/${peer.name}`
  const baseEnv = gitEnvironment(options.env, {
    GIT_AUTHOR_NAME: "bd",
    GIT_AUTHOR_EMAIL: `bd@${options.town}`,
    GIT_COMMITTER_NAME: "bd",
    GIT_COMMITTER_EMAIL: `bd@${options.town}`
  })
  const storage = (what: string) => (error: GitFailure | Error) => new StorageError({ path: shadow, reason: `${what}: ${error.message}` })

  const git = (
    args: ReadonlyArray<string>,
    extra: { stdin?: string; env?: Record<string, string>; cwd?: string; bytes?: boolean } = {}
  ) =>
    runGit([...TUNING, ...args], {
      cwd: extra.cwd ?? shadow,
      env: { ...baseEnv, ...extra.env },
      ...(extra.stdin === undefined ? {} : { stdin: extra.stdin }),
      ...(extra.bytes === true ? { bytes: true } : {})
    }).pipe(Effect.provideService(CommandExecutor.CommandExecutor, executor))

  /** A local git call that must succeed. */
  const local = (
    args: ReadonlyArray<string>,
    stdin?: string,
    env?: Record<string, string>
  ): Effect.Effect<string, StorageError> =>
    Effect.flatMap(
      Effect.mapError(git(args, { ...(stdin === undefined ? {} : { stdin }), ...(env === undefined ? {} : { env }) }), storage(`git ${args[0]}`)),
      (result: GitResult) =>
        result.code === 0
          ? Effect.succeed(result.stdout)
          : Effect.fail(new StorageError({ path: shadow, reason: `git ${args.join(" ")}: ${gitReason(result.stderr)}` }))
    )

  /** A local git call that must succeed, its output as bytes. */
  const localBytes = (args: ReadonlyArray<string>, stdin: string): Effect.Effect<Buffer, StorageError> =>
    Effect.flatMap(
      Effect.mapError(git(args, { stdin, bytes: true }), storage(`git ${args[0]}`)),
      (result: GitResult) =>
        result.code === 0
          ? Effect.succeed(result.stdoutBytes ?? Buffer.alloc(0))
          : Effect.fail(new StorageError({ path: shadow, reason: `git ${args.join(" ")}: ${gitReason(result.stderr)}` }))
    )

  const ensureShadow = Effect.suspend(() =>
    fs.existsSync(path.join(shadow, "HEAD"))
      ? Effect.void
      : Effect.zipRight(
        Effect.try({ try: () => fs.mkdirSync(shadow, { recursive: true }), catch: (e) => storage("mkdir")(e as Error) }),
        local(["init", "--bare", "--quiet", shadow])
      )
  )

  /** Environment for a network call: credentials reach git through askpass and its env, never argv. */
  const networkEnv = (peer: PeerTarget): Effect.Effect<Record<string, string>, StorageError> =>
    peer.credentials === undefined
      ? Effect.succeed({})
      : Effect.try({
        try: () => {
          const script = path.join(options.secretsDir, "git-askpass.sh")
          if (!fs.existsSync(script)) {
            makeSecretDir(options.secretsDir)
            fs.writeFileSync(script, ASKPASS, { mode: 0o700 })
          }
          return {
            GIT_ASKPASS: script,
            BD_GIT_USERNAME: peer.credentials!.user,
            BD_GIT_PASSWORD: peer.credentials!.password
          }
        },
        catch: (error) => new StorageError({ path: options.secretsDir, reason: (error as Error).message })
      })

  /** A network call; git's failure becomes RemoteUnreachable with its reason in one line. */
  const network = (peer: PeerTarget, args: ReadonlyArray<string>) =>
    Effect.gen(function*() {
      const env = yield* networkEnv(peer)
      return yield* git(["-c", "credential.helper=", ...args], { env }).pipe(
        Effect.mapError((failure) => new RemoteUnreachable({ peer: peer.name, endpoint: peer.endpoint.raw, reason: failure.reason }))
      )
    })

  const unreachable = (peer: PeerTarget, result: GitResult) =>
    new RemoteUnreachable({ peer: peer.name, endpoint: peer.endpoint.raw, reason: gitReason(result.stderr) })

  /** A file:// endpoint is created on first push: a bare repository at that path. */
  /**
   * A file:// endpoint is created on first push. One this town used before
   * and that is gone is not silently made again: that is unreachable.
   */
  const ensureFileEndpoint = (peer: PeerTarget) =>
    peer.endpoint._tag !== "File"
      ? Effect.void
      : Effect.gen(function*() {
        const dir = peer.endpoint._tag === "File" ? peer.endpoint.path : ""
        if (fs.existsSync(dir)) return
        const asUnreachable = (reason: string) => new RemoteUnreachable({ peer: peer.name, endpoint: peer.endpoint.raw, reason })
        if (yield* Effect.mapError(usedBefore(peer), (error) => asUnreachable(error.reason))) {
          return yield* Effect.fail(asUnreachable(`${dir} no longer exists (it held branches this town fetched or pushed before)`))
        }
        yield* Effect.try({ try: () => fs.mkdirSync(dir, { recursive: true }), catch: (error) => asUnreachable((error as Error).message) })
        yield* Effect.mapError(local(["init", "--bare", "--quiet", dir]), (error) => asUnreachable(error.reason))
        // An endpoint made here keeps the packs pushed to it as they come (see TUNING).
        yield* Effect.mapError(local(["--git-dir", dir, "config", "receive.unpackLimit", "1"]), (error) => asUnreachable(error.reason))
      })

  /** Whether this town fetched branches from, or pushed to, the peer's endpoint before. */
  const usedBefore = (peer: PeerTarget) =>
    Effect.gen(function*() {
      return (yield* refs(`refs/beads/incoming/${peer.name}/`)).size > 0 || (yield* refs(seenRef(peer))).size > 0
    })

  const refs = (prefix: string): Effect.Effect<ReadonlyMap<string, string>, StorageError> =>
    Effect.map(local(["for-each-ref", "--format=%(objectname) %(refname)", prefix]), (out) => {
      const map = new Map<string, string>()
      for (const line of out.split("\n")) {
        const [sha, name] = line.split(" ")
        if (sha && name) map.set(name.slice(prefix.length), sha)
      }
      return map
    })

  /** Read blobs of several commits in one `git cat-file --batch`. */
  const readBlobs = (specs: ReadonlyArray<string>): Effect.Effect<ReadonlyArray<string | undefined>, StorageError> =>
    specs.length === 0
      ? Effect.succeed([])
      : Effect.map(localBytes(["cat-file", "--batch"], `${specs.join("\n")}\n`), (buffer) => {
        const blobs: Array<string | undefined> = []
        let at = 0
        for (let i = 0; i < specs.length; i++) {
          const eol = buffer.indexOf(0x0a, at)
          const header = buffer.toString("utf8", at, eol)
          at = eol + 1
          if (header.endsWith(" missing") || header.endsWith(" ambiguous")) {
            blobs.push(undefined)
            continue
          }
          const size = Number(header.split(" ")[2])
          blobs.push(buffer.toString("utf8", at, at + size))
          at += size + 1
        }
        return blobs
      })

  const metaOf = (commit: string): Effect.Effect<Option.Option<BatchMeta>, StorageError> =>
    Effect.map(readBlobs([`${commit}:meta.json`]), ([text]) =>
      text === undefined ? Option.none() : Either.getRight(parseBatchMeta(text)))

  const tipOf = (ref: string) =>
    Effect.flatMap(refs(ref), (found) => {
      const sha = found.get("")
      return sha === undefined ? Effect.succeed(Option.none<BatchMeta>()) : metaOf(sha)
    })

  const isAncestor = (a: string, b: string): Effect.Effect<boolean, StorageError> =>
    Effect.flatMap(Effect.mapError(git(["merge-base", "--is-ancestor", a, b]), storage("merge-base")), (result) =>
      result.code === 0 || result.code === 1
        ? Effect.succeed(result.code === 0)
        : Effect.fail(new StorageError({ path: shadow, reason: gitReason(result.stderr) })))

  /** The commits after `from` up to `to`, oldest first. */
  const commitsBetween = (from: string | undefined, to: string) =>
    Effect.map(local(["rev-list", "--reverse", "--first-parent", from === undefined ? to : `${from}..${to}`]), (out) =>
      out.split("\n").filter((line) => line !== ""))

  /**
   * A batch commit, made the one way every town makes it: the three files,
   * the parent, author and committer `bd <bd@origin>` at `publishedAt`, a
   * fixed message. So the same batch is the same commit wherever it is made
   * (a batch that came through Dolt is written back as its origin's commit).
   */
  const writeBatch = (files: BatchFiles, meta: BatchMeta, parent: string | undefined) =>
    Effect.gen(function*() {
      const eventsBlob = (yield* local(["hash-object", "-w", "--stdin"], files.events)).trim()
      const metaBlob = (yield* local(["hash-object", "-w", "--stdin"], files.meta)).trim()
      const signatureBlob = (yield* local(["hash-object", "-w", "--stdin"], files.signature)).trim()
      const tree = (yield* local(
        ["mktree"],
        `100644 blob ${eventsBlob}\tevents.jsonl\n100644 blob ${metaBlob}\tmeta.json\n100644 blob ${signatureBlob}\tsignature.json\n`
      )).trim()
      const message = `beads: batch ${meta.batch} of town ${meta.town}, events ${meta.first}..${meta.last}`
      const who = `bd@${meta.town}`
      return (yield* local(
        ["commit-tree", tree, ...(parent === undefined ? [] : ["-p", parent]), "-m", message],
        undefined,
        {
          GIT_AUTHOR_DATE: meta.publishedAt,
          GIT_COMMITTER_DATE: meta.publishedAt,
          GIT_AUTHOR_EMAIL: who,
          GIT_COMMITTER_EMAIL: who
        }
      )).trim()
    })

  /** The batches of a branch up to `tip`, oldest first, as their files are stored (not verified). */
  const chain = (tip: string): Effect.Effect<ReadonlyArray<StoredBatch>, StorageError> =>
    Effect.gen(function*() {
      const commits = yield* commitsBetween(undefined, tip)
      const blobs = yield* readBlobs(
        commits.flatMap((commit) => [`${commit}:meta.json`, `${commit}:events.jsonl`, `${commit}:signature.json`])
      )
      return commits.map((commit, i) => ({
        commit,
        files: { meta: blobs[3 * i] ?? "", events: blobs[3 * i + 1] ?? "", signature: blobs[3 * i + 2] ?? "" }
      }))
    })

  /** Read and verify the batches of one town's branch after what we ingested. */
  /** Where a branch came from, for messages: a peer, or this town's own shadow repository. */
  type Source = { readonly name: string; readonly endpoint: { readonly raw: string } }

  const townUpdate = (peer: Source, town: string, incoming: string, ingested: string | undefined): Effect.Effect<TownUpdate, StorageError> =>
    Effect.gen(function*() {
      const none = (problem: TownUpdate["problem"]): TownUpdate => ({ town, batches: [], problem })
      if (ingested === incoming) return none(undefined)
      if (ingested !== undefined && !(yield* isAncestor(ingested, incoming))) {
        if (yield* isAncestor(incoming, ingested)) return none(undefined)
        const [held, offered] = [yield* metaOf(ingested), yield* metaOf(incoming)]
        if (Option.isSome(held) && Option.isSome(offered) && held.value.tier !== offered.value.tier) {
          // Another tier's version of the same town. The fixed rule: a town holds the most complete
          // version it has received, switching to it once it is at least as long as the one held.
          if (moreComplete(offered.value.tier, held.value.tier) && offered.value.last >= held.value.last) {
            const whole = yield* townUpdate(peer, town, incoming, undefined)
            // Switch whole or not at all: a version partly taken would leave events in neither.
            if (whole.problem !== undefined) return { ...whole, batches: [] }
            return { ...whole, upgrade: { from: held.value.tier, tier: offered.value.tier } }
          }
          const why = moreComplete(offered.value.tier, held.value.tier)
            ? `until it reaches event ${held.value.last}`
            : "which is more complete"
          return {
            ...none(undefined),
            note: `peer ${peer.name} has town ${town} at tier ${offered.value.tier}; this town keeps the tier ${held.value.tier} version it holds, ${why}`
          }
        }
        return none(new IntegrityError({
          file: `${peer.endpoint.raw} ${OWN_PREFIX}${town}`,
          line: 0,
          reason: `the branch of town ${town} was rewritten at peer ${peer.name} (not a fast-forward of what was fetched before); nothing of it was ingested`
        }))
      }
      const commits = yield* commitsBetween(ingested, incoming)
      let previous = ingested === undefined ? undefined : Option.getOrUndefined(yield* metaOf(ingested))
      const blobs = yield* readBlobs(
        commits.flatMap((commit) => [`${commit}:meta.json`, `${commit}:events.jsonl`, `${commit}:signature.json`])
      )
      const batches: Array<FetchedBatch> = []
      for (let i = 0; i < commits.length; i++) {
        const commit = commits[i]!
        const refuse = (reason: string): TownUpdate => ({
          town,
          batches,
          problem: new BatchRefused({ peer: peer.name, town, reason: `batch ${commit.slice(0, 12)}: ${reason}` })
        })
        const metaText = blobs[3 * i]
        const eventsText = blobs[3 * i + 1]
        const signatureText = blobs[3 * i + 2]
        if (metaText === undefined || eventsText === undefined) return refuse("the commit lacks meta.json or events.jsonl")
        if (signatureText === undefined) return refuse("the batch is not signed")
        const meta = parseBatchMeta(metaText)
        if (Either.isLeft(meta)) return refuse(meta.left)
        const signature = parseSignature(signatureText)
        if (signature === undefined || !verifySignature(signature.key, canonicalJson(meta.right), signature.sig)) {
          return refuse("its signature does not verify")
        }
        if (sha256(eventsText) !== meta.right.eventsHash) return refuse("events.jsonl does not match the hash in meta.json")
        let events: Array<ForeignEvent>
        try {
          events = eventsText.split("\n").filter((line) => line !== "").map((line) => JSON.parse(line) as ForeignEvent)
        } catch (error) {
          return refuse(`events.jsonl is not JSONL (${(error as Error).message})`)
        }
        const problem = batchProblem(town, meta.right, events, previous)
        if (problem !== undefined) return refuse(problem)
        batches.push({ town, commit, meta: meta.right, events, signer: signature.key })
        previous = meta.right
      }
      return { town, batches, problem: undefined }
    })

  const remote: RemoteApi = {
    ownTip: (tier) => Effect.zipRight(ensureShadow, tipOf(ownRef(tier))),

    publish: (events, at, tier, organization) =>
      Effect.gen(function*() {
        yield* ensureShadow
        const parent = (yield* refs(ownRef(tier))).get("")
        const previous = parent === undefined ? undefined : Option.getOrUndefined(yield* metaOf(parent))
        const text = events.map((event) => canonicalJson(publishedEvent(event))).join("\n") + "\n"
        // At T4 even the publication time is cut to the day, in the meta and the commit alike.
        const publishedAt = tier === "T4" ? `${at.slice(0, 10)}T00:00:00Z` : at
        const meta: BatchMeta = {
          version: BATCH_VERSION,
          town: options.town,
          batch: (previous?.batch ?? 0) + 1,
          first: events[0]!.townSeq,
          last: events[events.length - 1]!.townSeq,
          count: events.length,
          total: (previous?.total ?? 0) + events.length,
          eventsHash: sha256(text),
          publishedAt,
          tier,
          ...(organization === undefined ? {} : { organization })
        }
        const keys = yield* Effect.try({
          try: options.keys,
          catch: (error) => new StorageError({ path: options.secretsDir, reason: `cannot read the town's keys: ${(error as Error).message}` })
        })
        const signature = { alg: "ed25519", key: keys.publicKey, sig: keys.sign(canonicalJson(meta)) }
        const commit = yield* writeBatch(
          { events: text, meta: `${JSON.stringify(meta, null, 2)}\n`, signature: `${JSON.stringify(signature, null, 2)}\n` },
          meta,
          parent
        )
        yield* local(["update-ref", ownRef(tier), commit, parent ?? ZERO])
        return meta
      }),

    fetch: (peer) =>
      Effect.gen(function*() {
        yield* ensureShadow
        // A file:// endpoint is created by the first push: until then it is empty, not unreachable.
        // One this town has fetched branches from before has been deleted: that is unreachable.
        if (peer.endpoint._tag === "File" && !fs.existsSync(peer.endpoint.path)) {
          if (!(yield* usedBefore(peer))) return
          return yield* Effect.fail(new RemoteUnreachable({
            peer: peer.name,
            endpoint: peer.endpoint.raw,
            reason: `${peer.endpoint.path} no longer exists (it held branches this town fetched or pushed before)`
          }))
        }
        const result = yield* network(peer, [
          "fetch", "--no-tags", "--prune", "--quiet", gitUrl(peer), `+${OWN_PREFIX}*:refs/beads/incoming/${peer.name}/*`
        ])
        if (result.code !== 0) return yield* Effect.fail(unreachable(peer, result))
      }),

    incoming: (peer) =>
      Effect.gen(function*() {
        const arrived = yield* refs(`refs/beads/incoming/${peer.name}/`)
        const ingested = yield* refs(OWN_PREFIX)
        const updates: Array<TownUpdate> = []
        for (const [town, sha] of arrived) {
          if (town === options.town) {
            const own = (yield* refs(ownRef(peer.tier))).get("")
            // Our own branch, as the endpoint has it, must be a part of ours.
            if (own === undefined) {
              // The shadow repository was lost: our branch is what the endpoint holds.
              yield* local(["update-ref", ownRef(peer.tier), sha, ZERO])
            } else if (own !== sha && !(yield* isAncestor(sha, own))) {
              updates.push({
                town,
                batches: [],
                problem: new IntegrityError({
                  file: `${peer.endpoint.raw} ${OWN_PREFIX}${town}`,
                  line: 0,
                  reason: `our own branch was rewritten at peer ${peer.name}`
                })
              })
            }
            continue
          }
          updates.push(yield* townUpdate(peer, town, sha, ingested.get(town)))
        }
        return updates
      }),

    markIngested: (batch) =>
      Effect.gen(function*() {
        const ref = `${OWN_PREFIX}${batch.town}`
        const current = (yield* refs(ref)).get("")
        if (current === batch.commit) return
        yield* local(["update-ref", ref, batch.commit, current ?? ZERO])
      }),

    push: (peer, relay) =>
      Effect.gen(function*() {
        yield* ensureShadow
        yield* ensureFileEndpoint(peer)
        const asUnreachable = (error: StorageError) =>
          new RemoteUnreachable({ peer: peer.name, endpoint: peer.endpoint.raw, reason: error.reason })
        const own = (yield* Effect.mapError(refs(ownRef(peer.tier)), asUnreachable)).get("")
        const held = yield* Effect.mapError(refs(OWN_PREFIX), asUnreachable)
        const refspecs: Array<string> = own === undefined ? [] : [`${ownRef(peer.tier)}:${OWN_PREFIX}${options.town}`]
        for (const [town, sha] of held) {
          if (town === options.town) continue
          const tip = Option.getOrUndefined(yield* Effect.mapError(metaOf(sha), asUnreachable))
          if (relay(town, tip)) refspecs.push(`${OWN_PREFIX}${town}:${OWN_PREFIX}${town}`)
        }
        if (refspecs.length === 0) return { updated: [], peerAhead: [] }
        const result = yield* network(peer, ["push", "--porcelain", gitUrl(peer), ...refspecs])
        const updated: Array<string> = []
        const peerAhead: Array<string> = []
        let reported = false
        for (const line of result.stdout.split("\n")) {
          const match = /^(.)\t[^:]*:(\S+)\t(.*)$/.exec(line)
          if (match === null) continue
          reported = true
          const [, flag, to, summary] = match
          const town = to!.slice(OWN_PREFIX.length)
          if (flag === " " || flag === "*" || flag === "+") updated.push(town)
          else if (flag === "!") {
            if (town === options.town) {
              return yield* Effect.fail(new RemoteRejected({ peer: peer.name, endpoint: peer.endpoint.raw, reason: `branch of this town: ${summary}` }))
            }
            peerAhead.push(town)
          }
        }
        if (result.code !== 0 && !reported) return yield* Effect.fail(unreachable(peer, result))
        if (result.code !== 0 && peerAhead.length === 0) {
          return yield* Effect.fail(new RemoteRejected({ peer: peer.name, endpoint: peer.endpoint.raw, reason: gitReason(result.stderr) }))
        }
        // Remember that this endpoint existed, so that its disappearance is an error, not "not created yet".
        if (own !== undefined) yield* Effect.ignore(local(["update-ref", seenRef(peer), own]))
        return { updated, peerAhead }
      }),

    probe: (peer) =>
      Effect.gen(function*() {
        yield* Effect.mapError(ensureShadow, (error) =>
          new RemoteUnreachable({ peer: peer.name, endpoint: peer.endpoint.raw, reason: error.reason }))
        if (peer.endpoint._tag === "File" && !fs.existsSync(peer.endpoint.path)) {
          return yield* Effect.fail(new RemoteUnreachable({
            peer: peer.name,
            endpoint: peer.endpoint.raw,
            reason: "the endpoint does not exist yet (the first push creates it)"
          }))
        }
        const result = yield* network(peer, ["ls-remote", gitUrl(peer), `${OWN_PREFIX}*`])
        if (result.code !== 0) return yield* Effect.fail(unreachable(peer, result))
        const tips = new Map<string, BatchMeta | undefined>()
        for (const line of result.stdout.split("\n")) {
          const [sha, name] = line.split("\t")
          if (!sha || !name?.startsWith(OWN_PREFIX)) continue
          const known = yield* Effect.orElseSucceed(metaOf(sha), () => Option.none<BatchMeta>())
          tips.set(name.slice(OWN_PREFIX.length), Option.getOrUndefined(known))
        }
        return tips
      }),

    ingestedTip: (town) => Effect.zipRight(ensureShadow, tipOf(`${OWN_PREFIX}${town}`)),

    verifyHeld: Effect.gen(function*() {
      if (!fs.existsSync(path.join(shadow, "HEAD"))) return []
      const held = yield* refs(OWN_PREFIX)
      const source = { name: "this town", endpoint: { raw: shadow } }
      const updates: Array<TownUpdate> = []
      for (const [town, sha] of held) {
        if (town !== options.town) updates.push(yield* townUpdate(source, town, sha, undefined))
      }
      return updates
    })
  }

  const shadowApi: GitShadow = {
    path: shadow,
    ensure: ensureShadow,
    refs,
    chain,
    commits: (tip) => commitsBetween(undefined, tip),
    writeBatch,
    setRef: (ref, sha) =>
      Effect.asVoid(sha === undefined ? local(["update-ref", "-d", ref]) : local(["update-ref", ref, sha])),
    ownRef
  }
  return { remote, shadow: shadowApi }
}

export const GitRemoteLive = (options: GitRemoteOptions): Layer.Layer<Remote, never, CommandExecutor.CommandExecutor> =>
  Layer.effect(Remote, Effect.map(CommandExecutor.CommandExecutor, (executor) => make(options, executor).remote))

/** The git Remote and its shadow repository, for a transport that keeps its batches there too (the Dolt one). */
export const makeGitRemote = make
