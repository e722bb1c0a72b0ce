/**
 * Convergence (DESIGN.md, "Conflicts and convergence"): towns that end up
 * with the same events end up in the same state, whatever the order the
 * events arrived in. Real event logs and real git endpoints (bare
 * repositories behind file:// URLs), run in this process on the library.
 *
 * The property: 3 to 5 towns, 1 to 3 endpoints (each town a peer of some of
 * them, the whole connected), a random schedule of edits, pushes, pulls,
 * syncs and endpoint outages (unreachable: operations fail and are retried
 * later; or vanished: towns carry on with a fresh endpoint until the old
 * copy comes back); then every endpoint comes back and every town
 * syncs with every peer, round after round, until a round changes nothing.
 * Then every town's `bd export` is byte-identical, and so are the open
 * conflicts and the shared events held; every log verifies. One town then
 * resolves what is left with `--strategy ours`, and after more rounds no
 * conflict is left anywhere and the exports are identical again.
 *
 * Replay one schedule: CONVERGENCE_SEED=<seed> npx vitest run test/federation/Convergence.test.ts
 * Time budget of the random part: CONVERGENCE_BUDGET_MS (default 100000); schedules run
 * CONVERGENCE_WORKERS (default 2) at a time.
 */
import { describe, expect, it } from "@effect/vitest"
import { Cause, Effect, Either, FastCheck as fc } from "effect"
import type { ConflictStrategy } from "../../src/domain/Settings.js"
import { Issues, type UpdateInput } from "../../src/services/Issues.js"
import { type PeerFailure, type PullReport, Sync } from "../../src/services/Sync.js"
import {
  addPeer,
  bringUp,
  endpointRefs,
  firstDifference,
  type GitEndpoint,
  inTown,
  type InProcessTown,
  knownIds,
  makeEndpoint,
  makeWorld,
  observe,
  type Observation,
  openTown,
  removeWorld,
  takeDown,
  type Outage,
  type World
} from "./inProcessTown.js"

// ---- schedules -------------------------------------------------------------

type Change =
  | { readonly field: "title"; readonly value: string }
  | { readonly field: "priority"; readonly value: number }
  | { readonly field: "status"; readonly value: string }
  | { readonly field: "assignee"; readonly value: string }
  | { readonly field: "labels"; readonly add: ReadonlyArray<string>; readonly remove: ReadonlyArray<string> }

/** Towns, peers, endpoints and issues are indices, taken modulo what exists when the step runs. */
type Step =
  | { readonly _tag: "create"; readonly town: number; readonly title: string }
  | { readonly _tag: "update"; readonly town: number; readonly issue: number; readonly change: Change }
  | { readonly _tag: "close"; readonly town: number; readonly issue: number }
  | { readonly _tag: "reopen"; readonly town: number; readonly issue: number }
  | { readonly _tag: "push"; readonly town: number; readonly peer: number }
  | { readonly _tag: "pull"; readonly town: number; readonly peer: number }
  | { readonly _tag: "sync"; readonly town: number; readonly peer: number; readonly strategy: ConflictStrategy | undefined }
  | { readonly _tag: "outage"; readonly endpoint: number; readonly steps: number; readonly outage: Outage }

interface Plan {
  readonly towns: number
  readonly endpoints: number
  /** Per town, the endpoints it is a peer of (non-empty; the graph is connected). */
  readonly membership: ReadonlyArray<ReadonlyArray<number>>
  /** Endpoints that exist before the first push (the others are created by it). */
  readonly precreated: ReadonlyArray<boolean>
  /** Per town, how far its clock is off, in ms. */
  readonly skews: ReadonlyArray<number>
  /** Issues the first town writes and one round of syncs spreads before the steps, so that edits meet. */
  readonly shared: number
  readonly steps: ReadonlyArray<Step>
  /** How conflicts still open at the end are resolved: by one town, or by two at once. */
  readonly rivalResolutions: boolean
}

const TITLES = ["fix the build", "write the docs", "ship it", "Ünïcode ✓ title", "refactor sync", "tidy up"]
const LABELS = ["bug", "ui", "p0", "later"]

const changeArb: fc.Arbitrary<Change> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ field: fc.constant("title" as const), value: fc.constantFrom(...TITLES) }) },
  { weight: 2, arbitrary: fc.record({ field: fc.constant("priority" as const), value: fc.integer({ min: 0, max: 4 }) }) },
  {
    weight: 2,
    arbitrary: fc.record({ field: fc.constant("status" as const), value: fc.constantFrom("open", "in_progress", "blocked", "closed") })
  },
  { weight: 1, arbitrary: fc.record({ field: fc.constant("assignee" as const), value: fc.constantFrom("alice", "bob", "") }) },
  {
    weight: 1,
    arbitrary: fc.record({
      field: fc.constant("labels" as const),
      add: fc.subarray(LABELS, { maxLength: 2 }),
      remove: fc.subarray(LABELS, { maxLength: 1 })
    })
  }
)

const index = fc.nat({ max: 1000 })
/** Issues are picked among the first few a town knows (sorted by id), so towns often edit the same one. */
const issueIndex = fc.nat({ max: 2 })

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  { weight: 2, arbitrary: fc.record({ _tag: fc.constant("create" as const), town: index, title: fc.constantFrom(...TITLES) }) },
  { weight: 6, arbitrary: fc.record({ _tag: fc.constant("update" as const), town: index, issue: issueIndex, change: changeArb }) },
  { weight: 1, arbitrary: fc.record({ _tag: fc.constant("close" as const), town: index, issue: issueIndex }) },
  { weight: 1, arbitrary: fc.record({ _tag: fc.constant("reopen" as const), town: index, issue: issueIndex }) },
  { weight: 2, arbitrary: fc.record({ _tag: fc.constant("push" as const), town: index, peer: index }) },
  { weight: 2, arbitrary: fc.record({ _tag: fc.constant("pull" as const), town: index, peer: index }) },
  {
    weight: 5,
    arbitrary: fc.record({
      _tag: fc.constant("sync" as const),
      town: index,
      peer: index,
      strategy: fc.constantFrom<ConflictStrategy | undefined>(undefined, undefined, "ours", "theirs")
    })
  },
  {
    weight: 2,
    arbitrary: fc.record({
      _tag: fc.constant("outage" as const),
      endpoint: index,
      steps: fc.integer({ min: 1, max: 8 }),
      outage: fc.constantFrom<Outage>("unreachable", "unreachable", "vanished")
    })
  }
)

/** Join the components of the town-endpoint graph, each to the one before it. */
const connect = (membership: ReadonlyArray<ReadonlyArray<number>>): ReadonlyArray<ReadonlyArray<number>> => {
  const result = membership.map((list) => [...list])
  /** The towns reachable from `start` through shared endpoints. */
  const component = (start: number): Set<number> => {
    const towns = new Set([start])
    const endpoints = new Set(result[start])
    for (let grew = true; grew;) {
      grew = false
      result.forEach((list, town) => {
        if (!towns.has(town) && list.some((e) => endpoints.has(e))) {
          towns.add(town)
          list.forEach((e) => endpoints.add(e))
          grew = true
        }
      })
    }
    return towns
  }
  for (let seen = component(0); seen.size < result.length; seen = component(0)) {
    const outsider = result.findIndex((_, town) => !seen.has(town))
    const insider = Math.max(...seen)
    result[outsider]!.push(result[insider]![0]!)
  }
  return result.map((list) => Array.from(new Set(list)).sort())
}

const planArb: fc.Arbitrary<Plan> = fc.record({
  towns: fc.integer({ min: 3, max: 5 }),
  endpoints: fc.integer({ min: 1, max: 3 }),
  bits: fc.array(fc.array(fc.boolean(), { minLength: 3, maxLength: 3 }), { minLength: 5, maxLength: 5 }),
  precreated: fc.array(fc.boolean(), { minLength: 3, maxLength: 3 }),
  skews: fc.array(fc.integer({ min: -3_600_000, max: 3_600_000 }), { minLength: 5, maxLength: 5 }),
  shared: fc.integer({ min: 0, max: 3 }),
  steps: fc.array(stepArb, { minLength: 20, maxLength: 60 }),
  rivalResolutions: fc.boolean()
}).map(({ bits, endpoints, precreated, rivalResolutions, shared, skews, steps, towns }) => {
  const chosen = bits.slice(0, towns).map((row, town) => {
    const list = row.slice(0, endpoints).flatMap((bit, e) => (bit ? [e] : []))
    return list.length > 0 ? list : [town % endpoints]
  })
  return {
    towns,
    endpoints,
    membership: connect(chosen),
    precreated: precreated.slice(0, endpoints),
    skews: skews.slice(0, towns),
    shared,
    steps,
    rivalResolutions
  }
})

// ---- running towns ---------------------------------------------------------

interface Bed {
  readonly world: World
  readonly towns: ReadonlyArray<InProcessTown>
  readonly endpoints: ReadonlyArray<GitEndpoint>
  /** Endpoints that are away: until which step, and how. */
  readonly downUntil: Map<number, { readonly until: number; readonly outage: Outage }>
}

const TOWN_NAMES = ["alpha", "bravo", "charlie", "delta", "echo"]

const buildBed = (world: World, plan: Pick<Plan, "towns" | "endpoints" | "membership" | "precreated" | "skews">) =>
  Effect.gen(function*() {
    const endpoints = Array.from({ length: plan.endpoints }, (_, e) => makeEndpoint(world, `ep${e}`, plan.precreated[e] ?? true))
    const towns: Array<InProcessTown> = []
    for (let t = 0; t < plan.towns; t++) {
      const town = yield* openTown(world, TOWN_NAMES[t]!, { skewMs: plan.skews[t] ?? 0 })
      for (const e of plan.membership[t]!) yield* addPeer(town, endpoints[e]!)
      towns.push(town)
    }
    const bed: Bed = { world, towns, endpoints, downUntil: new Map() }
    return bed
  })

const endpointOf = (bed: Bed, peer: string): GitEndpoint => bed.endpoints.find((endpoint) => endpoint.name === peer)!

const outcome = (result: Either.Either<unknown, PeerFailure> | undefined): string =>
  result === undefined ? "skipped" : Either.isRight(result) ? "ok" : result.left._tag

const syncOnce = (town: InProcessTown, peer: string | undefined, strategy: ConflictStrategy | undefined) =>
  inTown(town, Effect.flatMap(Sync, (sync) => sync.sync(peer, strategy)))

/** Every town syncs with every peer, in a fixed order; what failed, as messages. */
const fullRound = (bed: Bed) =>
  Effect.gen(function*() {
    const failures: Array<string> = []
    for (const town of bed.towns) {
      for (const outcomeOf of yield* syncOnce(town, undefined, undefined)) {
        const pull = outcome(outcomeOf.pull)
        const push = outcome(outcomeOf.push)
        if (pull !== "ok" || push !== "ok") {
          failures.push(`${town.name} sync ${outcomeOf.peer}: pull ${pull}${Either.isLeft(outcomeOf.pull) ? ` (${outcomeOf.pull.left.message})` : ""}, push ${push}`)
        }
      }
    }
    return failures
  })

const fingerprint = (bed: Bed, observations: ReadonlyArray<Observation>): string =>
  JSON.stringify([
    observations.map((o) => [o.exported.toString("utf8"), o.conflicts, o.shared]),
    bed.endpoints.map(endpointRefs)
  ])

const observeAll = (bed: Bed) => Effect.forEach(bed.towns, observe)

/**
 * Sync rounds until one changes nothing (in any town or endpoint), at most
 * towns × endpoints + 2 of them; the observations after the last round.
 */
const settle = (bed: Bed) =>
  Effect.gen(function*() {
    const limit = bed.towns.length * bed.endpoints.length + 2
    let before = fingerprint(bed, yield* observeAll(bed))
    const failures: Array<string> = []
    for (let round = 1; round <= limit; round++) {
      failures.push(...(yield* fullRound(bed)).map((failure) => `round ${round}: ${failure}`))
      const observations = yield* observeAll(bed)
      const after = fingerprint(bed, observations)
      if (after === before) return { rounds: round, observations, failures, settled: true }
      before = after
    }
    return { rounds: limit, observations: yield* observeAll(bed), failures, settled: false }
  })

/** Everything that differs between towns, as messages (empty when they agree). */
const disagreements = (observations: ReadonlyArray<Observation>): Array<string> => {
  const [first, ...rest] = observations
  const problems: Array<string> = []
  for (const other of rest) {
    if (!first!.exported.equals(other.exported)) {
      problems.push(`export of ${first!.town} and ${other.town} differ at ${firstDifference(first!.exported, other.exported)}`)
    }
    if (JSON.stringify(first!.conflicts) !== JSON.stringify(other.conflicts)) {
      problems.push(`open conflicts differ: ${first!.town} ${JSON.stringify(first!.conflicts)}, ${other.town} ${JSON.stringify(other.conflicts)}`)
    }
    if (JSON.stringify(first!.shared) !== JSON.stringify(other.shared)) {
      problems.push(`shared events held differ: ${first!.town} ${JSON.stringify(first!.shared)}, ${other.town} ${JSON.stringify(other.shared)}`)
    }
  }
  return problems
}

// ---- one schedule ----------------------------------------------------------

/** What a schedule exercised, summed over the run to show the schedules are not trivial. */
interface Stats {
  steps: number
  /** Endpoint outages, by kind. */
  outages: number
  vanished: number
  unreachable: number
  /** Conflicts pulls reported as new. */
  detected: number
  /** Conflicts resolved by `sync --strategy` during the schedules. */
  resolved: number
  /** Pulls that left batches waiting for events of other towns (causal delivery). */
  waiting: number
  /** Schedules that ended with open conflicts before the final resolution. */
  openAtEnd: number
  rounds: number
}

const emptyStats = (): Stats => ({ steps: 0, outages: 0, vanished: 0, unreachable: 0, detected: 0, resolved: 0, waiting: 0, openAtEnd: 0, rounds: 0 })

const countPull = (stats: Stats, pull: Either.Either<PullReport, PeerFailure> | undefined) => {
  if (pull === undefined) return
  if (Either.isLeft(pull)) {
    if (pull.left._tag === "RemoteUnreachable") stats.unreachable++
    return
  }
  stats.detected += pull.right.newConflicts.length
  if (pull.right.waiting > 0) stats.waiting++
}

const updateInput = (change: Change): UpdateInput => {
  switch (change.field) {
    case "title":
      return { set: { title: change.value } }
    case "priority":
      return { set: { priority: change.value } }
    case "status":
      return { set: { status: change.value } }
    case "assignee":
      return { set: { assignee: change.value } }
    case "labels":
      return { set: {}, addLabels: change.add, removeLabels: change.remove }
  }
}

/**
 * The outcome a pull must have: unreachable exactly when the endpoint is down
 * (a file:// endpoint no push has created yet is empty, not unreachable).
 */
const expectedPull = (bed: Bed, peer: string): string => (unreachable(bed, peer) ? "RemoteUnreachable" : "ok")

const outageOf = (bed: Bed, peer: string): Outage | undefined => bed.downUntil.get(bed.endpoints.indexOf(endpointOf(bed, peer)))?.outage

const unreachable = (bed: Bed, peer: string): boolean => outageOf(bed, peer) === "unreachable"

const runStep = (bed: Bed, step: Step, at: number, trace: Array<string>, problems: Array<string>, stats: Stats) =>
  Effect.gen(function*() {
    const say = (line: string) => trace.push(`${at}: ${line}`)
    // While an endpoint has vanished, whether an operation finds it gone or makes a new one depends on
    // what the town did with it before: either is fine, as long as nothing else happens.
    let vanished = false
    const check = (what: string, got: string, expected: string) => {
      const allowed = vanished ? ["ok", "RemoteUnreachable", "skipped"] : [expected]
      if (!allowed.includes(got)) problems.push(`step ${at}: ${what} was ${got}, expected ${allowed.join(" or ")}`)
    }
    if (step._tag === "outage") {
      const e = step.endpoint % bed.endpoints.length
      const current = bed.downUntil.get(e)
      // An endpoint already away stays away as it went, a little longer.
      const outage = current?.outage ?? step.outage
      const until = Math.max(current?.until ?? 0, at + step.steps)
      if (current === undefined) {
        takeDown(bed.endpoints[e]!, outage)
        stats.outages++
        if (outage === "vanished") stats.vanished++
      }
      bed.downUntil.set(e, { until, outage })
      return say(`ep${e} ${outage} until step ${until}`)
    }
    const town = bed.towns[step.town % bed.towns.length]!
    switch (step._tag) {
      case "create": {
        const issue = yield* inTown(town, Effect.flatMap(Issues, (issues) => issues.create({ title: step.title })))
        return say(`${town.name} create ${String(issue["id"])} "${step.title}"`)
      }
      case "update":
      case "close":
      case "reopen": {
        const ids = yield* knownIds(town)
        const id = ids[step.issue % Math.max(1, ids.length)]
        if (id === undefined) return say(`${town.name} ${step._tag}: no issue known`)
        const result = yield* inTown(
          town,
          Effect.flatMap(Issues, (issues) =>
            step._tag === "update"
              ? issues.update(id, updateInput(step.change))
              : step._tag === "close"
              ? issues.close(id, undefined)
              : issues.reopen(id))
        )
        return say(`${town.name} ${step._tag} ${id}${step._tag === "update" ? ` ${JSON.stringify(step.change)}` : ""}${result.changed ? "" : " (no change)"}`)
      }
      case "push":
      case "pull":
      case "sync": {
        const peer = town.peers[step.peer % town.peers.length]!
        const down = unreachable(bed, peer)
        vanished = outageOf(bed, peer) === "vanished"
        const pullExpected = expectedPull(bed, peer)
        if (step._tag === "push") {
          const [result] = yield* inTown(town, Effect.flatMap(Sync, (sync) => sync.push(peer)))
          const got = outcome(result?.result)
          if (got === "RemoteUnreachable") stats.unreachable++
          // While the endpoint is down, a push may still succeed if it had nothing at all to send.
          const sentNothing = result !== undefined && Either.isRight(result.result) &&
            result.result.right.published === 0 && result.result.right.updated.length === 0
          check(`${town.name} push ${peer}`, got, down && !sentNothing ? "RemoteUnreachable" : "ok")
          return say(`${town.name} push ${peer}: ${got}`)
        }
        if (step._tag === "pull") {
          const [result] = yield* inTown(town, Effect.flatMap(Sync, (sync) => sync.pull(peer)))
          countPull(stats, result?.result)
          const got = outcome(result?.result)
          check(`${town.name} pull ${peer}`, got, pullExpected)
          return say(`${town.name} pull ${peer}: ${got}`)
        }
        const [result] = yield* syncOnce(town, peer, step.strategy)
        countPull(stats, result?.pull)
        stats.resolved += result?.resolved ?? 0
        const pull = outcome(result?.pull)
        const push = outcome(result?.push)
        check(`${town.name} sync ${peer} (pull)`, pull, pullExpected)
        check(`${town.name} sync ${peer} (push)`, push, pullExpected === "ok" ? "ok" : "skipped")
        return say(`${town.name} sync ${peer}${step.strategy === undefined ? "" : ` --strategy ${step.strategy}`}: pull ${pull}, resolved ${result?.resolved ?? 0}, push ${push}`)
      }
    }
  })

/** Run one schedule in a fresh world; what went wrong goes to `problems`, what happened to `trace`. */
const runPlan = (plan: Plan, seed: number, stats: Stats, trace: Array<string>, problems: Array<string>) =>
  Effect.acquireUseRelease(
    Effect.sync(() => makeWorld(String(seed))),
    (world) =>
      Effect.gen(function*() {
        const bed = yield* buildBed(world, plan)
        stats.steps += plan.steps.length
        if (plan.shared > 0) {
          for (let i = 0; i < plan.shared; i++) yield* runStep(bed, { _tag: "create", town: 0, title: TITLES[i]! }, -1, trace, problems, stats)
          for (const [t, town] of bed.towns.entries()) {
            for (const p of town.peers.keys()) yield* runStep(bed, { _tag: "sync", town: t, peer: p, strategy: undefined }, -1, trace, problems, stats)
          }
        }
        for (let at = 0; at < plan.steps.length; at++) {
          for (const [e, { until }] of bed.downUntil) {
            if (until <= at) {
              bringUp(bed.endpoints[e]!)
              bed.downUntil.delete(e)
              trace.push(`${at}: ep${e} back`)
            }
          }
          yield* runStep(bed, plan.steps[at]!, at, trace, problems, stats)
        }
        // The final full round: every endpoint back (one no push made yet is made by the first sync).
        for (const [e] of bed.downUntil) bringUp(bed.endpoints[e]!)
        bed.downUntil.clear()
        const settled = yield* settle(bed)
        trace.push(`final: settled after ${settled.rounds} round(s)`)
        problems.push(...settled.failures)
        if (!settled.settled) problems.push(`still changing after ${settled.rounds} full rounds`)
        problems.push(...disagreements(settled.observations))
        stats.rounds += settled.rounds
        const conflicts = settled.observations[0]!.conflicts.length
        if (conflicts > 0) stats.openAtEnd++
        if (conflicts > 0 && problems.length === 0) {
          const first = bed.towns[0]!
          if (plan.rivalResolutions) {
            // Two towns resolve every conflict at once, one keeping its side, the other taking theirs
            // (`bd federation resolve`, no sync between): the rival resolutions must settle too.
            const last = bed.towns[bed.towns.length - 1]!
            for (const [town, side] of [[first, "ours"], [last, "theirs"]] as const) {
              const ids = yield* inTown(town, Effect.map(Effect.flatMap(Sync, (sync) => sync.conflicts), (list) => list.map((c) => c.id)))
              for (const id of ids) yield* inTown(town, Effect.flatMap(Sync, (sync) => sync.resolve(id, { _tag: "Side", side }, side)))
              trace.push(`final: ${town.name} resolve --${side} ${ids.join(" ")}`)
            }
          } else {
            // One town resolves what is left as `bd federation sync --strategy ours`; everyone follows.
            const [resolved] = yield* syncOnce(first, first.peers[0], "ours")
            trace.push(`final: ${first.name} sync ${first.peers[0]} --strategy ours: resolved ${resolved?.resolved ?? 0}`)
          }
          const again = yield* settle(bed)
          stats.rounds += again.rounds
          problems.push(...again.failures.map((failure) => `after resolving: ${failure}`))
          if (!again.settled) problems.push(`after resolving: still changing after ${again.rounds} full rounds`)
          problems.push(...disagreements(again.observations).map((problem) => `after resolving: ${problem}`))
          for (const observation of again.observations) {
            if (observation.conflicts.length > 0) {
              problems.push(`after resolving: ${observation.town} still has conflicts ${JSON.stringify(observation.conflicts)}`)
            }
          }
        }
      }),
    (world) => Effect.sync(() => removeWorld(world))
  ).pipe(
    // A typed failure or a defect of the library is a finding too: keep it with the seed and the trace so far.
    Effect.catchAllCause((cause) => Effect.sync(() => problems.push(`the schedule stopped: ${Cause.pretty(cause)}`)))
  )

const planOf = (seed: number): Plan => fc.sample(planArb, { seed, numRuns: 1 })[0]!

// ---- specifications --------------------------------------------------------

/** A bed from a literal description, for the example-based specifications. */
const exampleBed = (towns: number, endpoints: number, membership: ReadonlyArray<ReadonlyArray<number>>) =>
  Effect.acquireRelease(Effect.sync(() => makeWorld("example")), (world) => Effect.sync(() => removeWorld(world))).pipe(
    Effect.flatMap((world) =>
      buildBed(world, { towns, endpoints, membership, precreated: Array(endpoints).fill(true), skews: Array(towns).fill(0) })
    )
  )

const create = (town: InProcessTown, title: string) =>
  Effect.map(inTown(town, Effect.flatMap(Issues, (issues) => issues.create({ title }))), (fields) => String(fields["id"]))

const update = (town: InProcessTown, id: string, input: UpdateInput) =>
  inTown(town, Effect.flatMap(Issues, (issues) => issues.update(id, input)))

const show = (town: InProcessTown, id: string) =>
  Effect.map(inTown(town, Effect.flatMap(Issues, (issues) => issues.show(id))), (record) => record.fields)

const settledAndAgreeing = (bed: Bed) =>
  Effect.gen(function*() {
    const settled = yield* settle(bed)
    expect(settled.failures).toEqual([])
    expect(settled.settled).toBe(true)
    expect(disagreements(settled.observations)).toEqual([])
    return settled.observations
  })

const budgetMs = Number(process.env["CONVERGENCE_BUDGET_MS"] ?? 100_000)

describe("convergence", () => {
  it.scopedLive("a triangle: three towns edit one title at once, all show the same winner and the same open conflict", () =>
    Effect.gen(function*() {
      // alpha-bravo share ep0, bravo-charlie ep1, charlie-alpha ep2.
      const bed = yield* exampleBed(3, 3, [[0, 2], [0, 1], [1, 2]])
      const [alpha, bravo, charlie] = bed.towns as [InProcessTown, InProcessTown, InProcessTown]
      const id = yield* create(alpha, "plan the release")
      yield* settledAndAgreeing(bed)

      // Concurrent: none of the three has seen the others' edits.
      yield* update(alpha, id, { set: { title: "release on Monday" } })
      yield* update(bravo, id, { set: { title: "release on Tuesday", priority: 1 } })
      yield* update(charlie, id, { set: { title: "release on Friday" }, addLabels: ["release"] })
      const observations = yield* settledAndAgreeing(bed)

      expect(observations[0]!.conflicts).toEqual([`${id}/title`])
      // Fields only one town touched are not in conflict, and every town shows them.
      const shown = yield* show(charlie, id)
      expect(shown["priority"]).toBe(1)
      expect(shown["labels"]).toEqual(["release"])
      // While the conflict is open, the base rule shows one of the three titles, the same one everywhere.
      const title = (yield* show(alpha, id))["title"]
      expect(["release on Monday", "release on Tuesday", "release on Friday"]).toContain(title)
      for (const town of bed.towns) expect((yield* show(town, id))["title"]).toBe(title)

      // bravo keeps its own title; the resolution travels to the others.
      const [resolved] = yield* syncOnce(bravo, "ep0", "ours")
      expect(resolved?.resolved).toBe(1)
      const after = yield* settledAndAgreeing(bed)
      expect(after[0]!.conflicts).toEqual([])
      for (const town of bed.towns) expect((yield* show(town, id))["title"]).toBe("release on Tuesday")
    }), 120_000)

  it.scopedLive("a chain: towns that share no endpoint converge through the town between them", () =>
    Effect.gen(function*() {
      // alpha -ep0- bravo -ep1- charlie: alpha and charlie never meet.
      const bed = yield* exampleBed(3, 2, [[0], [0, 1], [1]])
      const [alpha, , charlie] = bed.towns as [InProcessTown, InProcessTown, InProcessTown]
      const fromAlpha = yield* create(alpha, "from the first town")
      const fromCharlie = yield* create(charlie, "from the last town")
      yield* update(alpha, fromAlpha, { set: { assignee: "alice" } })

      yield* settledAndAgreeing(bed)
      expect((yield* show(charlie, fromAlpha))["assignee"]).toBe("alice")
      expect((yield* show(charlie, fromAlpha))["source_system"]).toBe(alpha.townId)
      expect((yield* show(alpha, fromCharlie))["source_system"]).toBe(charlie.townId)

      // The relayed branch is the very commit alpha published, not a copy.
      const branch = (endpoint: GitEndpoint, town: InProcessTown) =>
        endpointRefs(endpoint).split("\n").find((line) => line.endsWith(`refs/beads/towns/${town.townId}`))?.split(" ")[0]
      expect(branch(bed.endpoints[1]!, alpha)).toBeDefined()
      expect(branch(bed.endpoints[1]!, alpha)).toBe(branch(bed.endpoints[0]!, alpha))

      // Concurrent edits at both ends of the chain meet in the middle and agree.
      yield* update(alpha, fromCharlie, { set: { status: "in_progress" } })
      yield* update(charlie, fromCharlie, { set: { status: "blocked" } })
      const observations = yield* settledAndAgreeing(bed)
      expect(observations[0]!.conflicts).toEqual([`${fromCharlie}/status`])
      // Resolving at one end closes it at the other.
      yield* syncOnce(charlie, "ep1", "theirs")
      const after = yield* settledAndAgreeing(bed)
      expect(after[0]!.conflicts).toEqual([])
      for (const town of bed.towns) expect((yield* show(town, fromCharlie))["status"]).toBe("in_progress")
    }), 120_000)

  it.scopedLive("an endpoint that is away fails pushes and pulls as unreachable, and they catch up once it is back", () =>
    Effect.gen(function*() {
      const bed = yield* exampleBed(3, 1, [[0], [0], [0]])
      const [alpha, bravo, charlie] = bed.towns as [InProcessTown, InProcessTown, InProcessTown]
      const id = yield* create(alpha, "written while the endpoint is away")
      takeDown(bed.endpoints[0]!)
      const [push] = yield* inTown(alpha, Effect.flatMap(Sync, (sync) => sync.push("ep0")))
      expect(outcome(push?.result)).toBe("RemoteUnreachable")
      const [sync] = yield* syncOnce(bravo, "ep0", undefined)
      expect(outcome(sync?.pull)).toBe("RemoteUnreachable")
      expect(sync?.push).toBeUndefined()
      yield* update(charlie, yield* create(charlie, "also offline"), { set: { priority: 0 } })

      bringUp(bed.endpoints[0]!)
      const observations = yield* settledAndAgreeing(bed)
      expect(observations[0]!.exported.toString("utf8")).toContain(id)
      expect(observations[0]!.exported.toString("utf8").split("\n").filter((line) => line !== "")).toHaveLength(2)
    }), 120_000)

  it.live("random schedules: every town ends byte-identical after a final full round", () =>
    Effect.gen(function*() {
      const replay = process.env["CONVERGENCE_SEED"]
      const baseSeed = replay === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(replay)
      const deadline = Date.now() + budgetMs
      const started = Date.now()
      let next = 0
      let ran = 0
      const stats = emptyStats()
      const failures: Array<string> = []
      const worker = Effect.gen(function*() {
        while (failures.length === 0 && (replay === undefined ? Date.now() < deadline : next === 0)) {
          const seed = baseSeed + next++
          const plan = planOf(seed)
          const report = { trace: new Array<string>(), problems: new Array<string>() }
          yield* runPlan(plan, seed, stats, report.trace, report.problems)
          ran++
          if (replay !== undefined) console.log([`seed ${seed}: ${JSON.stringify({ ...plan, steps: plan.steps.length })}`, ...report.trace].join("\n"))
          if (report.problems.length > 0) {
            failures.push([
              `convergence failed for seed ${seed} (replay: CONVERGENCE_SEED=${seed} npx vitest run test/federation/Convergence.test.ts -t random)`,
              `plan: ${JSON.stringify({ ...plan, steps: plan.steps.length })}`,
              "problems:",
              ...report.problems.map((problem) => `  ${problem}`),
              "trace:",
              ...report.trace.map((line) => `  ${line}`)
            ].join("\n"))
          }
        }
      })
      // Several schedules at a time: while one waits for git, another computes.
      const workers = Number(process.env["CONVERGENCE_WORKERS"] ?? 2)
      yield* Effect.all(Array.from({ length: workers }, () => worker), { concurrency: workers })
      const seconds = ((Date.now() - started) / 1000).toFixed(1)
      console.log(
        `convergence: ${ran} schedules in ${seconds}s (seeds ${baseSeed}..${baseSeed + next - 1}; ${stats.steps} steps, ` +
          `${stats.outages} endpoint outages (${stats.vanished} vanished), ${stats.unreachable} unreachable operations, ${stats.detected} conflicts detected by pulls, ${stats.resolved} resolved by --strategy, ` +
          `${stats.waiting} pulls with batches waiting on other towns, ${stats.openAtEnd} schedules with open conflicts before the final resolution, ` +
          `${stats.rounds} settling rounds)`
      )
      expect(failures).toEqual([])
    }), budgetMs + 240_000)
})
