// A second process working on an event log through the built library
// (dist/lib), for tests where a reader and a writer must really overlap.
//
//   node logWorker.mjs write DIR COUNT     append COUNT peers, a snapshot after every event
//   node logWorker.mjs read DIR STOPFILE   load and verify until STOPFILE exists
//
// Prints one JSON line: {"done": n, "failures": n, "first": "message"}.
import { Effect, Either } from "effect"
import * as fs from "node:fs"
import { EventLog, FederationDecider, FileEventLogLive, SliceNames } from "../../dist/lib/index.js"

const [role, dir, arg] = process.argv.slice(2)
const layer = FileEventLogLive({
  dir,
  town: "0123456789abcdef",
  readonlyReason: undefined,
  lockTimeoutMs: 60_000,
  command: `logWorker ${role}`,
  snapshotEvery: 1,
  notice: () => {}
})

const addPeer = (log, name) =>
  log.transact(["peers"], (state) =>
    Either.map(
      FederationDecider.decide(state.peers, {
        _tag: "AddPeer",
        name,
        endpoint: `file:///tmp/${name}`,
        sovereignty: undefined,
        hasCredentials: false,
        actor: "worker",
        at: new Date().toISOString()
      }),
      (events) => ({ events, result: name })
    ))

const program = Effect.gen(function*() {
  const log = yield* EventLog
  let done = 0
  let failures = 0
  let first
  const attempt = function*(effect) {
    const outcome = yield* Effect.either(effect)
    if (Either.isRight(outcome)) done++
    else {
      failures++
      first ??= `${outcome.left._tag}: ${outcome.left.message}`
    }
  }
  if (role === "write") {
    for (let i = 0; i < Number(arg); i++) yield* attempt(addPeer(log, `w${i}`))
  } else {
    while (!fs.existsSync(arg)) {
      yield* attempt(log.load(SliceNames))
      yield* attempt(log.verify)
    }
  }
  return { done, failures, first }
})

Effect.runPromise(Effect.provide(program, layer)).then(
  (result) => process.stdout.write(`${JSON.stringify(result)}\n`),
  (error) => {
    process.stderr.write(`${String(error)}\n`)
    process.exit(1)
  }
)
