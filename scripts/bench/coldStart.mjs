// 1. How much slower than an empty node process is the command people run
// most in a federated town: `bd federation list-peers`, 3 peers, dolt-native,
// served by the bd daemon as after any earlier command; 1b, each in its own
// process (the first command, or BD_NO_DAEMON=1).
import { timeFigure } from "./report.mjs"
import { bdMs, nodeNoopMs, waitForDaemon } from "./processes.mjs"
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
  // bd as people run it: the daemon, started by an earlier command, serves the read.
  bdMs(["federation", "list-peers"], town.options)
  waitForDaemon(town.options)
  progress(`list-peers vs node -e 0, ${sizes.coldStart.pairs} alternating pairs`)
  const runs = await versusNodeNoop(sizes.coldStart, town.options, () => bdMs(["federation", "list-peers"], town.options))
  // And each run in its own process, as the first command does (or every one with BD_NO_DAEMON=1).
  const alone = { ...town.options, env: { ...town.options.env, BD_NO_DAEMON: "1" } }
  progress(`list-peers with BD_NO_DAEMON=1 vs node -e 0, ${sizes.coldStart.pairs} alternating pairs`)
  const aloneRuns = await versusNodeNoop(sizes.coldStart, alone, () => bdMs(["federation", "list-peers"], alone))
  return [
    timeFigure({
      id: "1",
      title: "list-peers cold start (dolt-native, 3 peers)",
      baselineLabel: "node -e 0",
      subjectLabel: "bd",
      ...runs,
      target: 2.5
    }),
    timeFigure({
      id: "1b",
      title: "list-peers cold start, BD_NO_DAEMON=1 (info)",
      baselineLabel: "node -e 0",
      subjectLabel: "bd alone",
      ...aloneRuns
    })
  ]
}
