/**
 * Towns run inside the test process on the library, as `bd` would run them:
 * a temp directory initialised with `initTown`, federation switched on with
 * `sync.mode: dolt-native`, and for every operation the layers one `bd`
 * command gets (`townLayer`), built afresh and released afterwards. Peers'
 * endpoints are real bare git repositories reached through file:// URLs.
 *
 * Time and randomness are made deterministic per world (a clock that ticks
 * one millisecond per read, skewed per town; a seeded Random per town; town
 * ids derived from a seed), so a schedule replays identically from its seed.
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import { Clock, Effect, Layer, Random } from "effect"
import { execFileSync } from "node:child_process"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import type { GlobalFlags } from "../../src/cli/Globals.js"
import { processIo } from "../../src/cli/Io.js"
import { type TownServices, townLayer } from "../../src/cli/Runtime.js"
import { EventLog } from "../../src/events/EventLog.js"
import { setConfigValue } from "../../src/layers/Config.js"
import { exportIssues, issuesJsonl } from "../../src/layers/JsonlFiles.js"
import { initTown } from "../../src/layers/Town.js"
import { Federation } from "../../src/services/Federation.js"
import { Issues } from "../../src/services/Issues.js"
import { Sync } from "../../src/services/Sync.js"

/** The place a set of towns and endpoints lives in, and the clock they share. */
export interface World {
  readonly root: string
  readonly seed: string
  /** Milliseconds since the epoch of the shared clock; every read advances it by one. */
  readonly clock: { now: number }
}

export interface InProcessTown {
  readonly name: string
  readonly dir: string
  readonly townId: string
  readonly globals: GlobalFlags
  readonly clock: Clock.Clock
  readonly random: Random.Random
  /** Peer names, in the order they were added. */
  readonly peers: Array<string>
}

export interface GitEndpoint {
  readonly name: string
  readonly dir: string
  readonly url: string
}

/**
 * Worlds live in memory (/dev/shm) where there is one: what is tested here is
 * convergence, not durability, and fsync on a disk would set the pace.
 */
const worldsDir = (): string => process.env["BD_TEST_WORLDS"] ?? (fs.existsSync("/dev/shm") ? "/dev/shm" : os.tmpdir())

export const makeWorld = (seed: string, label = "bd-convergence-"): World => ({
  root: fs.mkdtempSync(path.join(worldsDir(), label)),
  seed,
  clock: { now: Date.UTC(2025, 0, 1) }
})

export const removeWorld = (world: World): void => fs.rmSync(world.root, { recursive: true, force: true })

/** A clock that reads the world's time (shifted by `skewMs`) and ticks on every read; sleeping is real. */
const worldClock = (world: World, skewMs: number): Clock.Clock => {
  const live = Clock.make()
  const read = (): number => {
    world.clock.now += 1
    return world.clock.now + skewMs
  }
  return {
    [Clock.ClockTypeId]: Clock.ClockTypeId,
    unsafeCurrentTimeMillis: read,
    currentTimeMillis: Effect.sync(read),
    unsafeCurrentTimeNanos: () => BigInt(read()) * 1_000_000n,
    currentTimeNanos: Effect.sync(() => BigInt(read()) * 1_000_000n),
    sleep: live.sleep
  }
}

const derivedTownId = (seed: string, name: string): string =>
  createHash("sha256").update(`${seed}/${name}`).digest("hex").slice(0, 16)

/**
 * A new town `name` in the world: `initTown` completes a directory whose
 * town.json we wrote first (it never overwrites), so the town id follows
 * from the seed; then federation is switched on as `bd config set` does.
 */
export const openTown = (world: World, name: string, options: { readonly skewMs?: number } = {}) =>
  Effect.gen(function*() {
    const dir = path.join(world.root, name)
    const beadsDir = path.join(dir, ".beads")
    const home = path.join(world.root, `${name}-home`)
    fs.mkdirSync(beadsDir, { recursive: true })
    fs.mkdirSync(home, { recursive: true })
    const townId = derivedTownId(world.seed, name)
    const createdAt = new Date(world.clock.now).toISOString()
    fs.writeFileSync(path.join(beadsDir, "town.json"), `${JSON.stringify({ townId, name, createdAt }, null, 2)}\n`)
    const init = yield* initTown(beadsDir, { name, prefix: undefined, now: createdAt })
    yield* setConfigValue(path.join(beadsDir, "config.yaml"), "sync.mode", "dolt-native")
    const env = {
      PATH: process.env["PATH"],
      HOME: home,
      XDG_CONFIG_HOME: path.join(home, ".config"),
      GIT_CONFIG_NOSYSTEM: "1"
    }
    const globals: GlobalFlags = {
      json: false,
      db: dir,
      actor: "tester",
      readonly: false,
      cwd: dir,
      env,
      home,
      io: { ...processIo(), cwd: dir, env }
    }
    const town: InProcessTown = {
      name,
      dir,
      townId: init.town.townId,
      globals,
      clock: worldClock(world, options.skewMs ?? 0),
      random: Random.make(`${world.seed}/${name}`),
      peers: []
    }
    return town
  })

/** Run `effect` as one command of `town`: its layers built for it and released after. */
export const inTown = <A, E>(town: InProcessTown, effect: Effect.Effect<A, E, TownServices>) =>
  effect.pipe(
    Effect.provide(Layer.provide(townLayer(town.globals, "test"), NodeContext.layer)),
    Effect.withRandom(town.random),
    Effect.withClock(town.clock)
  )

/** A bare repository for an endpoint; `create: false` leaves it to the first push to make. */
export const makeEndpoint = (world: World, name: string, create: boolean): GitEndpoint => {
  const dir = path.join(world.root, "endpoints", `${name}.git`)
  fs.mkdirSync(path.dirname(dir), { recursive: true })
  if (create) execFileSync("git", ["init", "--bare", "--quiet", dir], { stdio: "ignore", env: { PATH: process.env["PATH"] ?? "" } })
  return { name, dir, url: `file://${dir}` }
}

const awayPath = (endpoint: GitEndpoint): string => `${endpoint.dir}.away`

/**
 * How an endpoint goes away: "unreachable" puts a plain file where the
 * repository was, so git fails on it (RemoteUnreachable); "vanished" only
 * moves the repository aside: a town that used it before finds it
 * unreachable, but a push may create a new one at its place, which the old
 * one replaces when it comes back (an endpoint restored from an older copy).
 */
export type Outage = "unreachable" | "vanished"

export const takeDown = (endpoint: GitEndpoint, outage: Outage = "unreachable"): void => {
  if (fs.existsSync(endpoint.dir)) fs.renameSync(endpoint.dir, awayPath(endpoint))
  if (outage === "unreachable") fs.writeFileSync(endpoint.dir, "unavailable\n")
}

/**
 * The endpoint as it was when it went away: whatever was made at its place
 * meanwhile is dropped, unless there was nothing before (then a repository a
 * push created meanwhile is the endpoint).
 */
export const bringUp = (endpoint: GitEndpoint): void => {
  if (fs.existsSync(awayPath(endpoint))) {
    fs.rmSync(endpoint.dir, { recursive: true, force: true })
    fs.renameSync(awayPath(endpoint), endpoint.dir)
  } else if (fs.existsSync(endpoint.dir) && fs.statSync(endpoint.dir).isFile()) {
    fs.rmSync(endpoint.dir)
  }
}

export const endpointExists = (endpoint: GitEndpoint): boolean =>
  fs.existsSync(path.join(endpoint.dir, "HEAD"))

/** The town branches an endpoint holds (`<sha> <ref>` lines), "" when it does not exist. */
export const endpointRefs = (endpoint: GitEndpoint): string =>
  endpointExists(endpoint)
    ? execFileSync("git", ["for-each-ref", "--format=%(objectname) %(refname)", "refs/beads/"], {
      cwd: endpoint.dir,
      encoding: "utf8",
      env: { PATH: process.env["PATH"] ?? "", GIT_CONFIG_NOSYSTEM: "1" }
    })
    : ""

/** `bd federation add-peer <endpoint name> <endpoint url>` in `town`. */
export const addPeer = (town: InProcessTown, endpoint: GitEndpoint) =>
  Effect.map(
    inTown(
      town,
      Effect.flatMap(Federation, (federation) =>
        federation.addPeer({ name: endpoint.name, endpoint: endpoint.url, sovereignty: undefined, credentials: undefined }))
    ),
    (peer) => {
      town.peers.push(endpoint.name)
      return peer
    }
  )

export const ALL = { status: undefined, assignee: undefined, type: undefined, all: true } as const

/** The ids of every issue the town holds, sorted. */
export const knownIds = (town: InProcessTown) =>
  inTown(town, Effect.map(Effect.flatMap(Issues, (issues) => issues.list(ALL)), (list) => list.map((fields) => String(fields["id"]))))

/** What must be the same in every town once they hold the same events. */
export interface Observation {
  readonly town: string
  /** `bd export` as written to `.beads/issues.jsonl`, byte for byte. */
  readonly exported: Buffer
  readonly conflicts: ReadonlyArray<string>
  /** Shared events held, per origin town. */
  readonly shared: Readonly<Record<string, number>>
  readonly verifiedEvents: number
}

export const observe = (town: InProcessTown) =>
  inTown(
    town,
    Effect.gen(function*() {
      const state = yield* (yield* Issues).state
      const file = path.join(town.dir, ".beads", "issues.jsonl")
      yield* exportIssues(state, file)
      const exported = fs.readFileSync(file)
      if (exported.toString("utf8") !== issuesJsonl(state)) return yield* Effect.dieMessage("exportIssues and issuesJsonl disagree")
      const conflicts = (yield* (yield* Sync).conflicts).map((conflict) => conflict.id)
      const log = yield* EventLog
      const verified = yield* log.verify
      const shared = (yield* log.load(["sync"])).state.sync.shared
      const ordered = Object.fromEntries(Object.entries(shared).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      const observation: Observation = { town: town.name, exported, conflicts, shared: ordered, verifiedEvents: verified.events }
      return observation
    })
  )

/** The first line where two exports differ, for a failure message. */
export const firstDifference = (a: Buffer, b: Buffer): string => {
  const left = a.toString("utf8").split("\n")
  const right = b.toString("utf8").split("\n")
  for (let i = 0; i < Math.max(left.length, right.length); i++) {
    if (left[i] !== right[i]) return `line ${i + 1}:\n  - ${left[i] ?? "(none)"}\n  + ${right[i] ?? "(none)"}`
  }
  return "(no difference)"
}
