/**
 * A Dolt peer on a server that is not Dolt (the suite's MariaDB, where
 * `SELECT dolt_version()` is an unknown function), and a Dolt peer with no
 * server at all: push, pull and status fail with DoltBackendRequired and a
 * hint that says what to do, and nothing is published or ingested.
 */
import { Chunk, Effect, Either, Stream } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { describe, expect, it } from "vitest"
import { EventLog } from "../../src/events/EventLog.js"
import { Federation } from "../../src/services/Federation.js"
import { Issues } from "../../src/services/Issues.js"
import { type PeerFailure, Sync } from "../../src/services/Sync.js"
import { freshServer, openTown, run, type TestTown, useMariaDb } from "./support.js"

const maria = useMariaDb("dolt-remote")

const typesOf = (town: TestTown) =>
  run(town, Effect.flatMap(EventLog, (log) =>
    Effect.map(Stream.runCollect(log.read()), (events) => Chunk.toReadonlyArray(events).map((e) => e.type))))

const shadowRefs = (town: TestTown): ReadonlyArray<string> => {
  const refs = path.join(town.beadsDir, "federation", "remote.git", "refs", "beads")
  if (!fs.existsSync(refs)) return []
  return fs.readdirSync(refs, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => e.name)
}

/** Push, pull and status of peer `hub`, as the Sync service gives them. */
const tryAll = (town: TestTown) =>
  run(town, Effect.gen(function*() {
    const sync = yield* Sync
    const [push] = yield* sync.push("hub")
    const [pull] = yield* sync.pull("hub")
    const [status] = yield* sync.status("hub")
    return { push: push!.result, pull: pull!.result, status: status! }
  }))

const failure = <A, E>(result: Either.Either<A, E>): E => {
  if (Either.isRight(result)) throw new Error(`expected a failure, got ${JSON.stringify(result.right)}`)
  return result.left
}

const setUp = async (town: TestTown, endpoint = "dolthub://acme/beads", via?: string) => {
  await run(town, Effect.flatMap(Federation, (f) =>
    f.addPeer({ name: "hub", endpoint, via, sovereignty: undefined, credentials: undefined })))
  await run(town, Effect.flatMap(Issues, (issues) => issues.create({ title: "stays home" })))
}

describe("a Dolt peer without a Dolt server", () => {
  it("on MariaDB: DoltBackendRequired saying the server is not Dolt; nothing published, nothing ingested", async (ctx) => {
    const bed = maria.get(ctx)
    const server = await freshServer(bed, "dolt_remote_maria")
    const town = await Effect.runPromise(openTown(maria.root(), "maria", server))
    await setUp(town)
    const before = await typesOf(town)
    const { pull, push, status } = await tryAll(town)
    for (const result of [push, pull] as ReadonlyArray<Either.Either<unknown, PeerFailure>>) {
      const error = failure(result)
      expect(error._tag).toBe("DoltBackendRequired")
      expect(error.message).toContain("is not a Dolt server")
      expect(error.message).toContain("dolt_version()")
      expect((error as { hint: string }).hint).toContain("point dolt.url at a Dolt sql-server")
    }
    expect(status.reachable).toBe(false)
    expect(status.reason).toContain("is not a Dolt server")
    // Only the operational records: no batch was made, nothing came in.
    const after = await typesOf(town)
    expect(after.slice(before.length)).toEqual(["PushStarted", "PushFailed", "PullStarted", "PullFailed"])
    expect(shadowRefs(town)).toEqual([])
  })

  it("without dolt.url: add-peer succeeds, push and pull fail with DoltBackendRequired naming dolt.url", async () => {
    const town = await Effect.runPromise(openTown(maria.root(), "nourl", undefined))
    await setUp(town)
    const { pull, push, status } = await tryAll(town)
    for (const result of [push, pull] as ReadonlyArray<Either.Either<unknown, PeerFailure>>) {
      const error = failure(result)
      expect(error._tag).toBe("DoltBackendRequired")
      expect(error.message).toContain("dolt.url is not set")
      expect((error as { hint: string }).hint).toContain("bd config set dolt.url")
    }
    expect(status.reachable).toBe(false)
    expect(shadowRefs(town)).toEqual([])
  })

  it("a file:// peer added --via dolt goes to Dolt too (and so fails the same way); --via git on a Dolt remote is refused", async () => {
    const town = await Effect.runPromise(openTown(maria.root(), "via", undefined))
    await setUp(town, `file://${path.join(maria.root(), "via-endpoint")}`, "dolt")
    const peers = await run(town, Effect.flatMap(Federation, (f) => f.listPeers))
    expect(peers.map((p) => p.via)).toEqual(["dolt"])
    const { push } = await tryAll(town)
    expect(failure(push as Either.Either<unknown, PeerFailure>)._tag).toBe("DoltBackendRequired")
    expect(fs.existsSync(path.join(maria.root(), "via-endpoint"))).toBe(false)
    const refused = await run(town, Effect.either(Effect.flatMap(Federation, (f) =>
      f.addPeer({ name: "other", endpoint: "gs://bucket-1/beads", via: "git", sovereignty: undefined, credentials: undefined }))))
    expect(failure(refused)._tag).toBe("InvalidArgument")
  })
})
