// Build: the bundled CLI (dist/bd-main.cjs, loaded by bin/bd.cjs), its V8
// code cache, the daemon client (dist/bd-client.cjs), and the library
// (dist/lib: ESM + type declarations).
import { build } from "esbuild"
import { execFileSync } from "node:child_process"
import { mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { fileURLToPath } from "node:url"
import * as path from "node:path"

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)))
const { version } = JSON.parse(readFileSync(path.join(root, "package.json"), "utf8"))
const dist = path.join(root, "dist")

// Stale code caches are dropped; V8 would reject them anyway.
for (const file of (() => { try { return readdirSync(dist) } catch { return [] } })()) {
  if (file.endsWith(".cache")) rmSync(path.join(dist, file), { force: true })
}

/** A minified CommonJS bundle for the launcher (bin/bd.cjs) to load. */
const cliBundle = (entry, outfile, extra = {}) =>
  build({
    entryPoints: [path.join(root, entry)],
    outfile: path.join(dist, outfile),
    bundle: true,
    platform: "node",
    format: "cjs",
    target: "node20",
    minify: true,
    legalComments: "none",
    logLevel: "warning",
    ...extra
  })

await cliBundle("src/cli/bin.ts", "bd-main.cjs", { define: { __BD_VERSION__: JSON.stringify(version) } })
// The launcher's daemon client, on its own: node built-ins only, loaded before (and mostly instead of) the bundle.
await cliBundle("src/cli/DaemonClient.ts", "bd-client.cjs")

await build({
  entryPoints: [path.join(root, "src/index.ts")],
  outfile: path.join(dist, "lib", "index.js"),
  bundle: true,
  packages: "external",
  platform: "node",
  format: "esm",
  target: "node20",
  logLevel: "warning"
})

execFileSync(process.execPath, [path.join(root, "node_modules/typescript/bin/tsc"), "-p", path.join(root, "tsconfig.build.json")], {
  stdio: "inherit"
})

// The code cache holds what V8 compiled during the run that wrote it. It is
// written by a `bd create` in a throwaway town (its own HOME) whose SQL
// projection points at a port where nothing listens: that run goes through
// the CLI, the config, the log's read and write paths, and loads and starts
// the SQL driver (mysql2, @effect/sql) before the connection is refused. A
// command that projects then compiles little of the driver lazily (bench 8b:
// 1.38 -> 1.27 with, against without the projection), and `bd federation
// list-peers` costs the same CPU as with a cache written by itself.
const bin = path.join(root, "bin/bd.cjs")
const town = mkdtempSync(path.join(tmpdir(), "bd-build-"))
try {
  const env = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: town, BD_ACTOR: "build", LANG: "C.UTF-8", BD_NO_DAEMON: "1" }
  const bd = (...args) => execFileSync(process.execPath, [bin, ...args], { cwd: town, env, stdio: "ignore" })
  bd("init", "--town", "build")
  bd("config", "set", "sync.mode", "dolt-native")
  bd("federation", "add-peer", "origin-town", "file:///nonexistent/beads.git")
  bd("config", "set", "dolt.url", "mysql://build@127.0.0.1:9/beads")
  for (const file of readdirSync(dist)) if (file.endsWith(".cache")) rmSync(path.join(dist, file), { force: true })
  bd("create", "warm the code cache")
} finally {
  rmSync(town, { recursive: true, force: true })
}
const caches = readdirSync(dist).filter((f) => f.endsWith(".cache"))
console.log(`built dist/bd-main.cjs, dist/lib (bd ${version}; code cache: ${caches.length > 0 ? "yes" : "no"})`)
