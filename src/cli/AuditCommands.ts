/** `bd federation log | replay | verify`: the log made auditable. */
import { Command, Options } from "@effect/cli"
import { Chunk, Console, Effect, Either, HashMap, Option, Stream } from "effect"
import { listPeers } from "../domain/Federation.js"
import { InvalidArgument } from "../domain/Errors.js"
import { parseLogPoint } from "../domain/LogPoint.js"
import type { Envelope } from "../events/Envelope.js"
import { EventLog } from "../events/EventLog.js"
import { eventsSince, lastEvents, replayUntil } from "../services/Audit.js"
import { Sync } from "../services/Sync.js"
import { Globals } from "./Globals.js"
import { emit } from "./Output.js"
import { inTown } from "./Runtime.js"

const summary = (event: Envelope): string => {
  const data = event.data as Record<string, unknown> | null
  if (data === null || typeof data !== "object") return ""
  const parts = ["name", "id", "endpoint", "title"].flatMap((key) =>
    typeof data[key] === "string" ? [`${key}=${JSON.stringify(data[key])}`] : []
  )
  return parts.join(" ")
}

const eventLine = (event: Envelope): string =>
  `${String(event.seq).padStart(6)}  ${event.at}  ${event.id}  ${event.actor}  ${event.type}  ${summary(event)}`.trimEnd()

export const logCommand = Command.make(
  "log",
  {
    since: Options.text("since").pipe(Options.optional, Options.withDescription("SEQ (exclusive), EVENT-ID (exclusive) or TIME (inclusive)")),
    type: Options.text("type").pipe(Options.optional, Options.withDescription("only events of this type")),
    limit: Options.integer("limit").pipe(Options.withAlias("n"), Options.optional, Options.withDescription("only the last N events"))
  },
  ({ limit, since, type }) =>
    inTown("bd federation log", Effect.gen(function*() {
      const point = Option.isSome(since) ? yield* Either.map(parseLogPoint("--since", since.value), Option.some) : Option.none()
      const events = lastEvents(
        yield* Stream.runCollect(eventsSince({ since: Option.getOrUndefined(point), type: Option.getOrUndefined(type) })),
        limit
      )
      if (Option.isSome(point) && point.value._tag === "EventId") {
        const id = point.value.id
        const exists = yield* Stream.runHead(Stream.filter((yield* EventLog).read(), (event) => event.id === id))
        if (Option.isNone(exists)) {
          return yield* Effect.fail(new InvalidArgument({ argument: "--since", value: id, allowed: "the id of an event in this log" }))
        }
      }
      const globals = yield* Globals
      if (globals.json) return yield* Console.log(JSON.stringify(Chunk.toReadonlyArray(events)))
      if (Chunk.isEmpty(events)) return yield* Console.log("No events.")
      yield* Console.log(Chunk.toReadonlyArray(events).map(eventLine).join("\n"))
    }))
).pipe(Command.withDescription("Show the events of the log, oldest first"))

export const replayCommand = Command.make(
  "replay",
  { until: Options.text("until").pipe(Options.withDescription("SEQ, EVENT-ID or TIME: the last event to fold")) },
  ({ until }) =>
    inTown("bd federation replay", Effect.gen(function*() {
      const point = yield* parseLogPoint("--until", until)
      const replayed = yield* replayUntil(point)
      const peers = listPeers(replayed.state.peers)
      yield* emit(
        () => ({
          seq: replayed.head.seq,
          hash: replayed.head.hash,
          at: replayed.at ?? null,
          peers: peers.map((peer) => ({ name: peer.name, endpoint: peer.endpoint, ...(peer.sovereignty ? { sovereignty: peer.sovereignty } : {}) })),
          clock: replayed.state.clock
        }),
        () => [
          `State after seq ${replayed.head.seq}${replayed.at ? ` (${replayed.at})` : ""}:`,
          `  peers (${HashMap.size(replayed.state.peers.peers)}):`,
          ...peers.map((peer) => `    ${peer.name}  ${peer.endpoint}${peer.sovereignty ? `  ${peer.sovereignty}` : ""}`)
        ]
      )
    }))
).pipe(Command.withDescription("Show the federation state as it was at a point of the log"))

export const verifyCommand = Command.make("verify", {}, () =>
  inTown("bd federation verify", Effect.gen(function*() {
    const report = yield* (yield* EventLog).verify
    const ingested = yield* (yield* Sync).verifyIngested
    yield* emit(
      () => ({ ok: true, ...report, ingested }),
      () => [
        `ok: ${report.events} events in ${report.segments} segment(s), chain intact`,
        `head: seq ${report.head.seq} ${report.head.hash}`,
        `snapshot: ${report.snapshotSeq === 0 ? "none" : `at seq ${report.snapshotSeq}, matches the log`}`,
        `signatures: ${ingested.events} event(s) of ${ingested.towns} other town(s) match ${ingested.batches} signed batch(es) from trusted keys`,
        ...(report.unfinishedLines > 0 ? [`note: ${report.unfinishedLines} line(s) of an unfinished write at the end (cut by the next write)`] : [])
      ]
    )
  }))).pipe(Command.withDescription("Check the whole hash chain and the snapshot"))
