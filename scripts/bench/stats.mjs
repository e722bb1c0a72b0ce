// Timing and the statistics every benchmark shares: medians of baseline and
// subject runs taken in alternation, so that a noisy neighbour on a 2-core
// machine slows both sides rather than one.

export const median = (values) => {
  if (values.length === 0) return Number.NaN
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
}

/** A full collection before a timed run, when node runs with --expose-gc. */
export const collectGarbage = () => {
  if (typeof globalThis.gc === "function") globalThis.gc()
}

/** Milliseconds an (async) function takes; its result is kept so a caller can check it. */
export const timed = async (run) => {
  collectGarbage()
  const started = performance.now()
  const value = await run()
  return { ms: performance.now() - started, value }
}

/**
 * Run rounds as `reps` ({ pairs, minPairs, seconds }) allows: up to `pairs`,
 * but no new round once it would likely end past `seconds` and `minPairs`
 * are done, so a slow subject or a busy machine cannot stretch the run for
 * hours. The results record how many samples were taken.
 */
export const repeat = async (reps, runRound) => {
  const started = performance.now()
  for (let round = 0; round < reps.pairs; round++) {
    const spent = (performance.now() - started) / 1000
    if (round >= reps.minPairs && spent + spent / round > reps.seconds) break
    await runRound(round)
  }
}

/**
 * Rounds of one baseline and one subject run; odd rounds run the subject
 * first, so neither side always gets the warmer machine. Each run returns
 * its own measurement (milliseconds, or a throughput).
 */
export const alternate = async (reps, runBaseline, runSubject) => {
  const baseline = []
  const subject = []
  await repeat(reps, async (round) => {
    if (round % 2 === 0) {
      baseline.push(await runBaseline(round))
      subject.push(await runSubject(round))
    } else {
      subject.push(await runSubject(round))
      baseline.push(await runBaseline(round))
    }
  })
  return { baseline, subject }
}

/** Repetitions: at most `pairs`, at least `minPairs`, aiming to stay within `seconds`. */
export const reps = (pairs, minPairs, seconds) => ({ pairs, minPairs: Math.min(minPairs, pairs), seconds })

export const round = (value, digits = 3) => Number(value.toFixed(digits))
