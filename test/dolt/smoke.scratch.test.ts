import { Effect } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, beforeAll, expect, it } from "vitest"
import { Issues } from "../../src/services/Issues.js"
import { requireMariaDb, type MariaDbBed } from "../beds/mariadb.js"
import { expectProjectionEqualsState, freshServer, openTown, readTables, run } from "./support.js"

let bed: MariaDbBed
let root: string
beforeAll(async () => {
  bed = await requireMariaDb()
  root = fs.mkdtempSync(path.join(os.tmpdir(), "bd-dolt-smoke-"))
})
afterAll(async () => {
  await bed?.stop()
})

it("smoke", async () => {
  const server = await freshServer(bed, "bd_smoke")
  const town = await Effect.runPromise(openTown(root, "a", server))
  for (let i = 0; i < 5; i++) {
    await run(town, Effect.flatMap(Issues, (issues) => issues.create({ title: `t'); DROP TABLE bd_issues; -- ${i}`, labels: ["x", "y\\z"] })))
  }
  console.log(JSON.stringify((await readTables(server)).checkpoint))
  await expectProjectionEqualsState(town, server)
}, 60_000)
