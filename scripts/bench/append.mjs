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
import { alternate, collectGarbage, median, repeat, reps, timed } from "./stats.mjs"
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
const inProcess = async ({ root, name, repetitions, count, appendAll, split }) => {
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
  return { runs: await alternate(repetitions, baseline, subject), bytes: buffers.reduce((sum, b) => sum + b.length, 0) }
}

// A separate process that appends one line durably, as small as a durable command can be.
const APPEND_ONE_LINE = `const fs=require("node:fs");const fd=fs.openSync(process.argv[1],"a");` +
  `fs.writeSync(fd,process.argv[2]+"\\n");fs.fsyncSync(fd);fs.closeSync(fd)`

const bigTransact = async ({ root, sizes, progress, note }) => {
  const size = sizes.bigBatch.toLocaleString("en-US")
  progress(`(a) one transact of ${size} events vs write+fsync of the same bytes, up to ${sizes.bigBatchReps.pairs} pairs`)
  const events = createdEvents(sizes.bigBatch, TOWN_ID)
  const measured = await inProcess({
    root,
    name: "a",
    repetitions: sizes.bigBatchReps,
    count: events.length,
    appendAll: (layer) => appendOnce(layer, events, ["issues"]),
    split: (bytes) => [bytes]
  })
  note("appendBatchBytes", measured.bytes)
  return throughputFigure({
    id: "2a",
    title: `append: 1 transact of ${size} events`,
    unit: "events/s",
    baselineLabel: "write+fsync",
    subjectLabel: "transact",
    ...measured.runs,
    note: "the transact includes its snapshot (taken once 2,000 events have accumulated)"
  })
}

const smallTransacts = async ({ root, sizes, progress }) => {
  const count = sizes.smallCommands
  progress(`(b) ${count} one-event transacts vs ${count} write+fsync, up to ${sizes.smallCommandsReps.pairs} pairs`)
  const events = createdEvents(count, TOWN_ID, 5)
  const measured = await inProcess({
    root,
    name: "b",
    repetitions: sizes.smallCommandsReps,
    count,
    appendAll: (layer) => oneEventTransacts(layer, events),
    split: lineBuffers
  })
  return throughputFigure({
    id: "2b",
    title: `append: ${count} one-event transacts, in-process`,
    unit: "events/s",
    baselineLabel: "write+fsync",
    subjectLabel: "transact",
    ...measured.runs
  })
}

const createCommands = async ({ root, sizes, progress }) => {
  const count = sizes.createCommands
  progress(`(c) bd create x ${count} vs a node process appending one line, up to ${sizes.createBlocks.pairs} block(s) of alternating pairs`)
  const town = createTown(root, "create-town")
  const floorFile = path.join(root, "append", "one-line-per-process.jsonl")
  fs.mkdirSync(path.dirname(floorFile), { recursive: true })
  const [event] = createdEvents(1, TOWN_ID, 7)
  const line = JSON.stringify({ ...event, seq: 1, prev: "0".repeat(64), hash: "0".repeat(64) })
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
  // A block is the whole loop of commands, alternating baseline and bd command by command.
  const perSecond = (times) => times.length / (times.reduce((sum, ms) => sum + ms, 0) / 1000)
  const blocks = { baseline: [], subject: [] }
  await repeat(sizes.createBlocks, async () => {
    const runs = await alternate(reps(count, count, Infinity), baselineMs, subjectMs)
    blocks.baseline.push(perSecond(runs.baseline))
    blocks.subject.push(perSecond(runs.subject))
  })
  return throughputFigure({
    id: "2c",
    title: `append: bd create x ${count}, one process each`,
    unit: "cmds/s",
    baselineLabel: "node append+fsync",
    subjectLabel: "bd create",
    ...blocks,
    note: `median over ${blocks.subject.length} block(s); mean per command: ` +
      `baseline ${(1000 / median(blocks.baseline)).toFixed(1)} ms, bd create ${(1000 / median(blocks.subject)).toFixed(1)} ms`
  })
}

export const appendThroughput = async (context) => [
  await bigTransact(context),
  await smallTransacts(context),
  await createCommands(context)
]
