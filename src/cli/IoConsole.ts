/**
 * Effect's Console on a run's own output (Globals.Io): what the commands
 * and @effect/cli print goes where the run's output goes — this process's
 * stdout and stderr, or the socket of a client the daemon serves. Node's
 * console does the formatting, on streams that hand each write over.
 */
import { Console, Effect } from "effect"
import { Console as NodeConsole } from "node:console"
import { Writable } from "node:stream"
import type { Io } from "./Io.js"

const sink = (write: (text: string) => void): Writable =>
  new Writable({
    decodeStrings: false,
    write(chunk: string | Buffer, _encoding, done) {
      write(typeof chunk === "string" ? chunk : chunk.toString("utf8"))
      done()
    }
  })

export const consoleOn = (io: Io): Console.Console => {
  const unsafe = new NodeConsole({ stdout: sink(io.out), stderr: sink(io.err) })
  const run = (f: () => void) => Effect.sync(f)
  return {
    [Console.TypeId]: Console.TypeId,
    assert: (condition, ...args) => run(() => unsafe.assert(condition, ...args)),
    clear: run(() => unsafe.clear()),
    count: (label) => run(() => unsafe.count(label)),
    countReset: (label) => run(() => unsafe.countReset(label)),
    debug: (...args) => run(() => unsafe.debug(...args)),
    dir: (item, options) => run(() => unsafe.dir(item, options)),
    dirxml: (...args) => run(() => unsafe.dirxml(...args)),
    error: (...args) => run(() => unsafe.error(...args)),
    group: (options) => run(() => (options?.collapsed ? unsafe.groupCollapsed(options.label) : unsafe.group(options?.label))),
    groupEnd: run(() => unsafe.groupEnd()),
    info: (...args) => run(() => unsafe.info(...args)),
    log: (...args) => run(() => unsafe.log(...args)),
    table: (data, properties) => run(() => unsafe.table(data, properties)),
    time: (label) => run(() => unsafe.time(label)),
    timeEnd: (label) => run(() => unsafe.timeEnd(label)),
    timeLog: (label, ...args) => run(() => unsafe.timeLog(label, ...args)),
    trace: (...args) => run(() => unsafe.trace(...args)),
    warn: (...args) => run(() => unsafe.warn(...args)),
    unsafe
  }
}
