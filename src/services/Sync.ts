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
import { organizationOf, type Peer } from "../domain/Federation.js"
import type { BatchMeta } from "../domain/Batch.js"
import { type EventsUpgradedData, getIssue, IssueEventType, type IssuesState } from "../domain/IssueState.js"
import type { ConflictStrategy, SovereigntyTier } from "../domain/Settings.js"
import { forTier, type TierContext } from "../domain/Sovereignty.js"
import type { SyncState } from "../domain/SyncState.js"
import { evolveTrust, judgeKey, recordKey, type TrustState, vouchedFor } from "../domain/Trust.js"
import { type Envelope, type ForeignEvent, isShared, type NewEvent, seenOf } from "../events/Envelope.js"
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
  /** Towns whose more complete version (a lower tier's) replaced the one held. */
  readonly upgraded: ReadonlyArray<UpgradeReport>
}

export interface UpgradeReport {
  readonly town: string
  /** The tier of the version held before, and of the one held now. */
  readonly from: string
  readonly tier: string
  /** Events whose version changed. */
  readonly events: number
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

    /** Our shared events not yet in our branch of `tier`, shaped for the tier (excluded types left out). */
    const unpublishedEvents = (tier: SovereigntyTier, sync: SyncState, issues: IssuesState | undefined, pseudonym: (value: string) => string) =>
      Effect.gen(function*() {
        const tip = yield* remote.ownTip(tier)
        const lastTownSeq = Option.match(tip, { onNone: () => 0, onSome: (m) => m.last })
        const fresh = yield* Stream.runCollect(
          log.read({ fromSeq: (sync.published[tier] ?? 0) + 1 }).pipe(
            Stream.filter((event) => event.town === town && isShared(event.type) && event.townSeq > lastTownSeq)
          )
        )
        const context: TierContext = {
          tier,
          pseudonym,
          extraIdentifiers: policy.extraIdentifiers,
          excluded: (id) =>
            issues !== undefined &&
            Option.match(getIssue(issues, id), {
              onNone: () => false,
              onSome: (record) => policy.excludeTypes.includes(String(record.fields["issue_type"]))
            })
        }
        return Chunk.toReadonlyArray(fresh).flatMap((event) => {
          const shaped = forTier(event, context)
          return shaped === undefined ? [] : [shaped]
        })
      })

    /** How many events the next push at `tier` would add to our branch (status: no pseudonyms needed to count). */
    const unpublished = (tier: SovereigntyTier, sync: SyncState, issues: IssuesState | undefined) =>
      Effect.map(unpublishedEvents(tier, sync, issues, (value) => value), (events) => events.length)

    /** Put our shared events not yet in our branch of `tier` into a new batch there, shaped for the tier. */
    const publishOwn = (tier: SovereigntyTier) =>
      Effect.gen(function*() {
        // Work items are needed only to leave excluded types out.
        const loaded = yield* log.load(["sync"])
        const issues = policy.excludeTypes.length > 0 ? (yield* log.load(["issues"])).state.issues : undefined
        const events = yield* unpublishedEvents(tier, loaded.state.sync, issues, tier === "T3" ? policy.pseudonym() : (value) => value)
        if (events.length > 0) {
          yield* progress.report(`packing ${events.length} event(s) into a batch (${tier})`)
          yield* remote.publish(events, yield* now, tier, policy.organization)
        }
        return { published: events.length, upToSeq: loaded.head.seq }
      })

    /** T2 data goes only to peers of the same organization (given at add-peer, or learned from the endpoint). */
    const checkTier = (peer: Peer, tier: SovereigntyTier): Effect.Effect<void, SovereigntyViolation> => {
      if (tier !== "T2") return Effect.void
      if (policy.organization === undefined) {
        return Effect.fail(new SovereigntyViolation({ peer: peer.name, reason: "tier T2 needs federation.organization to be set" }))
      }
      const theirs = organizationOf(peer)
      return theirs === policy.organization
        ? Effect.void
        : Effect.fail(new SovereigntyViolation({
          peer: peer.name,
          reason: `tier T2 data stays in organization ${policy.organization}, and the peer's is ${
            theirs === undefined
              ? "not known (give it with add-peer --organization, or pull from the peer to learn it from the towns there)"
              : peer.organization === undefined
              ? `${theirs} (learned from the towns publishing at its endpoint)`
              : theirs
          }`
        }))
    }

    /** Relaying never widens exposure: another town's T2 batches go only to peers of that town's organization. */
    const relayable = (peer: Peer) => (_town: string, tip: BatchMeta | undefined): boolean =>
      tip === undefined || tip.tier !== "T2" || (tip.organization !== undefined && tip.organization === organizationOf(peer))

    /**
     * A peer given no organization at add-peer takes the one every town
     * publishing at its endpoint declares in its signed batches (as held here,
     * so verified); none when they differ or one declares none. Whoever reads
     * the endpoint reads what is pushed there, so that is the organization
     * that counts for T2. Recorded (PeerOrganizationLearned) when it changes.
     */
    const learnOrganization = (peer: Peer, updates: ReadonlyArray<TownUpdate>) =>
      Effect.gen(function*() {
        const towns = updates.map((update) => update.town).filter((t) => t !== town).sort()
        if (peer.organization !== undefined || towns.length === 0) return
        const declared = new Set<string | undefined>()
        for (const origin of towns) declared.add(Option.getOrUndefined(yield* remote.ingestedTip(origin))?.organization)
        const learned = declared.size === 1 ? [...declared][0] : undefined
        if (learned !== peer.learnedOrganization) {
          yield* record("PeerOrganizationLearned", { peer: peer.name, organization: learned ?? null, towns })
        }
      })

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
        const upgraded: Array<UpgradeReport> = []
        // Nothing arrived: nothing to load or fold (an incremental sync stays cheap in a big town).
        if (updates.every((u) => u.batches.length === 0)) {
          return { batches: 0, events: 0, waiting: 0, newConflicts: [] as ReadonlyArray<string>, refusals, trusted, upgraded }
        }
        let trust = (yield* log.load(["trust"])).state.trust
        // A more complete version of a branch we hold: first its versions of the events we have.
        for (const update of updates) {
          if (update.upgrade === undefined) continue
          const done = yield* upgrade(peer, update, trust)
          if (done._tag === "Refused") {
            refusals.push(done.refusal)
            queues.set(update.town, [])
          } else {
            upgraded.push(done.report)
            queues.set(update.town, done.rest)
          }
        }
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
        return { batches, events, waiting, newConflicts, refusals, trusted, upgraded }
      })

    /**
     * The versions of other towns' events one event of the log holds: the
     * event itself when it is one, the versions it brings when it upgrades
     * some. The last version of an event is the one that counts.
     */
    const versionsIn = (event: Envelope): ReadonlyArray<ForeignEvent> =>
      event.town !== town && isShared(event.type)
        ? [event]
        : event.type === IssueEventType.upgraded
        ? (event.data as EventsUpgradedData).events
        : []

    /** The version of each of a town's events this town holds now: as ingested, or as last upgraded. */
    const heldVersions = (origin: string) =>
      Stream.runFold(log.read(), new Map<string, string>(), (held, event) => {
        for (const version of versionsIn(event)) {
          if (version.town === origin) held.set(version.id, canonicalJson(publishedEvent(version)))
        }
        return held
      })

    /**
     * Take a town's more complete branch in place of the one held: record, in
     * one write, its versions of the events we have where they differ, then
     * hold its batches that end there. Its later events are ingested as usual.
     * Re-running finds nothing left to upgrade.
     */
    const upgrade = (peer: PeerTarget, update: TownUpdate, trust: TrustState) =>
      Effect.gen(function*() {
        const origin = update.town
        const { from, tier } = update.upgrade!
        for (const batch of update.batches) {
          const judged = judgeKey(trust, origin, batch.signer)
          if (judged._tag !== "Trusted") {
            const reason = judged._tag === "Refused" ? judged.reason : `its ${tier} branch is signed by a key not yet trusted for it`
            return { _tag: "Refused", refusal: new BatchRefused({ peer: peer.name, town: origin, reason }) } as const
          }
        }
        const have = seenOf((yield* log.load(["clock"])).state.clock.seen, origin)
        const held = yield* heldVersions(origin)
        const versions: Array<ForeignEvent> = []
        for (const batch of update.batches) {
          for (const event of batch.events) {
            if (event.townSeq > have) continue
            const version = publishedEvent(event)
            if (held.get(event.id) !== canonicalJson(version)) versions.push(version)
          }
        }
        if (versions.length > 0) {
          const { actor, at } = yield* meta
          const data: EventsUpgradedData = { town: origin, tier, from, events: versions }
          yield* progress.report(`${peer.name}: taking the tier ${tier} version of ${versions.length} event(s) of town ${origin}`)
          yield* log.transact(["issues"], () => Either.right({ events: [{ type: IssueEventType.upgraded, data, actor, at }], result: undefined }))
        }
        const covered = update.batches.filter((batch) => batch.meta.last <= have)
        for (const batch of covered) yield* remote.markIngested(batch)
        return {
          _tag: "Upgraded",
          report: { town: origin, from, tier, events: versions.length },
          rest: update.batches.slice(covered.length)
        } as const
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
        yield* learnOrganization(peer, updates)
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

    /** What status asks of this town once per call, whatever the number of peers. */
    interface StatusContext {
      readonly sync: SyncState
      readonly conflicts: number
      /** Our branch's total at a tier, and what the next push there would add to it. */
      readonly ours: (tier: SovereigntyTier) => Effect.Effect<{ readonly total: number; readonly pending: number }>
      /** The meta of the last batch held of another town. */
      readonly heldTip: (origin: string) => Effect.Effect<BatchMeta | undefined>
    }

    const statusOf = (peer: Peer, { conflicts, heldTip, ours, sync }: StatusContext): Effect.Effect<PeerStatus, never> =>
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
        // Ours: what our branch of the peer's tier has beyond the endpoint, and what the next push would add to it.
        const own = yield* ours(tierOf(peer))
        let ahead = Math.max(0, own.total - (tips.get(town)?.total ?? 0)) + own.pending
        let behind: number | undefined = 0
        // Theirs: the branches we hold and may relay there.
        for (const [origin, held] of Object.entries(sync.shared)) {
          if (origin === town) continue
          const there = tips.get(origin)?.total ?? 0
          if (held <= there) continue
          if (relayable(peer)(origin, yield* heldTip(origin))) ahead += held - there
        }
        for (const [origin, tip] of tips) {
          if (origin === town) continue
          if (tip === undefined) {
            behind = undefined
            continue
          }
          const held = seenOf(sync.shared, origin)
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
              // The pull may have taught us the peer's organization.
              const pulled = yield* Effect.orElseSucceed(federation.getPeer(peer.name), () => peer)
              const push = reachable ? yield* Effect.either(pushOne(pulled)) : undefined
              if (Either.isRight(pull) && push !== undefined && Either.isRight(push)) {
                yield* Effect.ignore(record("SyncCompleted", { peer: peer.name }))
              }
              return { peer: peer.name, pull, resolved, push }
            }))),
      status: (name) =>
        Effect.gen(function*() {
          const peers = yield* peersNamed(name)
          const sync = (yield* log.load(["sync"])).state.sync
          // Work items are folded only to leave excluded types out of "ahead".
          const issues = policy.excludeTypes.length > 0 ? (yield* log.load(["issues"])).state.issues : undefined
          const conflicts = (yield* log.view("conflicts")).length
          const ours = yield* Effect.cachedFunction((tier: SovereigntyTier) =>
            Effect.all({
              total: Effect.orElseSucceed(Effect.map(remote.ownTip(tier), (tip) => Option.match(tip, { onNone: () => 0, onSome: (m) => m.total })), () => 0),
              pending: Effect.orElseSucceed(unpublished(tier, sync, issues), () => 0)
            })
          )
          const heldTip = yield* Effect.cachedFunction((origin: string) =>
            Effect.orElseSucceed(Effect.map(remote.ingestedTip(origin), Option.getOrUndefined), () => undefined)
          )
          return yield* Effect.forEach(peers, (peer) => statusOf(peer, { sync, conflicts, ours, heldTip }), { concurrency: 4 })
        }),
      conflicts: log.view("conflicts"),
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
        // An event ingested in one tier's version and upgraded later is checked in its last version.
        let events = 0
        const wrong = new Map<string, { readonly seq: number; readonly reason: string }>()
        const check = (version: ForeignEvent, seq: number) => {
          const expected = signed.get(version.id)
          if (expected === canonicalJson(publishedEvent(version))) wrong.delete(version.id)
          else {
            wrong.set(version.id, {
              seq,
              reason: expected === undefined
                ? `event ${version.id} is in no signed batch this town holds`
                : `event ${version.id} differs from the signed batch it came in`
            })
          }
        }
        yield* log.read().pipe(
          Stream.runForEach((event) =>
            Effect.sync(() => {
              if (event.town !== town && isShared(event.type)) events++
              for (const version of versionsIn(event)) check(version, event.seq)
            })
          )
        )
        const first = Array.from(wrong.values()).sort((a, b) => a.seq - b.seq)[0]
        if (first !== undefined) return yield* Effect.fail(new IntegrityError({ file: "event log", line: first.seq, reason: first.reason }))
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
