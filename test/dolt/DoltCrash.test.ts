/**
 * The server dies in the middle of a big catch-up (SIGKILL, as a crash or
 * an OOM kill would): the catch-up fails with a typed error, what was
 * committed is consistent (the checkpoint says exactly which events are
 * in), and after a restart the next catch-up converges: every table equals
 * the folded state, with no duplicate and no missing row.
 */
import { Effect, Either } from "effect"
import * as path from "node:path"
import { describe, expect, it } from "vitest"
import { Federation } from "../../src/services/Federation.js"
import { Issues } from "../../src/services/Issues.js"
import { catchUp, connect, expectProjectionEqualsState, externalServer, freshServer, openTown, run, type Server, useMariaDb, withEnv } from "./support.js"

const maria = useMariaDb("crash")
const external = externalServer("the crash test (it kills the server mid catch-up)")
const EVENTS = 20_000

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

const checkpointSeq = async (server: Server): Promise<number> => {
  const c = await connect(server)
  try {
    const [rows] = await c.query("SELECT last_seq FROM bd_checkpoint WHERE id = 1")
    return Number((rows as Array<{ last_seq: number }>)[0]?.last_seq ?? 0)
  } finally {
    await c.end().catch(() => c.destroy())
  }
}

describe("a server killed during a catch-up", () => {
  it.skipIf(external)(`converges after a restart, with no duplicates (${EVENTS.toLocaleString("en-US")} events)`, { timeout: 300_000 }, async (ctx) => {
    const bed = maria.get(ctx)
    const root = path.join(maria.root(), "crash")
    // The log is filled while no projection is configured, so all of it is to catch up.
    const town = await Effect.runPromise(openTown(root, "crash", undefined))
    await run(town, Effect.flatMap(Issues, (issues) => issues.importRecords(
      Array.from({ length: EVENTS }, (_, n) => ({
        id: `bd-c${n}`,
        title: n % 7 === 0 ? `'); DROP TABLE bd_issues; -- ${n}` : `imported ${n}`,
        status: n % 3 === 0 ? "closed" : "open",
        priority: n % 5,
        labels: n % 2 === 0 ? ["even"] : ["odd", "x\\y"]
      })),
      false
    )))
    await run(town, Effect.flatMap(Federation, (f) =>
      f.addPeer({ name: "mirror", endpoint: "dolthub://org/mirror", sovereignty: undefined, credentials: undefined })))
    for (let i = 0; i < 3; i++) await run(town, Effect.flatMap(Issues, (issues) => issues.update(`bd-c${i}`, { set: { title: `changed ${i}` } })))

    const server = await freshServer(bed, "bd_crash")
    const wired = withEnv(town, { BD_DOLT_URL: server.url, BD_DOLT_PASSWORD: server.password })
    const first = Effect.runPromise(Effect.either(catchUp(wired)))
    let killedAt = 0
    for (;;) {
      const seq = await checkpointSeq(server).catch(() => 0)
      if (seq >= 4_000) {
        await bed.kill()
        killedAt = seq
        break
      }
      await sleep(10)
    }
    const outcome = await first
    expect(Either.isLeft(outcome), "the catch-up outlived the server").toBe(true)
    if (Either.isLeft(outcome)) {
      expect(outcome.left._tag).toBe("DoltUnavailable")
      expect(outcome.left.message).not.toContain(server.password)
    }

    await bed.restart()
    const c = await connect(server)
    const [[state]] = (await c.query(
      "SELECT (SELECT last_seq FROM bd_checkpoint WHERE id = 1) AS checkpoint, COUNT(*) AS events, MAX(seq) AS maxSeq FROM bd_events"
    )) as unknown as [[{ checkpoint: number; events: number; maxSeq: number }]]
    await c.end()
    console.log(`killed at checkpoint ${killedAt}; after the restart: checkpoint ${state.checkpoint}, ${state.events} event rows`)
    // What was committed is whole: the rows and the checkpoint moved together.
    expect(state.checkpoint).toBeGreaterThanOrEqual(killedAt)
    expect(state.checkpoint).toBeLessThan(EVENTS)
    expect(Number(state.events)).toBe(Number(state.checkpoint))
    expect(Number(state.maxSeq)).toBe(Number(state.checkpoint))

    // Meanwhile the town went on (without the server): issues written before the crash change again.
    for (const id of ["bd-c0", "bd-c1", `bd-c${EVENTS - 1}`]) {
      await run(town, Effect.flatMap(Issues, (issues) => issues.update(id, { set: { title: `after the crash: ${id}` }, addLabels: ["late"] })))
    }
    const second = await Effect.runPromise(catchUp(wired))
    expect(second.from.seq).toBe(Number(state.checkpoint))
    await expectProjectionEqualsState(wired, server)
    const third = await Effect.runPromise(catchUp(wired))
    expect(third.events).toBe(0)
    await expectProjectionEqualsState(wired, server)
  })
})
