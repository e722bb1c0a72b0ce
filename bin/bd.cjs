#!/usr/bin/env node
// Start-up matters for a CLI run many times a minute: load the bundled bd
// through V8's code cache, so most of its code is not parsed and compiled
// again on every run. The cache is made at build time and remade here when
// V8 rejects it (another Node version); when it cannot be written, bd
// simply runs without it.
"use strict"
const fs = require("node:fs")
const path = require("node:path")
const vm = require("node:vm")
const Module = require("node:module")

const bundle = path.join(__dirname, "..", "dist", "bd-main.cjs")
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
  process.once("beforeExit", () => {
    try {
      fs.writeFileSync(`${cacheFile}.${process.pid}`, script.createCachedData())
      fs.renameSync(`${cacheFile}.${process.pid}`, cacheFile)
    } catch {}
  })
}
const mod = { exports: {} }
script.runInThisContext().call(mod.exports, mod.exports, require, mod, bundle, path.dirname(bundle))
