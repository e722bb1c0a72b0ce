/**
 * Values that look like SQL are data: titles, descriptions, labels, peer
 * names, endpoints, actors and sync messages are bound parameters, stored
 * and read back verbatim (quotes, backslashes, comment markers, NUL, line
 * breaks, unicode beyond the BMP), and no statement of theirs ever runs.
 */
import { SqlClient } from "@effect/sql"
import { Chunk, Effect, Stream } from "effect"
import * as path from "node:path"
import { describe, expect, it } from "vitest"
import { EventLog } from "../../src/events/EventLog.js"
import { batchRows } from "../../src/layers/DoltRows.js"
import { ensureSchema } from "../../src/layers/DoltSchema.js"
import { DoltSqlLive } from "../../src/layers/DoltSql.js"
import { literal, plainLiteral } from "../../src/layers/DoltStatements.js"
import { ensureCheckpointRow, START, writeBatch } from "../../src/layers/DoltWriter.js"
import { Issues } from "../../src/services/Issues.js"
import {
  appendRaw,
  connect,
  expectProjectionEqualsState,
  freshServer,
  openTown,
  projectionOf,
  run,
  useMariaDb,
  withEnv
} from "./support.js"

const maria = useMariaDb("sql-text")

const NASTY = [
  "'); DROP TABLE bd_issues; --",
  "Robert'); DROP TABLE bd_events;--",
  "\" OR \"1\"=\"1",
  "' OR 1=1 #",
  "back\\slash \\\\ double \\' escaped \\\" quote \\n not a newline",
  "line\nbreak\ttab\rreturn",
  "nul \u0000 inside",
  "%_ wildcards, `ticks`, $1 ? :name @var",
  "ünïcödé 🚀 שלום 中文 𝔘𝔫𝔦 é (e + combining)",
  "/* comment */ SELECT SLEEP(5); -- "
]

const TABLES = ["bd_checkpoint", "bd_conflicts", "bd_events", "bd_issues", "bd_peers", "bd_schema_version", "bd_sync_runs"]

describe("SQL-looking text in the projection", () => {
  it("is stored verbatim in every table, and no statement of it runs", { timeout: 120_000 }, async (ctx) => {
    const bed = maria.get(ctx)
    const server = await freshServer(bed, "bd_text")
    const town = await Effect.runPromise(openTown(path.join(maria.root(), "text"), "text", server))

    // Through the commands (validated input) ...
    const created: Array<Readonly<Record<string, unknown>>> = []
    for (const text of NASTY.filter((t) => !/[\u0000-\u001f]/.test(t))) {
      const fields = await run(town, Effect.flatMap(Issues, (issues) =>
        issues.create({ title: text, description: `${text}\n${text}`, labels: [text, "plain"], assignee: text.slice(0, 40) })))
      expect(fields["title"]).toBe(text.trim()) // the command trims titles; nothing else changes them
      created.push(fields)
    }
    // ... and as raw events, which no validation stands in front of.
    await run(town, appendRaw(town, [
      ...NASTY.map((text, n) => ({
        type: "IssueImported",
        data: { id: `raw-${n}-${text}`, fields: { id: `raw-${n}-${text}`, title: text, notes: text, labels: [text], [`field ${text}`]: text } }
      })),
      ...NASTY.map((text) => ({ type: "PeerAdded", data: { name: text, endpoint: `dolthub://org/${text}`, hasCredentials: false } })),
      { type: "PeerRemoved", data: { name: NASTY[0] } },
      { type: "PushFailed", data: { peer: NASTY[1], message: NASTY[2] } },
      { type: "PullCompleted", data: { peer: NASTY[3], batches: 0, events: 0 } }
    ]))

    await expectProjectionEqualsState(town, server)

    const c = await connect(server)
    try {
      for (const fields of created) {
        const [rows] = await c.query("SELECT title, description, labels, assignee FROM bd_issues WHERE id = ?", [fields["id"]])
        const row = (rows as Array<Record<string, string>>)[0]!
        expect(row["title"]).toBe(fields["title"])
        expect(row["description"]).toBe(fields["description"])
        expect(JSON.parse(row["labels"]!)).toEqual(fields["labels"])
        expect(row["assignee"]).toBe(fields["assignee"])
      }
      for (const [n, text] of NASTY.entries()) {
        const [rows] = await c.query("SELECT title, notes, labels, fields FROM bd_issues WHERE id = ?", [`raw-${n}-${text}`])
        const row = (rows as Array<Record<string, string>>)[0]!
        expect(row["title"]).toBe(text)
        expect(row["notes"]).toBe(text)
        expect(JSON.parse(row["labels"]!)).toEqual([text])
        expect(JSON.parse(row["fields"]!)[`field ${text}`]).toBe(text)
      }
      const [peers] = await c.query("SELECT name, endpoint FROM bd_peers ORDER BY name")
      expect((peers as Array<{ name: string }>).map((p) => p.name).sort()).toEqual(NASTY.slice(1).sort())
      for (const peer of peers as Array<{ name: string; endpoint: string }>) expect(peer.endpoint).toBe(`dolthub://org/${peer.name}`)
      const [runs] = await c.query("SELECT peer, operation, outcome, message FROM bd_sync_runs ORDER BY seq")
      expect(runs).toEqual([
        { peer: NASTY[1], operation: "push", outcome: "failed", message: NASTY[2] },
        { peer: NASTY[3], operation: "pull", outcome: "completed", message: null }
      ])
      const [actors] = await c.query("SELECT COUNT(*) AS n FROM bd_events WHERE actor = ?", ["tester"])
      expect((actors as Array<{ n: number }>)[0]!.n).toBeGreaterThan(0)
      const [tables] = await c.query("SHOW TABLES")
      expect((tables as Array<Record<string, string>>).map((row) => Object.values(row)[0]).sort()).toEqual(TABLES)
    } finally {
      await c.end()
    }
  })

  it("goes as bound parameters in a session that reads no backslash escapes, and is stored verbatim", { timeout: 120_000 }, async (ctx) => {
    const bed = maria.get(ctx)
    const server = await freshServer(bed, "bd_nobackslash")
    const town = await Effect.runPromise(openTown(path.join(maria.root(), "nobackslash"), "nobackslash", undefined))
    await run(town, appendRaw(town, NASTY.map((text, n) => ({
      type: "IssueImported",
      data: { id: `raw-${n}-${text}`, fields: { id: `raw-${n}-${text}`, title: text, notes: text, labels: [text] } }
    }))))
    const { target } = await Effect.runPromise(projectionOf(withEnv(town, { BD_DOLT_URL: server.url, BD_DOLT_PASSWORD: server.password })))
    const { events, loaded } = await run(town, Effect.flatMap(EventLog, (log) =>
      Effect.all({ events: Stream.runCollect(log.read()), loaded: log.load(["issues", "peers"]) })))
    const all = Chunk.toReadonlyArray(events)
    const mode = await Effect.runPromise(Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* ensureSchema(target.url)
      yield* ensureCheckpointRow(town.townId)
      // One connection in the pool: the batch runs in the session changed here.
      yield* sql.unsafe("SET SESSION sql_mode = CONCAT(@@SESSION.sql_mode, ',NO_BACKSLASH_ESCAPES')").unprepared
      const rows = yield* sql.unsafe<{ mode: string }>("SELECT @@SESSION.sql_mode AS mode").unprepared
      yield* writeBatch({
        url: target.url,
        town: town.townId,
        rows: batchRows(all, loaded.state.issues, loaded.state.peers),
        from: START,
        to: { seq: loaded.head.seq, hash: loaded.head.hash }
      })
      return rows[0]!.mode
    }).pipe(Effect.provide(DoltSqlLive({ ...target, poolSize: 1 }))))
    expect(mode).toContain("NO_BACKSLASH_ESCAPES")
    await expectProjectionEqualsState(town, server)
  })

  it("literals escape what the server reads as an escape or an end, and plain literals are only plain text", () => {
    expect(literal("it's a \\ path\n")).toBe("'it\\'s a \\\\ path\\n'")
    expect(literal("nul \u0000, cr \r, lf \n, ctrl-z \u001a")).toBe("'nul \\0, cr \\r, lf \\n, ctrl-z \\Z'")
    expect(literal("\" and ` stay")).toBe("'\" and ` stay'")
    expect(literal(null)).toBe("NULL")
    expect(literal(true)).toBe("TRUE")
    expect(literal(-12)).toBe("-12")
    expect(() => literal(Number.NaN)).toThrow()
    expect(plainLiteral("0123abcdef")).toBe("'0123abcdef'")
    expect(plainLiteral(42)).toBe("42")
    for (const text of ["it's", "back\\slash", "line\nbreak", "ünï"]) expect(plainLiteral(text)).toBeUndefined()
  })

  it("keeps issue ids that differ only in case or trailing spaces apart", async (ctx) => {
    const bed = maria.get(ctx)
    const server = await freshServer(bed, "bd_keys")
    const town = await Effect.runPromise(openTown(path.join(maria.root(), "keys"), "keys", server))
    const ids = ["bd-abc", "BD-ABC", "bd-abc ", "bd-äbc", "bd-a\u0308bc"]
    await run(town, appendRaw(town, ids.map((id) => ({ type: "IssueImported", data: { id, fields: { id, title: `title of ${JSON.stringify(id)}` } } }))))
    await expectProjectionEqualsState(town, server)
    const c = await connect(server)
    const [rows] = await c.query("SELECT COUNT(*) AS n FROM bd_issues")
    await c.end()
    expect((rows as Array<{ n: number }>)[0]!.n).toBe(ids.length)
  })
})
