/**
 * The Remote a town runs with: each peer goes to the engine that carries it
 * (`PeerTarget.engine`), git or Dolt, and both keep their batches in the one
 * shadow repository, so the Sync service never asks which engine it talks
 * to. Without a Dolt server (`dolt.url`), a Dolt peer fails when it is used
 * — at push, pull or status, never at add-peer — with DoltBackendRequired.
 */
import { CommandExecutor } from "@effect/platform"
import { Effect, Layer } from "effect"
import { endpointEngine } from "../domain/Endpoint.js"
import { DoltBackendRequired } from "../domain/Errors.js"
import { type PeerTarget, Remote, type RemoteApi, type TownUpdate } from "../services/Remote.js"
import { type DoltTarget } from "./DoltSql.js"
import { type DoltTransport, makeDoltTransport } from "./DoltRemote.js"
import { type GitRemoteOptions, makeGitRemote } from "./GitRemote.js"

export type Route = "git" | "dolt" | "no-dolt-server"

/** Where a peer's batches go. */
export const routeOf = (peer: Pick<PeerTarget, "engine">, doltConfigured: boolean): Route =>
  peer.engine === "git" ? "git" : doltConfigured ? "dolt" : "no-dolt-server"

export const noDoltServer = (peer: PeerTarget) =>
  new DoltBackendRequired({
    backend: "",
    reason: `peer ${peer.name} (${peer.endpoint.raw}) moves its events through Dolt (${
      endpointEngine(peer.endpoint) === "dolt" ? "a Dolt remote" : "added --via dolt"
    }), which needs a Dolt SQL server, and dolt.url is not set`,
    advice: "point bd at a Dolt sql-server: bd config set dolt.url mysql://user@host:3306/beads   (password: BD_DOLT_PASSWORD); see docs/DOLT.md"
  })

/** Fetch problems found while bringing Dolt rows in are added to what the shadow repository's checks find. */
const withFetchProblems = (found: ReadonlyArray<TownUpdate>, problems: ReadonlyArray<TownUpdate>): ReadonlyArray<TownUpdate> => {
  const byTown = new Map(problems.map((p) => [p.town, p.problem]))
  const merged = found.map((u) => (u.problem === undefined && byTown.has(u.town) ? { ...u, problem: byTown.get(u.town) } : u))
  const seen = new Set(found.map((u) => u.town))
  return [...merged, ...problems.filter((p) => !seen.has(p.town))]
}

export const routedRemote = (git: RemoteApi, dolt: DoltTransport | undefined): RemoteApi => {
  const route = <A, E>(peer: PeerTarget, onGit: () => Effect.Effect<A, E>, onDolt: (d: DoltTransport) => Effect.Effect<A, E>) => {
    switch (routeOf(peer, dolt !== undefined)) {
      case "git":
        return onGit()
      case "dolt":
        return onDolt(dolt!)
      case "no-dolt-server":
        return Effect.fail(noDoltServer(peer))
    }
  }
  return {
    ...git,
    fetch: (peer) => route(peer, () => git.fetch(peer), (d) => d.fetch(peer)),
    push: (peer, relay) => route(peer, () => git.push(peer, relay), (d) => d.push(peer, relay)),
    probe: (peer) => route(peer, () => git.probe(peer), (d) => d.probe(peer)),
    incoming: (peer) =>
      peer.engine === "dolt" && dolt !== undefined
        ? Effect.zipWith(git.incoming(peer), dolt.fetchProblems(peer), withFetchProblems)
        : git.incoming(peer)
  }
}

export interface RemoteOptions extends GitRemoteOptions {
  /** The Dolt SQL server that carries Dolt peers, when `dolt.url` is set. */
  readonly dolt: DoltTarget | undefined
}

/** git for git peers, the Dolt server for Dolt peers; one shadow repository under both. */
export const RemoteLive = (options: RemoteOptions): Layer.Layer<Remote, never, CommandExecutor.CommandExecutor> =>
  Layer.effect(
    Remote,
    Effect.gen(function*() {
      const executor = yield* CommandExecutor.CommandExecutor
      const { remote, shadow } = makeGitRemote(options, executor)
      const dolt = options.dolt === undefined ? undefined : yield* makeDoltTransport(options.dolt, options.town, shadow)
      return routedRemote(remote, dolt)
    })
  )
