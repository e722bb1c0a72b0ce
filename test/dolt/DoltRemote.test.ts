/**
 * The parts of the Dolt transport that need no server: how batches sit in
 * rows, how branches are named and compared, which engine a peer is routed
 * to, and that a batch written back from its files is its origin's very git
 * commit (what lets a batch cross engines and still be relayed as itself).
 */
import * as NodeContext from "@effect/platform-node/NodeContext"
import { CommandExecutor } from "@effect/platform"
import { Effect, Either, Option } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { parseEndpoint } from "../../src/domain/Endpoint.js"
import { parseBatchMeta } from "../../src/domain/Batch.js"
import type { ForeignEvent } from "../../src/events/Envelope.js"
import {
  compareBranches,
  decodeRow,
  outgoingBranch,
  rowOf,
  rowsProblem,
  rowValues,
  townBranch,
  townOfRemoteBranch
} from "../../src/layers/DoltBatches.js"
import { makeGitRemote } from "../../src/layers/GitRemote.js"
import { routedRemote, routeOf } from "../../src/layers/RoutedRemote.js"
import type { DoltTransport } from "../../src/layers/DoltRemote.js"
import { BatchRefused } from "../../src/domain/Errors.js"
import { ensureTownKeys } from "../../src/layers/TownKeys.js"
import { initTown } from "../../src/layers/Town.js"
import type { PeerTarget, RemoteApi } from "../../src/services/Remote.js"

const TOWN = "0123456789abcdef"
const COMMIT = "a".repeat(40)
const FILES = {
  meta: `${JSON.stringify({ version: 1, town: TOWN, batch: 1, first: 1, last: 1, count: 1, total: 1 }, null, 2)}\n`,
  events: "{\"id\":\"x\"}\n",
  signature: "{\"alg\":\"ed25519\"}\n"
}

describe("batch rows", () => {
  it("name town branches as git does, and read the town back from a fetched branch", () => {
    expect(townBranch(TOWN)).toBe(`beads/towns/${TOWN}`)
    expect(outgoingBranch("hub", TOWN)).toBe(`beads/out/hub/${TOWN}`)
    expect(townOfRemoteBranch("hub", `remotes/hub/beads/towns/${TOWN}`)).toBe(TOWN)
    expect(townOfRemoteBranch("hub", `remotes/other/beads/towns/${TOWN}`)).toBeUndefined()
    expect(townOfRemoteBranch("hub", "remotes/hub/main")).toBeUndefined()
    expect(townOfRemoteBranch("hub", "remotes/hub/beads/towns/not-a-town")).toBeUndefined()
  })

  it("carry the three files byte for byte and the commit they make", () => {
    const row = Either.getOrThrow(rowOf(COMMIT, FILES))
    expect(row).toEqual({ batch: 1, town: TOWN, commit: COMMIT, files: FILES })
    expect(rowValues(row)).toEqual([1, TOWN, COMMIT, FILES.meta, FILES.events, FILES.signature])
    const [batch, town, commit_id, meta, events, signature] = rowValues(row)
    // As the server returns it: numbers may come as strings, LONGTEXT as a Buffer.
    const back = decodeRow({ batch: String(batch), town, commit_id, meta: Buffer.from(String(meta)), events, signature })
    expect(Either.getOrThrow(back)).toEqual(row)
  })

  it("refuse rows that are not batches, with the reason", () => {
    const good = { batch: 1, town: TOWN, commit_id: COMMIT, ...FILES }
    expect(Either.isLeft(decodeRow({ ...good, batch: 0 }))).toBe(true)
    expect(Either.isLeft(decodeRow({ ...good, commit_id: "HEAD" }))).toBe(true)
    expect(Either.getLeft(decodeRow({ ...good, signature: null }))).toEqual(Option.some("row of batch 1 lacks a column"))
    expect(Either.isLeft(rowOf(COMMIT, { ...FILES, meta: "not json" }))).toBe(true)
    const row = Either.getOrThrow(rowOf(COMMIT, FILES))
    expect(rowsProblem([row, { ...row, batch: 2 }])).toBeUndefined()
    expect(rowsProblem([row, { ...row, batch: 3 }])).toBe("batch 3 where 2 was expected")
  })

  it("compare branches by batch commits: same, behind (a fast-forward), ahead, or rewritten", () => {
    expect(compareBranches(["a", "b"], ["a", "b"])).toEqual({ _tag: "Same" })
    expect(compareBranches(["a", "b", "c"], ["a"])).toEqual({ _tag: "Behind", have: 1 })
    expect(compareBranches(["a"], [])).toEqual({ _tag: "Behind", have: 0 })
    expect(compareBranches(["a"], ["a", "b"])).toEqual({ _tag: "Ahead" })
    expect(compareBranches(["a", "x", "c"], ["a", "b"])).toEqual({ _tag: "Diverged", at: 2 })
  })
})

const target = (endpoint: string, engine: "git" | "dolt"): PeerTarget => ({
  name: "hub",
  endpoint: Either.getOrThrow(parseEndpoint(endpoint)),
  credentials: undefined,
  tier: "T1",
  engine
})

describe("routing", () => {
  it("sends git peers to git, Dolt peers to the Dolt server, or refuses them without one", () => {
    expect(routeOf({ engine: "git" }, false)).toBe("git")
    expect(routeOf({ engine: "git" }, true)).toBe("git")
    expect(routeOf({ engine: "dolt" }, true)).toBe("dolt")
    expect(routeOf({ engine: "dolt" }, false)).toBe("no-dolt-server")
  })

  it("without dolt.url, a Dolt peer fails at fetch, push and probe with DoltBackendRequired naming dolt.url; git is not asked", async () => {
    const asked: Array<string> = []
    const git = new Proxy({} as RemoteApi, {
      get: (_, key) => (..._args: Array<unknown>) => {
        asked.push(String(key))
        return Effect.void
      }
    })
    const remote = routedRemote(git, undefined)
    const peer = target("dolthub://acme/beads", "dolt")
    for (const attempt of [remote.fetch(peer), remote.push(peer, () => true), remote.probe(peer)]) {
      const error = await Effect.runPromise(Effect.flip(attempt))
      expect(error._tag).toBe("DoltBackendRequired")
      expect(error.message).toContain("dolt.url is not set")
      expect("hint" in error ? error.hint : "").toContain("bd config set dolt.url")
    }
    expect(asked).toEqual([])
    await Effect.runPromise(remote.fetch(target("file:///srv/hub.git", "git")))
    expect(asked).toEqual(["fetch"])
  })
})

describe("incoming from a Dolt peer", () => {
  it("is the shadow repository's check of what the fetch wrote, plus the towns whose rows made no branch", async () => {
    const refused = new BatchRefused({ peer: "hub", town: "bbbbbbbbbbbbbbbb", reason: "batch 2 where 1 was expected" })
    const git = {
      incoming: () => Effect.succeed([{ town: "aaaaaaaaaaaaaaaa", batches: [], problem: undefined }])
    } as unknown as RemoteApi
    const dolt = {
      fetchProblems: () => Effect.succeed([{ town: "bbbbbbbbbbbbbbbb", batches: [], problem: refused }])
    } as unknown as DoltTransport
    const remote = routedRemote(git, dolt)
    const updates = await Effect.runPromise(remote.incoming(target("dolthub://acme/beads", "dolt")))
    expect(updates.map((u) => [u.town, u.problem?._tag])).toEqual([
      ["aaaaaaaaaaaaaaaa", undefined],
      ["bbbbbbbbbbbbbbbb", "BatchRefused"]
    ])
    // A git peer never sees the Dolt fetch's findings.
    expect(await Effect.runPromise(remote.incoming(target("file:///srv/hub.git", "git")))).toHaveLength(1)
  })
})

describe("a batch written back from its files", () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "bd-dolt-batches-"))
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }))

  const shadowOf = (name: string) =>
    Effect.gen(function*() {
      const executor = yield* CommandExecutor.CommandExecutor
      const beadsDir = path.join(root, name, ".beads")
      const secretsDir = path.join(root, name, "secrets")
      fs.mkdirSync(beadsDir, { recursive: true })
      const town = (yield* initTown(beadsDir, { name, prefix: undefined, now: "2026-01-01T00:00:00Z" })).town.townId
      return { town, ...makeGitRemote({
        beadsDir,
        town,
        env: { PATH: process.env["PATH"], HOME: root, GIT_CONFIG_NOSYSTEM: "1" },
        secretsDir,
        keys: () => ensureTownKeys(secretsDir, beadsDir)
      }, executor) }
    })

  const eventsOf = (town: string): ReadonlyArray<ForeignEvent> =>
    [1, 2].map((townSeq) => ({
      id: `${town}:${townSeq}`,
      town,
      townSeq,
      lamport: townSeq,
      seen: {},
      type: "IssueCreated",
      at: "2026-01-02T03:04:05.678Z",
      actor: "ann",
      data: { id: `bd-${townSeq}`, title: `t${townSeq}` }
    }))

  it("is its origin's very git commit, in another town's shadow repository", async () => {
    const [origin, chain, copy] = await Effect.runPromise(Effect.gen(function*() {
      const origin = yield* shadowOf("origin")
      const events = eventsOf(origin.town)
      yield* origin.remote.publish(events.slice(0, 1), "2026-01-02T03:04:05.678Z", "T1", undefined)
      yield* origin.remote.publish(events.slice(1), "2026-01-03T00:00:00.000Z", "T1", "acme")
      const tip = (yield* origin.shadow.refs(origin.shadow.ownRef("T1"))).get("")!
      const chain = yield* origin.shadow.chain(tip)
      const other = yield* shadowOf("other")
      yield* other.shadow.ensure
      const copy: Array<string> = []
      for (const batch of chain) {
        const meta = Either.getOrThrow(parseBatchMeta(batch.files.meta))
        copy.push(yield* other.shadow.writeBatch(batch.files, meta, copy[copy.length - 1]))
      }
      return [origin, chain, copy] as const
    }).pipe(Effect.provide(NodeContext.layer)))
    expect(origin).toBeDefined()
    expect(chain).toHaveLength(2)
    expect(copy).toEqual(chain.map((batch) => batch.commit))
  })
})
