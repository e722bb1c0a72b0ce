/**
 * The Sync service: per peer, fetch and ingest (pull), publish and send
 * (push), resolve, and report. Ingestion is causal and all-or-nothing per
 * batch; re-running any of it is a no-op, since events are ingested by id.
 * Operational events (PushStarted, PullCompleted, …) stay in this town.
 */
import { Chunk, Context, Effect, Either, HashSet, Layer, Option, Stream } from "effect"
import { missingDependency, publishedEvent } from "../domain/Batch.js"
import { canonicalJson } from "../events/Canonical.js"
import { type Choice, decideResolve, findConflict, type OpenConflict, openConflicts } from "../domain/Conflicts.js"
import { type Endpoint, endpointEngine, parseEndpoint } from "../domain/Endpoint.js"
import {
  BatchRefused,
  ConflictNotFound,
  type CredentialsError,
  type DoltBackendRequired,
  IntegrityError,
  type InvalidArgument,
  type InvalidEndpoint,
  type PeerNotFound,
  type RemoteRejected,
  type RemoteUnreachable,
  SovereigntyViolation,
  type StorageError
} from "../domain/Errors.js"
import type { Peer } from "../domain/Federation.js"
import type { BatchMeta } from "../domain/Batch.js"
import { getIssue } from "../domain/IssueState.js"
import type { ConflictStrategy, SovereigntyTier } from "../domain/Settings.js"
import { forTier, type TierContext } from "../domain/Sovereignty.js"
import type { SyncState } from "../domain/SyncState.js"
import { evolveTrust, judgeKey, recordKey, vouchedFor } from "../domain/Trust.js"
import { type ForeignEvent, isShared, type NewEvent } from "../events/Envelope.js"
import { EventLog, type LogError } from "../events/EventLog.js"
import { Credentials } from "../layers/Credentials.js"
import type { FederationOff } from "./Federation.js"
import { Federation } from "./Federation.js"
import { type FetchedBatch, type PeerTarget, Remote, type TownUpdate } from "./Remote.js"
import { Progress } from "./Progress.js"
import { commandMeta, now, Session } from "./Session.js"

export type PeerFailure =
  | RemoteUnreachable
  | RemoteRejected
  | IntegrityError
  | BatchRefused
  | StorageError
  | DoltBackendRequired
  | InvalidEndpoint
  | SovereigntyViolation
  | CredentialsError
  | LogError

export interface PullReport {
  readonly peer: string
  readonly batches: number
  readonly events: number
  /** Batches waiting for events of other towns that have not arrived yet. */
  readonly waiting: number
  readonly newConflicts: ReadonlyArray<string>
  /** Towns whose branch at the peer could not be ingested, and why. */
  readonly refused: ReadonlyArray<{ readonly town: string; readonly reason: string }>
  /** Things worth telling that are not failures (another tier's version of a branch we hold). */
  readonly notes: ReadonlyArray<string>
  /** Keys recorded for towns seen for the first time (trust on first use, or pinned). */
  readonly trusted: ReadonlyArray<{ readonly town: string; readonly key: string; readonly how: string }>
}

export interface PushResult {
  readonly peer: string
  readonly published: number
  readonly updated: ReadonlyArray<string>
  readonly peerAhead: ReadonlyArray<string>
}

export interface PeerOutcome<A> {
  readonly peer: string
  readonly result: Either.Either<A, PeerFailure>
}

export interface SyncOutcome {
  readonly peer: string
  readonly pull: Either.Either<PullReport, PeerFailure>
  readonly resolved: number
  readonly push: Either.Either<PushResult, PeerFailure> | undefined
}

export interface PeerStatus {
  readonly peer: string
  readonly endpoint: string
  readonly sovereignty: string
  readonly reachable: boolean
  readonly reason: string | undefined
  /** Our events (own and relayed) the endpoint does not have yet; undefined when unreachable. */
  readonly ahead: number | undefined
  /** Events at the endpoint we have not ingested; undefined when unknown (fetch to count). */
  readonly behind: number | undefined
  readonly lastSync: string | undefined
  readonly lastError: string | undefined
  readonly conflicts: number
}

export interface IngestedReport {
  readonly events: number
  readonly batches: number
  readonly towns: number
}

type SyncError = PeerNotFound | FederationOff | LogError | InvalidArgument

export interface SyncApi {
  readonly push: (peer: string | undefined) => Effect.Effect<ReadonlyArray<PeerOutcome<PushResult>>, SyncError>
  readonly pull: (peer: string | undefined) => Effect.Effect<ReadonlyArray<PeerOutcome<PullReport>>, SyncError>
  readonly sync: (
    peer: string | undefined,
    strategy: ConflictStrategy | undefined
  ) => Effect.Effect<ReadonlyArray<SyncOutcome>, SyncError>
  readonly status: (peer: string | undefined) => Effect.Effect<ReadonlyArray<PeerStatus>, SyncError>
  readonly conflicts: Effect.Effect<ReadonlyArray<OpenConflict>, LogError>
  /**
   * Every event ingested from other towns, checked against the signed
   * batches held for them: signature, trusted key, and the very same content.
   */
  readonly verifyIngested: Effect.Effect<IngestedReport, IntegrityError | BatchRefused | LogError>
  readonly resolve: (id: string, choice: Choice, strategy: string) => Effect.Effect<OpenConflict, ConflictNotFound | InvalidArgument | LogError>
}

export class Sync extends Context.Tag("beads/Sync")<Sync, SyncApi>() {}

const messageOf = (error: { readonly message: string }): string => error.message

/** What a town publishes, and how: from its configuration and keys. */
export interface PublishPolicy {
  /** federation.sovereignty: the tier of peers that have none of their own. */
  readonly defaultTier: SovereigntyTier | undefined
  /** federation.organization. */
  readonly organization: string | undefined
  /** federation.exclude_types. */
  readonly excludeTypes: ReadonlyArray<string>
  /** Extra fields that name people, pseudonymised (T3) or removed (T4) like assignee. */
  readonly extraIdentifiers: ReadonlyArray<string>
  /** The town's keyed pseudonym function (made on first use). */
  readonly pseudonym: () => (value: string) => string
}

export const SyncLive = (
  policy: PublishPolicy
): Layer.Layer<Sync, never, EventLog | Remote | Federation | Credentials | Session | Progress> =>
  Layer.effect(
  Sync,
  Effect.gen(function*() {
    const log = yield* EventLog
    const remote = yield* Remote
    const federation = yield* Federation
    const credentials = yield* Credentials
    const session = yield* Session
    const progress = yield* Progress
    const meta = Effect.provideService(commandMeta, Session, session)
    const town = log.town

    /** Append local operational events (never published). */
    const record = (type: string, data: unknown) =>
      Effect.flatMap(meta, ({ actor, at }) =>
        log.transact([], () => Either.right({ events: [{ type, data, actor, at }], result: undefined })))

    const peersNamed = (name: string | undefined) =>
      name === undefined ? federation.listPeers : Effect.map(federation.getPeer(name), (peer) => [peer])

    const target = (peer: Peer): Effect.Effect<PeerTarget, PeerFailure> =>
      Effect.gen(function*() {
        const endpoint: Endpoint = yield* parseEndpoint(peer.endpoint)
        const stored = yield* credentials.lookup(peer.name)
        // Which engine carries the peer is the Remote layer's business (src/layers/RoutedRemote.ts).
        return {
          name: peer.name,
          endpoint,
          credentials: Option.getOrUndefined(stored),
          tier: tierOf(peer),
          engine: peer.via ?? endpointEngine(endpoint)
        }
      })

    const tierOf = (peer: Peer): SovereigntyTier => peer.sovereignty ?? policy.defaultTier ?? "T1"

    /** Put our shared events not yet in our branch of `tier` into a new batch there, shaped for the tier. */
    const publishOwn = (tier: SovereigntyTier) =>
      Effect.gen(function*() {
        // Work items are needed only to leave excluded types out.
        const loaded = yield* log.load(["sync"])
        const issues = policy.excludeTypes.length > 0 ? (yield* log.load(["issues"])).state.issues : undefined
        const tip = yield* remote.ownTip(tier)
        const lastTownSeq = Option.match(tip, { onNone: () => 0, onSome: (m) => m.last })
        const fresh = yield* Stream.runCollect(
          log.read({ fromSeq: (loaded.state.sync.published[tier] ?? 0) + 1 }).pipe(
            Stream.filter((event) => event.town === town && isShared(event.type) && event.townSeq > lastTownSeq)
          )
        )
        const context: TierContext = {
          tier,
          pseudonym: tier === "T3" ? policy.pseudonym() : (value) => value,
          extraIdentifiers: policy.extraIdentifiers,
          excluded: (id) =>
            issues !== undefined &&
            Option.match(getIssue(issues, id), {
              onNone: () => false,
              onSome: (record) => policy.excludeTypes.includes(String(record.fields["issue_type"]))
            })
        }
        const events = Chunk.toReadonlyArray(fresh).flatMap((event) => {
          const shaped = forTier(event, context)
          return shaped === undefined ? [] : [shaped]
        })
        if (events.length > 0) {
          yield* progress.report(`packing ${events.length} event(s) into a batch (${tier})`)
          yield* remote.publish(events, yield* now, tier, policy.organization)
        }
        return { published: events.length, upToSeq: loaded.head.seq }
      })

    /** T2 data goes only to peers of the same organization. */
    const checkTier = (peer: Peer, tier: SovereigntyTier): Effect.Effect<void, SovereigntyViolation> => {
      if (tier !== "T2") return Effect.void
      if (policy.organization === undefined) {
        return Effect.fail(new SovereigntyViolation({ peer: peer.name, reason: "tier T2 needs federation.organization to be set" }))
      }
      return peer.organization === policy.organization
        ? Effect.void
        : Effect.fail(new SovereigntyViolation({
          peer: peer.name,
          reason: `tier T2 data stays in organization ${policy.organization}, and the peer's is ${peer.organization ?? "not known"}`
        }))
    }

    /** Relaying never widens exposure: another town's T2 batches go only to peers of that town's organization. */
    const relayable = (peer: Peer) => (_town: string, tip: BatchMeta | undefined): boolean =>
      tip === undefined || tip.tier !== "T2" || (tip.organization !== undefined && tip.organization === peer.organization)

    const pushOne = (peer: Peer): Effect.Effect<PushResult, PeerFailure> =>
      Effect.gen(function*() {
        const peerTarget = yield* target(peer)
        yield* checkTier(peer, peerTarget.tier)
        yield* record("PushStarted", { peer: peer.name })
        // A town that lost its shadow repository first takes its branch back from the endpoint,
        // so that what it publishes continues that branch instead of starting another.
        if (Option.isNone(yield* remote.ownTip(peerTarget.tier))) {
          yield* remote.fetch(peerTarget)
          yield* remote.incoming(peerTarget)
        }
        const published = yield* publishOwn(peerTarget.tier)
        yield* progress.report(`${peer.name}: sending to ${peer.endpoint}`)
        const report = yield* remote.push(peerTarget, relayable(peer))
        yield* record("PushCompleted", {
          peer: peer.name,
          tier: peerTarget.tier,
          publishedSeq: published.upToSeq,
          updated: report.updated,
          peerAhead: report.peerAhead
        })
        return { peer: peer.name, published: published.published, ...report }
      }).pipe(Effect.tapError((error) => Effect.ignore(record("PushFailed", { peer: peer.name, message: messageOf(error) }))))

    /**
     * Ingest what is ready, batch by batch in causal order, each batch whole
     * or not at all. A batch is ready when its signer is trusted for its town
     * (a first key is recorded, in the same write) and every event it had
     * seen is here.
     */
    const ingest = (peer: PeerTarget, updates: ReadonlyArray<TownUpdate>) =>
      Effect.gen(function*() {
        const queues = new Map<string, Array<FetchedBatch>>(updates.map((u) => [u.town, [...u.batches]]))
        const refusals: Array<BatchRefused> = []
        const trusted: Array<{ readonly town: string; readonly key: string; readonly how: string }> = []
        // Nothing arrived: nothing to load or fold (an incremental sync stays cheap in a big town).
        if (updates.every((u) => u.batches.length === 0)) {
          return { batches: 0, events: 0, waiting: 0, newConflicts: [] as ReadonlyArray<string>, refusals, trusted }
        }
        let trust = (yield* log.load(["trust"])).state.trust
        let conflictsBefore: HashSet.HashSet<string> | undefined
        let conflictsAfter: HashSet.HashSet<string> | undefined
        const { actor, at } = yield* meta
        let batches = 0
        let events = 0
        for (;;) {
          const loaded = yield* log.load(["clock"])
          const known: Record<string, number> = { ...loaded.state.clock.seen }
          const ready: Array<FetchedBatch> = []
          const foreign: Array<ForeignEvent> = []
          const recorded: Array<NewEvent> = []
          // One round: every town's next batches whose signer and dependencies are good, in order.
          let advanced = true
          while (advanced) {
            advanced = false
            for (const [origin, queue] of queues) {
              const batch = queue[0]
              if (batch === undefined) continue
              const judged = judgeKey(trust, origin, batch.signer)
              if (judged._tag === "Refused") {
                refusals.push(new BatchRefused({ peer: peer.name, town: origin, reason: judged.reason }))
                queues.set(origin, [])
                continue
              }
              const missing = batch.events.find((e) => (known[e.town] ?? 0) < e.townSeq && missingDependency(e, known, town) !== undefined)
              if (missing !== undefined) continue
              if (judged._tag === "Record") {
                const event = recordKey(origin, batch.signer, judged.how, { at, actor })
                recorded.push(event)
                trust = evolveTrust(trust, { ...event, seq: 0, id: "", town, townSeq: 0, lamport: 0, seen: {}, prev: "", hash: "" })
                trusted.push({ town: origin, key: batch.signer, how: judged.how })
              }
              for (const event of batch.events) {
                if ((known[event.town] ?? 0) >= event.townSeq) continue
                foreign.push(event)
                known[event.town] = event.townSeq
              }
              ready.push(batch)
              queue.shift()
              advanced = true
            }
          }
          if (ready.length === 0) break
          yield* progress.report(`${peer.name}: ingesting ${foreign.length} event(s) from ${ready.length} batch(es)`)
          const committed = yield* log.transact(["issues"], (state) => {
            // Under the lock: drop what another process ingested meanwhile.
            conflictsBefore ??= state.issues.conflicts
            const have = state.clock.seen
            const fresh = foreign.filter((event) => (have[event.town] ?? 0) < event.townSeq)
            return Either.right({ events: recorded, foreign: fresh, result: fresh.length })
          })
          conflictsAfter = committed.state.issues.conflicts
          for (const batch of ready) yield* remote.markIngested(batch)
          batches += ready.length
          events += committed.result
        }
        const newConflicts = conflictsBefore === undefined || conflictsAfter === undefined
          ? []
          : Array.from(HashSet.values(HashSet.difference(conflictsAfter, conflictsBefore))).sort()
        if (newConflicts.length > 0) yield* record("ConflictDetected", { peer: peer.name, conflicts: newConflicts })
        const waiting = Array.from(queues.values()).reduce((n, queue) => n + queue.length, 0)
        return { batches, events, waiting, newConflicts, refusals, trusted }
      })

    const pullOne = (peer: Peer): Effect.Effect<PullReport, PeerFailure> =>
      Effect.gen(function*() {
        const peerTarget = yield* target(peer)
        yield* record("PullStarted", { peer: peer.name })
        yield* progress.report(`${peer.name}: fetching from ${peer.endpoint}`)
        yield* remote.fetch(peerTarget)
        const updates = yield* remote.incoming(peerTarget)
        const received = updates.reduce((n, u) => n + u.batches.reduce((m, b) => m + b.events.length, 0), 0)
        if (received > 0) yield* progress.report(`${peer.name}: received ${received} event(s)`)
        const { refusals, trusted, ...result } = yield* ingest(peerTarget, updates)
        const problems = [...updates.flatMap((u) => (u.problem === undefined ? [] : [u.problem])), ...refusals]
        const refused = problems.map((problem) => ({ town: "town" in problem ? problem.town : "", reason: problem.message }))
        yield* record("PullCompleted", { peer: peer.name, batches: result.batches, events: result.events, refused })
        const problem = problems[0]
        if (problem !== undefined) return yield* Effect.fail(problem)
        const notes = updates.flatMap((u) => (u.note === undefined ? [] : [u.note]))
        return { peer: peer.name, ...result, refused, trusted, notes }
      }).pipe(Effect.tapError((error) => Effect.ignore(record("PullFailed", { peer: peer.name, message: messageOf(error) }))))

    const resolveAll = (strategy: ConflictStrategy) =>
      Effect.flatMap(meta, ({ actor, at }) =>
        Effect.map(
          log.transact(["issues"], (state) => {
            const events: Array<NewEvent> = []
            for (const conflict of openConflicts(state.issues)) {
              const decided = decideResolve(state.issues, {
                conflict: conflict.id,
                choice: { _tag: "Side", side: strategy },
                town,
                strategy,
                at,
                actor
              })
              if (Either.isRight(decided)) events.push(...decided.right)
            }
            return Either.right({ events, result: events.length })
          }),
          (committed) => committed.result
        ))

    const each = <A>(peers: ReadonlyArray<Peer>, run: (peer: Peer) => Effect.Effect<A, PeerFailure>) =>
      Effect.forEach(peers, (peer) => Effect.map(Effect.either(run(peer)), (result) => ({ peer: peer.name, result })))

    const statusOf = (peer: Peer, sync: SyncState, conflicts: number): Effect.Effect<PeerStatus, never> =>
      Effect.gen(function*() {
        const info = sync.peers[peer.name]
        const base = {
          peer: peer.name,
          endpoint: peer.endpoint,
          sovereignty: tierOf(peer),
          lastSync: info?.lastSyncAt ?? info?.lastPullAt,
          lastError: info?.lastError === undefined ? undefined : `${info.lastError.operation} at ${info.lastError.at}: ${info.lastError.message}`,
          conflicts
        }
        const probed = yield* Effect.either(Effect.flatMap(target(peer), (t) => remote.probe(t)))
        if (Either.isLeft(probed)) return { ...base, reachable: false, reason: probed.left.message, ahead: undefined, behind: undefined }
        const tips = probed.right
        let ahead = 0
        let behind: number | undefined = 0
        for (const [origin, held] of Object.entries(sync.shared)) {
          const there = tips.get(origin)?.total ?? 0
          if (held > there) ahead += held - there
        }
        for (const [origin, tip] of tips) {
          if (origin === town) continue
          if (tip === undefined) {
            behind = undefined
            continue
          }
          const held = sync.shared[origin] ?? 0
          if (behind !== undefined && tip.total > held) behind += tip.total - held
        }
        return { ...base, reachable: true, reason: undefined, ahead, behind }
      })

    return Sync.of({
      push: (name) => Effect.flatMap(peersNamed(name), (peers) => each(peers, pushOne)),
      pull: (name) => Effect.flatMap(peersNamed(name), (peers) => each(peers, pullOne)),
      sync: (name, strategy) =>
        Effect.flatMap(peersNamed(name), (peers) =>
          Effect.forEach(peers, (peer) =>
            Effect.gen(function*() {
              const pull = yield* Effect.either(pullOne(peer))
              const resolved = strategy === undefined ? 0 : yield* Effect.orElseSucceed(resolveAll(strategy), () => 0)
              // A peer we could not reach is not pushed to; one whose branch of some town is bad still is.
              const reachable = Either.isRight(pull) || pull.left._tag !== "RemoteUnreachable"
              const push = reachable ? yield* Effect.either(pushOne(peer)) : undefined
              if (Either.isRight(pull) && push !== undefined && Either.isRight(push)) {
                yield* Effect.ignore(record("SyncCompleted", { peer: peer.name }))
              }
              return { peer: peer.name, pull, resolved, push }
            }))),
      status: (name) =>
        Effect.gen(function*() {
          const peers = yield* peersNamed(name)
          const loaded = yield* log.load(["sync", "issues"])
          const conflicts = HashSet.size(loaded.state.issues.conflicts)
          return yield* Effect.forEach(peers, (peer) => statusOf(peer, loaded.state.sync, conflicts), { concurrency: 4 })
        }),
      conflicts: Effect.map(log.load(["issues"]), (loaded) => openConflicts(loaded.state.issues)),
      verifyIngested: Effect.gen(function*() {
        const updates = yield* Effect.mapError(remote.verifyHeld, (error) =>
          new IntegrityError({ file: error.path, line: 0, reason: error.reason }))
        const trust = (yield* log.load(["trust"])).state.trust
        const signed = new Map<string, string>()
        let batches = 0
        for (const update of updates) {
          if (update.problem !== undefined) return yield* Effect.fail(update.problem)
          for (const batch of update.batches) {
            if (!vouchedFor(trust, update.town, batch.signer)) {
              return yield* Effect.fail(new BatchRefused({
                peer: "this town",
                town: update.town,
                reason: `a batch held for it is signed with a key the trust store does not accept for it (…${batch.signer.slice(-16)})`
              }))
            }
            batches++
            for (const event of batch.events) signed.set(event.id, canonicalJson(publishedEvent(event)))
          }
        }
        let events = 0
        yield* log.read().pipe(
          Stream.filter((event) => event.town !== town && isShared(event.type)),
          Stream.runForEach((event) =>
            Effect.suspend(() => {
              events++
              const expected = signed.get(event.id)
              return expected === canonicalJson(publishedEvent(event))
                ? Effect.void
                : Effect.fail(new IntegrityError({
                  file: "event log",
                  line: event.seq,
                  reason: expected === undefined
                    ? `event ${event.id} is in no signed batch this town holds`
                    : `event ${event.id} differs from the signed batch it came in`
                }))
            })
          )
        )
        return { events, batches, towns: updates.length }
      }),
      resolve: (id, choice, strategy) =>
        Effect.gen(function*() {
          const { actor, at } = yield* meta
          const committed = yield* log.transact(["issues"], (state) =>
            Either.flatMap(
              Either.fromOption(findConflict(state.issues, id), () => new ConflictNotFound({ id })),
              (conflict) =>
                Either.map(
                  decideResolve(state.issues, { conflict: id, choice, town, strategy, at, actor }),
                  (events) => ({ events, result: conflict })
                )
            ))
          return committed.result
        })
    })
  })
)
