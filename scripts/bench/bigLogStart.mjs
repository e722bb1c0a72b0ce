// 4. Does start-up stay flat as the log grows? `bd federation list-peers` in
// the big town of benchmark 3 against a town of the same kind with a small
// log. Snapshots are what should make the difference disappear.
import * as fs from "node:fs"
import * as path from "node:path"
import { WARMUP_RUNS } from "./coldStart.mjs"
import { bd, bdMs, waitForDaemon } from "./processes.mjs"
import { timeFigure } from "./report.mjs"
import { alternate } from "./stats.mjs"
import { fillLikeBigTown } from "./replay.mjs"
import { createTown, PEERS } from "./towns.mjs"

const snapshotSeq = (town) => {
  const snapshots = path.join(town.logDir, "snapshots")
  const current = fs.readFileSync(path.join(snapshots, "CURRENT"), "utf8").trim()
  return JSON.parse(fs.readFileSync(path.join(snapshots, current, "meta.json"), "utf8")).seq
}

const peerNames = (town) => JSON.parse(bd(["--json", "federation", "list-peers"], town.options).stdout).map((peer) => peer.name)

export const bigLogStart = async ({ root, sizes, progress, shared }) => {
  const big = shared.bigTown
  if (big === undefined) throw new Error("needs the big town of benchmark 3, which did not complete")
  if (!fs.existsSync(path.join(big.logDir, "snapshots", "CURRENT"))) throw new Error(`no snapshots/CURRENT in ${big.logDir}`)
  const small = createTown(root, "small-town", { mode: "dolt-native", peers: PEERS })
  await fillLikeBigTown(small, sizes.smallTownEvents, sizes, () => {})
  const [bigPeers, smallPeers] = [peerNames(big), peerNames(small)]
  if (bigPeers.join() !== PEERS.join() || smallPeers.join() !== PEERS.join()) {
    throw new Error(`both towns should list ${PEERS.join(", ")}; they list [${bigPeers}] and [${smallPeers}]`)
  }
  const bigLabel = `${sizes.replayEvents.toLocaleString("en-US")} ev`
  const smallLabel = `${sizes.smallTownEvents.toLocaleString("en-US")} ev`
  progress(`list-peers: ${bigLabel} vs ${smallLabel}, up to ${sizes.bigLogStart.pairs} alternating pairs`)
  for (let i = 0; i < WARMUP_RUNS; i++) {
    bdMs(["federation", "list-peers"], small.options)
    bdMs(["federation", "list-peers"], big.options)
  }
  waitForDaemon(small.options)
  const runs = await alternate(
    sizes.bigLogStart,
    () => bdMs(["federation", "list-peers"], small.options),
    () => bdMs(["federation", "list-peers"], big.options)
  )
  return [
    timeFigure({
      id: "4",
      title: "list-peers cold start, big log vs small log",
      baselineLabel: smallLabel,
      subjectLabel: bigLabel,
      ...runs,
      target: 1.2,
      note: `events past the latest snapshot: ${(sizes.replayEvents - snapshotSeq(big)).toLocaleString("en-US")} in the big log, ` +
        `${sizes.smallTownEvents.toLocaleString("en-US")} in the small one (no snapshot yet)`
    })
  ]
}
