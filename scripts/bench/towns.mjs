// Towns for the benchmarks: made with the real CLI (`bd init`, `bd config
// set`, `bd federation add-peer`), then filled through the built library's
// event log, in batches, as many commands over a long time would fill them.
import { Effect, Either } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { DEFAULT_SNAPSHOT_EVERY, EventLog, FileEventLogLive } from "../../dist/lib/index.js"
import { bd, bdOptions } from "./processes.mjs"

export const PEERS = ["alpha", "beta", "gamma"]

/**
 * A fresh town in `<root>/<name>`: `sync.mode` as given (git-portable when
 * omitted, as `bd init` leaves it) and the named peers.
 */
export const createTown = (root, name, { mode, peers = [] } = {}) => {
  const dir = path.join(root, name)
  fs.mkdirSync(dir, { recursive: true })
  const options = bdOptions(root, dir)
  bd(["init", "--town", name], options)
  if (mode !== undefined) bd(["config", "set", "sync.mode", mode], options)
  for (const peer of peers) bd(["federation", "add-peer", peer, `dolthub://bench/${peer}`], options)
  const beadsDir = path.join(dir, ".beads")
  const { townId } = JSON.parse(fs.readFileSync(path.join(beadsDir, "town.json"), "utf8"))
  return { name, dir, beadsDir, logDir: path.join(beadsDir, "log"), townId, options }
}

/** The file event log of a log directory, as bd opens it (notices are unexpected here: they fail the run). */
export const logLayer = (logDir, townId, { snapshotEvery = DEFAULT_SNAPSHOT_EVERY } = {}) =>
  FileEventLogLive({
    dir: logDir,
    town: townId,
    readonlyReason: undefined,
    lockTimeoutMs: 10_000,
    command: "bench",
    snapshotEvery,
    notice: (message) => {
      throw new Error(`unexpected notice from the event log: ${message}`)
    }
  })

/** One transact that appends `events`, deciding on the named slices (as a command would). */
export const appendOnce = (layer, events, slices = ["clock"]) =>
  Effect.runPromise(
    Effect.flatMap(EventLog, (log) => log.transact(slices, () => Either.right({ events, result: events.length }))).pipe(
      Effect.provide(layer)
    )
  )

/** Append `total` events of a workload in transacts of `batchSize`; the last `tail` events come in a transact of their own. */
export const fillTown = async (town, workload, { total, batchSize, tail = 0, onProgress = () => {} }) => {
  const layer = logLayer(town.logDir, town.townId)
  const sizes = []
  let left = total - tail
  while (left > 0) {
    sizes.push(Math.min(batchSize, left))
    left -= batchSize
  }
  if (tail > 0) sizes.push(tail)
  let done = 0
  for (const size of sizes) {
    await appendOnce(layer, workload.batch(size))
    done += size
    onProgress(done, total)
  }
}

/** Segment files of a log directory, in order. */
export const segmentFiles = (logDir) =>
  fs.readdirSync(logDir).filter((name) => /^\d{6}\.jsonl$/.test(name)).sort().map((name) => path.join(logDir, name))

export const logBytes = (logDir) => segmentFiles(logDir).reduce((sum, file) => sum + fs.statSync(file).size, 0)
