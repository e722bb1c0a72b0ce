// 2. Durable appends: what the log adds on top of writing the same bytes and
// fsyncing them. (a) one big transact, (b) one-event transacts in a loop,
// in-process; (c) one-event commands as separate `bd` processes.
import { Effect, Either } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { EventLog } from "../../dist/lib/index.js"
import { WARMUP_RUNS } from "./coldStart.mjs"
import { bdMs, run } from "./processes.mjs"
import { throughputFigure } from "./report.mjs"
import { alternate, collectGarbage, median, timed } from "./stats.mjs"
import { appendOnce, createTown, logLayer, segmentFiles } from "./towns.mjs"
import { createdEvents } from "./workload.mjs"

const TOWN_ID = "be4c0000f00d0001"

/** The plain floor: write the buffers in order, fsync after each, to a fresh file. */
const writeAndFsync = (file, buffers) => {
  const fd = fs.openSync(file, "a", 0o644)
  try {
    for (const bytes of buffers) {
      let written = 0
      while (written < bytes.length) written += fs.writeSync(fd, bytes, written, bytes.length - written)
      fs.fsyncSync(fd)
    }
  } finally {
    fs.closeSync(fd)
  }
}

const logContent = (logDir) => Buffer.concat(segmentFiles(logDir).map((file) => fs.readFileSync(file)))

const lineBuffers = (bytes) => {
  const lines = []
  for (let start = 0, end = bytes.indexOf(10); end !== -1; start = end + 1, end = bytes.indexOf(10, start)) {
    lines.push(bytes.subarray(start, end + 1))
  }
  return lines
}

const oneEventTransacts = (layer, events) =>
  Effect.runPromise(
    Effect.flatMap(EventLog, (log) =>
      Effect.forEach(events, (event) => log.transact(["issues"], () => Either.right({ events: [event], result: 1 })), { discard: true })
    ).pipe(Effect.provide(layer))
  )

/**
 * Alternate the subject (appending `events` through the log, fresh log each
 * run) with the floor (the same bytes, split the same way, fsynced).
 */
const inProcess = async ({ root, name, reps, count, appendAll, split }) => {
  let runNumber = 0
  const freshLog = () => path.join(root, "append", `${name}-${runNumber++}`, "log")
  const dropLog = (logDir) => fs.rmSync(path.dirname(logDir), { recursive: true, force: true })
  // A first, untimed run warms the code and gives the exact bytes the log writes.
  const warm = freshLog()
  await appendAll(logLayer(warm, TOWN_ID))
  const buffers = split(logContent(warm))
  dropLog(warm)
  const subject = async () => {
    const logDir = freshLog()
    const layer = logLayer(logDir, TOWN_ID)
    const { ms } = await timed(() => appendAll(layer))
    if (segmentFiles(logDir).length === 0) throw new Error(`nothing was appended in ${logDir}`)
    dropLog(logDir)
    return count / (ms / 1000)
  }
  const baseline = async () => {
    const logDir = freshLog()
    fs.mkdirSync(logDir, { recursive: true })
    const { ms } = await timed(() => writeAndFsync(path.join(logDir, "000001.jsonl"), buffers))
    dropLog(logDir)
    return count / (ms / 1000)
  }
  return { runs: await alternate(reps, baseline, subject), bytes: buffers.reduce((sum, b) => sum + b.length, 0) }
}

// A separate process that appends one line durably, as small as a durable command can be.
const APPEND_ONE_LINE = `const fs=require("node:fs");const fd=fs.openSync(process.argv[1],"a");` +
  `fs.writeSync(fd,process.argv[2]+"\\n");fs.fsyncSync(fd);fs.closeSync(fd)`

export const appendThroughput = async ({ root, sizes, progress, note }) => {
  const figures = []

  progress(`(a) one transact of ${sizes.bigBatch.toLocaleString("en-US")} events vs write+fsync of the same bytes, ${sizes.appendReps} pairs`)
  const big = createdEvents(sizes.bigBatch, TOWN_ID)
  const a = await inProcess({
    root,
    name: "a",
    reps: sizes.appendReps,
    count: big.length,
    appendAll: (layer) => appendOnce(layer, big, ["issues"]),
    split: (bytes) => [bytes]
  })
  note("appendBatchBytes", a.bytes)
  figures.push(throughputFigure({
    id: "2a",
    title: `append: 1 transact of ${sizes.bigBatch.toLocaleString("en-US")} events`,
    unit: "events/s",
    baselineLabel: "write+fsync",
    subjectLabel: "transact",
    ...a.runs,
    note: "the transact includes its snapshot (taken once 2,000 events have accumulated)"
  }))

  progress(`(b) ${sizes.smallCommands} one-event transacts vs ${sizes.smallCommands} write+fsync, ${sizes.appendReps} pairs`)
  const small = createdEvents(sizes.smallCommands, TOWN_ID, 5)
  const b = await inProcess({
    root,
    name: "b",
    reps: sizes.appendReps,
    count: small.length,
    appendAll: (layer) => oneEventTransacts(layer, small),
    split: lineBuffers
  })
  figures.push(throughputFigure({
    id: "2b",
    title: `append: ${sizes.smallCommands} one-event transacts, in-process`,
    unit: "events/s",
    baselineLabel: "write+fsync",
    subjectLabel: "transact",
    ...b.runs
  }))

  progress(`(c) bd create x ${sizes.createCommands} vs a node process appending one line, ${sizes.createBlocks} block(s) of alternating pairs`)
  const town = createTown(root, "create-town")
  const floorFile = path.join(root, "append", "one-line-per-process.jsonl")
  const line = JSON.stringify({ type: "IssueCreated", data: big[0].data, seq: 1, hash: "0".repeat(64), prev: "0".repeat(64) })
  const baselineMs = () => {
    collectGarbage()
    return run(process.execPath, ["-e", APPEND_ONE_LINE, floorFile, line], town.options).ms
  }
  let title = 0
  const subjectMs = () => bdMs(["create", `title ${++title}`], town.options)
  for (let i = 0; i < WARMUP_RUNS; i++) {
    baselineMs()
    subjectMs()
  }
  const blocks = { baseline: [], subject: [] }
  for (let block = 0; block < sizes.createBlocks; block++) {
    const runs = await alternate(sizes.createCommands, baselineMs, subjectMs)
    const perSecond = (times) => times.length / (times.reduce((sum, ms) => sum + ms, 0) / 1000)
    blocks.baseline.push(perSecond(runs.baseline))
    blocks.subject.push(perSecond(runs.subject))
  }
  figures.push(throughputFigure({
    id: "2c",
    title: `append: bd create x ${sizes.createCommands}, one process each`,
    unit: "cmds/s",
    baselineLabel: "node append+fsync",
    subjectLabel: "bd create",
    ...blocks,
    note: `median over ${sizes.createBlocks} block(s); mean per command: ` +
      `baseline ${(1000 / median(blocks.baseline)).toFixed(1)} ms, bd create ${(1000 / median(blocks.subject)).toFixed(1)} ms`
  }))
  return figures
}
