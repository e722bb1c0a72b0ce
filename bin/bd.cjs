#!/usr/bin/env node
// The `bd` command. A command that only reads, or `bd import`, goes to the
// bd daemon when one runs for this build (src/cli/Daemon.ts): starting Node
// costs this process little, evaluating bd costs it nothing. Otherwise (or
// when the daemon answers that this process must run it: src/cli/DaemonServed.ts)
// bd runs here, and a daemon is started in the background for the next command.
// BD_NO_DAEMON=1 (or BEADS_NO_DAEMON=1) keeps every command in its own process.
//
// Running here, the bundled bd is loaded through V8's code cache, so most
// of its code is not parsed and compiled again on every run. The cache is
// made at build time and remade here when V8 rejects it (another Node
// version); when it cannot be written, bd simply runs without it.
"use strict"
const fs = require("node:fs")
const path = require("node:path")

// A reader that stops early (`bd list | head`) closes the pipe: the rest of
// the output is dropped, as git drops it, and the command still finishes.
// Output that cannot be written otherwise (a full disk) fails the command:
// exit code 1, unless it had failed already, and a word on stderr.
let lostOutput
for (const stream of [process.stdout, process.stderr]) {
  stream.on("error", (error) => {
    if (error.code !== "EPIPE" && lostOutput === undefined) lostOutput = error
  })
}
process.on("exit", (code) => {
  if (lostOutput === undefined) return
  process.stderr.write(`Error: bd's output could not be written (${lostOutput.message})\nHint: the command itself ran to its end; only what it printed was lost\n`)
  if (code === 0) process.exitCode = 1
})

const dist = path.join(__dirname, "..", "dist")
const bundle = path.join(dist, "bd-main.cjs")
const argv = process.argv.slice(2)

const load = () => {
  const vm = require("node:vm")
  const Module = require("node:module")
  const cacheFile = `${bundle}.${process.version}.cache`
  let source
  try {
    source = fs.readFileSync(bundle, "utf8")
  } catch {
    process.stderr.write("bd: the CLI is not built yet; run: npm run build\n")
    process.exit(1)
  }
  let cachedData
  try {
    cachedData = fs.readFileSync(cacheFile)
  } catch {}
  const script = new vm.Script(Module.wrap(source), { filename: bundle, cachedData })
  if (cachedData === undefined || script.cachedDataRejected) {
    // On exit, whether the event loop ran dry or bd called process.exit (it does once its output is flushed).
    process.once("exit", () => {
      try {
        fs.writeFileSync(`${cacheFile}.${process.pid}`, script.createCachedData())
        fs.renameSync(`${cacheFile}.${process.pid}`, cacheFile)
      } catch {}
    })
  }
  const mod = { exports: {} }
  script.runInThisContext().call(mod.exports, mod.exports, require, mod, bundle, dist)
  return mod.exports
}

if (argv[0] === "--bd-daemon") {
  load().serve(argv[1], argv[2])
} else {
  let client
  try {
    client = require(path.join(dist, "bd-client.cjs"))
  } catch {}
  const socket = client === undefined ? undefined : client.daemonSocketFor(bundle, process.env)
  if (socket === undefined) {
    load().run(argv, undefined)
  } else {
    client.runViaDaemon(socket, argv, client.processIo()).then((outcome) => {
      if (typeof outcome === "number") {
        process.exitCode = outcome
        return
      }
      // The daemon is spawned before the command runs: bd exits as soon as the command's output is flushed.
      const started = outcome === "absent" && !client.isDaemonCommand(argv) ? client.startDaemon(__filename, socket, process.env) : undefined
      Promise.resolve(started).finally(() => load().run(argv, socket))
    })
  }
}
