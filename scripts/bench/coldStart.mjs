// 1. How much slower than an empty node process is the command people run
// most in a federated town: `bd federation list-peers`, 3 peers, dolt-native.
import { timeFigure } from "./report.mjs"
import { bdMs, nodeNoopMs } from "./processes.mjs"
import { alternate } from "./stats.mjs"
import { createTown, PEERS } from "./towns.mjs"

export const WARMUP_RUNS = 2

/** Warm both sides (page cache, code cache), then alternate. */
export const versusNodeNoop = async (reps, options, subject) => {
  for (let i = 0; i < WARMUP_RUNS; i++) {
    nodeNoopMs(options)
    subject()
  }
  return alternate(reps, () => nodeNoopMs(options), subject)
}

export const coldStart = async ({ root, sizes, progress }) => {
  const town = createTown(root, "peers-town", { mode: "dolt-native", peers: PEERS })
  progress(`list-peers vs node -e 0, ${sizes.coldStart.pairs} alternating pairs`)
  const runs = await versusNodeNoop(sizes.coldStart, town.options, () => bdMs(["federation", "list-peers"], town.options))
  return [
    timeFigure({
      id: "1",
      title: "list-peers cold start (dolt-native, 3 peers)",
      baselineLabel: "node -e 0",
      subjectLabel: "bd",
      ...runs,
      target: 2.5
    })
  ]
}
