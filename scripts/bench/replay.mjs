// 3. A full replay of a big log (what `bd federation replay --until <last
// seq>` does, through `replayUntil`) against the least any reader must do:
// JSON.parse every line of the same segment files. The town is generated
// once with the library and kept for benchmark 4.
import { Effect, Either, HashMap } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { parseLogPoint, replayUntil } from "../../dist/lib/index.js"
import { bd } from "./processes.mjs"
import { speedFigure } from "./report.mjs"
import { alternate, collectGarbage, timed } from "./stats.mjs"
import { createTown, fillTown, logBytes, logLayer, PEERS, segmentFiles } from "./towns.mjs"
import { townWorkload } from "./workload.mjs"

/** Read every segment and JSON.parse every line; the number of lines. */
const parseEveryLine = (logDir) => {
  let lines = 0
  for (const file of segmentFiles(logDir)) {
    const text = fs.readFileSync(file, "utf8")
    for (let start = 0, end = text.indexOf("\n"); end !== -1; start = end + 1, end = text.indexOf("\n", start)) {
      JSON.parse(text.slice(start, end))
      lines++
    }
  }
  return lines
}

/** The replay as `bd federation replay --until <last seq>` runs it. */
const replayAll = (town, lastSeq) => {
  const layer = logLayer(town.logDir, town.townId)
  const point = Either.getOrThrow(parseLogPoint("--until", String(lastSeq)))
  return Effect.runPromise(replayUntil(point).pipe(Effect.provide(layer)))
}

/** The events a town of `total` events gets through the library, after the CLI added its peers. */
export const fillLikeBigTown = (town, total, sizes, onProgress) =>
  fillTown(town, townWorkload({ town: town.townId, seed: 11 }), {
    total: total - PEERS.length,
    batchSize: sizes.replayBatch,
    tail: total >= 2 * sizes.replayTail ? sizes.replayTail : 0,
    onProgress
  })

export const replay = async ({ root, sizes, progress, note, shared }) => {
  const total = sizes.replayEvents
  const town = createTown(root, "big-town", { mode: "dolt-native", peers: PEERS })
  progress(`generating ${total.toLocaleString("en-US")} events in transacts of ${sizes.replayBatch.toLocaleString("en-US")} (last one ${sizes.replayTail})`)
  const generated = await timed(() =>
    fillLikeBigTown(town, total, sizes, (done, all) => {
      if (done % (sizes.replayBatch * 5) === 0) progress(`  ${Math.round((100 * done) / all)}%`)
    })
  )
  if (!fs.existsSync(path.join(town.logDir, "snapshots", "CURRENT"))) throw new Error(`no snapshot in ${town.logDir}`)
  note("replayLog", {
    events: total,
    bytes: logBytes(town.logDir),
    segments: segmentFiles(town.logDir).length,
    generationSeconds: Number((generated.ms / 1000).toFixed(1))
  })
  shared.bigTown = town

  progress(`replay of ${total.toLocaleString("en-US")} events vs JSON.parse of every line, up to ${sizes.replayReps.pairs} pairs`)
  const runs = await alternate(
    sizes.replayReps,
    async () => {
      const { ms, value } = await timed(() => parseEveryLine(town.logDir))
      if (value !== total) throw new Error(`the log has ${value} lines, expected ${total}`)
      return ms
    },
    async () => {
      const { ms, value } = await timed(() => replayAll(town, total))
      if (value.head.seq !== total) throw new Error(`replay stopped at seq ${value.head.seq}, expected ${total}`)
      if (HashMap.size(value.state.peers.peers) !== PEERS.length) throw new Error("replay folded the wrong peers")
      return ms
    }
  )
  const figures = [
    speedFigure({
      id: "3",
      title: `replay of ${total.toLocaleString("en-US")} events (replayUntil)`,
      baselineLabel: "JSON.parse",
      subjectLabel: "replay",
      ...runs,
      target: 0.5
    })
  ]

  progress("bd federation verify on the same log")
  collectGarbage()
  const verify = bd(["--json", "federation", "verify"], town.options)
  const report = JSON.parse(verify.stdout)
  if (report.events !== total) throw new Error(`verify counted ${report.events} events, expected ${total}`)
  figures.push(speedFigure({
    id: "3v",
    title: `bd federation verify, ${total.toLocaleString("en-US")} events`,
    baselineLabel: "JSON.parse",
    subjectLabel: "verify",
    baseline: runs.baseline,
    subject: [verify.ms],
    note: "one run of the CLI process, against the JSON.parse medians above"
  }))
  return figures
}
