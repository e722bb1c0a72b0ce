import { execFileSync } from "node:child_process"
import { existsSync } from "node:fs"
import { createConnection, type Connection, type RowDataPacket } from "mysql2/promise"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { MariaDbMissingError, requireMariaDb, startMariaDb, type MariaDbBed } from "./mariadb.js"

const HOOK_TIMEOUT = 60_000
const external = (process.env["BD_TEST_MYSQL_URL"] ?? "") !== ""

const connect = (bed: MariaDbBed, url = bed.url): Promise<Connection> =>
  createConnection({ uri: url, password: bed.password })

const rows = async (c: Connection, sql: string): Promise<Array<RowDataPacket>> => {
  const [result] = await c.query<Array<RowDataPacket>>(sql)
  return result
}

/** Command lines of running mariadbd processes (pgrep exits 1 when there are none). */
const mariadbdProcesses = (): Array<string> => {
  try {
    return execFileSync("pgrep", ["-a", "-x", "mariadbd"], { encoding: "utf8" }).split("\n").filter((l) => l !== "")
  } catch {
    return []
  }
}

let bed: MariaDbBed | undefined
let skipReason = ""

beforeAll(async () => {
  const t0 = performance.now()
  try {
    bed = await requireMariaDb()
  } catch (e) {
    if (!(e instanceof MariaDbMissingError)) throw e
    skipReason = e.message
    console.warn(`skipping MariaDB bed tests: ${skipReason}`)
    return
  }
  console.log(`MariaDB bed ready in ${Math.round(performance.now() - t0)} ms at ${bed.url}`)
}, HOOK_TIMEOUT)

afterAll(async () => {
  await bed?.stop()
}, HOOK_TIMEOUT)

describe("MariaDB test bed", () => {
  it("accepts the bed user with url + password and stores rows", async (ctx) => {
    if (bed === undefined) return ctx.skip(skipReason)
    expect(bed.url).toBe(`mysql://${bed.user}@${bed.host}:${bed.port}/${bed.database}`)
    expect(bed.url).not.toContain(bed.password)
    const c = await connect(bed)
    try {
      await c.query("CREATE TABLE items (id INT PRIMARY KEY, title VARCHAR(100)) ENGINE=InnoDB")
      await c.query("INSERT INTO items VALUES (1, 'one'), (2, 'two')")
      expect(await rows(c, "SELECT id, title FROM items ORDER BY id")).toEqual([
        { id: 1, title: "one" },
        { id: 2, title: "two" }
      ])
    } finally {
      await c.end()
    }
  })

  it("rejects a wrong password", async (ctx) => {
    if (bed === undefined) return ctx.skip(skipReason)
    await expect(createConnection({ uri: bed.url, password: "wrong" })).rejects.toThrow(/Access denied/)
  })

  it("gives isolated databases from createDatabase", async (ctx) => {
    if (bed === undefined) return ctx.skip(skipReason)
    const url = await bed.createDatabase("bd_isolated")
    expect(url).toBe(`mysql://${bed.user}@${bed.host}:${bed.port}/bd_isolated`)
    const other = await connect(bed, url)
    const main = await connect(bed)
    try {
      expect(await rows(other, "SELECT DATABASE() AS db")).toEqual([{ db: "bd_isolated" }])
      await other.query("CREATE TABLE items (id INT PRIMARY KEY)")
      await other.query("INSERT INTO items VALUES (42)")
      expect(await rows(other, "SELECT id FROM items")).toEqual([{ id: 42 }])
      expect(await rows(main, "SELECT id FROM items ORDER BY id")).toEqual([{ id: 1 }, { id: 2 }])
      // Asking again gives a fresh, empty database.
      await bed.createDatabase("bd_isolated")
      expect(await rows(main, "SHOW TABLES FROM bd_isolated")).toEqual([])
    } finally {
      await other.end().catch(() => other.destroy())
      await main.end()
    }
  })

  it.skipIf(external)("fails queries after kill() and keeps committed data across restart()", async (ctx) => {
    if (bed === undefined) return ctx.skip(skipReason)
    const c = await connect(bed)
    await c.query("INSERT INTO items VALUES (3, 'three')") // autocommit: durable from here on
    await bed.kill()
    await expect(c.query("SELECT 1")).rejects.toThrow()
    c.destroy()
    await expect(connect(bed)).rejects.toThrow()

    const t0 = performance.now()
    await bed.restart()
    console.log(`MariaDB bed restarted (crash recovery) in ${Math.round(performance.now() - t0)} ms`)
    const again = await connect(bed)
    try {
      expect(await rows(again, "SELECT id FROM items ORDER BY id")).toEqual([{ id: 1 }, { id: 2 }, { id: 3 }])
    } finally {
      await again.end()
    }
  })

  it.skipIf(external)("stop() leaves no mariadbd process and no files", async (ctx) => {
    if (bed === undefined) return ctx.skip(skipReason)
    const c = await connect(bed)
    const [{ datadir }] = (await rows(c, "SELECT TRIM(TRAILING '/' FROM @@datadir) AS datadir")) as [{ datadir: string }]
    await c.end()
    expect(mariadbdProcesses().some((p) => p.includes(datadir))).toBe(true)
    await bed.stop()
    expect(mariadbdProcesses().filter((p) => p.includes(datadir))).toEqual([])
    expect(existsSync(datadir)).toBe(false)
    await expect(bed.restart()).rejects.toThrow(/stopped/)
  })

  it.skipIf(external)("stop() after a crash removes the server's leftover files", { timeout: HOOK_TIMEOUT }, async (ctx) => {
    if (bed === undefined) return ctx.skip(skipReason)
    const crashed = await startMariaDb()
    try {
      const c = await createConnection({ uri: crashed.url, password: crashed.password })
      const [{ datadir }] = (await rows(c, "SELECT TRIM(TRAILING '/' FROM @@datadir) AS datadir")) as [{ datadir: string }]
      c.destroy()
      await crashed.kill()
      expect(mariadbdProcesses().filter((p) => p.includes(datadir))).toEqual([])
      expect(existsSync(crashed.socket)).toBe(true) // a SIGKILLed server leaves its socket behind
      await crashed.stop()
      expect(existsSync(datadir)).toBe(false)
      expect(existsSync(crashed.socket)).toBe(false)
    } finally {
      await crashed.stop()
    }
  })
})
