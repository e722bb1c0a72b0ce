/** beads JSONL: `bd export | import | sync`, and what each sync mode writes after a command. */
import * as fs from "node:fs"
import * as path from "node:path"
import { describe, expect, it } from "vitest"
import { main } from "../../src/cli/main.js"
import { Exit, expectFails, expectFailsOnce, jsonl, lines, logBytes, readJsonl, record, Sandbox, setupCli } from "./support.js"

setupCli()

type Issue = Record<string, unknown> & { id: string }

describe.concurrent("bd export", () => {
  it("writes .beads/issues.jsonl sorted by id; the same state gives the same bytes; -o FILE and -o -", async () => {
    const sb = new Sandbox("export")
    await sb.town()
    const created: Array<Issue> = []
    for (const title of ["one", "two", "three"]) created.push(await sb.json<Issue>(["create", title, "-l", "b,a"]))
    await sb.ok(["close", created[1]!.id, "-r", "done"])
    const file = sb.path(".beads", "issues.jsonl")
    expect(fs.existsSync(file)).toBe(false)
    expect((await sb.ok(["export"])).stdout).toBe(`Exported 3 work item(s) to ${file}\n`)
    const first = fs.readFileSync(file)
    const records = readJsonl(file)
    expect(records.map((r) => r["id"])).toEqual(created.map((i) => i.id).sort())
    expect(first.toString("utf8").endsWith("}\n")).toBe(true)
    // Closed items are exported too, with every field.
    expect(records.find((r) => r["id"] === created[1]!.id)).toMatchObject({ status: "closed", close_reason: "done", labels: ["a", "b"] })

    const [again, toFile, toStdout] = await Promise.all([
      sb.json(["export"]),
      sb.json(["export", "-o", "sub/out.jsonl"], { cwd: sb.cwd }),
      sb.ok(["export", "-o", "-"])
    ])
    expect(again).toEqual({ file, issues: 3 })
    expect(fs.readFileSync(file).equals(first)).toBe(true)
    expect(toFile).toEqual({ file: sb.path("sub", "out.jsonl"), issues: 3 })
    expect(fs.readFileSync(sb.path("sub", "out.jsonl")).equals(first)).toBe(true)
    expect(toStdout.stdout).toBe(first.toString("utf8"))
    // No temporary files are left behind.
    expect(fs.readdirSync(sb.path(".beads")).filter((name) => name.endsWith(".tmp"))).toEqual([])
  })

  it("-o - of an empty town prints nothing (the same bytes as the file)", async () => {
    const sb = new Sandbox("export-empty")
    await sb.town()
    const [toFile, toStdout] = await Promise.all([sb.ok(["export"]), sb.ok(["export", "-o", "-"])])
    expect(toFile.stdout).toBe(`Exported 0 work item(s) to ${sb.path(".beads", "issues.jsonl")}\n`)
    expect(fs.readFileSync(sb.path(".beads", "issues.jsonl"), "utf8")).toBe("")
    expect(toStdout.stdout).toBe("")
  })
})

describe.concurrent("bd import", () => {
  it("show, list and update --json print an imported issue's fields in the export's order", async () => {
    const sb = new Sandbox("import-order")
    await sb.town()
    // Unknown fields, and known ones in an order of their own.
    const file = sb.path("order.jsonl")
    fs.writeFileSync(file, jsonl([{ zeta: 1, ...record("ord-1", { assignee: "amy", labels: ["x"] }), alpha: true }]))
    await sb.ok(["import", file])
    await sb.ok(["export", "-o", sb.path("out.jsonl")])
    const exported = Object.keys(readJsonl(sb.path("out.jsonl"))[0]!)
    expect(exported.slice(0, 2)).toEqual(["id", "title"])
    expect(exported.slice(-2)).toEqual(["alpha", "zeta"])
    const shown = (await sb.json<Array<Issue>>(["show", "ord-1"]))[0]!
    expect(Object.keys(shown)).toEqual(exported)
    const listed = (await sb.json<Array<Issue>>(["list"]))[0]!
    expect(Object.keys(listed)).toEqual(exported)
    const updated = (await sb.json<Array<Issue>>(["update", "ord-1", "--notes", "n"]))[0]!
    expect(Object.keys(updated).filter((key) => key !== "notes")).toEqual(exported)
  })

  it("imports, --dry-run changes nothing, a second import appends nothing, a newer record updates", async () => {
    const sb = new Sandbox("import")
    const town = await sb.town()
    const file = sb.path("in.jsonl")
    fs.writeFileSync(file, jsonl([record("ext-a"), record("ext-b", { assignee: "alice" })]))

    const dry = await sb.json(["import", "--dry-run", "in.jsonl"])
    expect(dry).toEqual({ file: "in.jsonl", dryRun: true, records: 2, created: 2, updated: 0, unchanged: 0, events: 2 })
    expect((await sb.ok(["import", "in.jsonl", "--dry-run"])).stdout).toBe("Would import in.jsonl: 2 record(s), 2 new, 0 updated, 0 unchanged\n")
    expect(logBytes(town)).toEqual({})
    expect(await sb.json(["list"])).toEqual([])

    expect((await sb.ok(["import", "in.jsonl"])).stdout).toBe("Imported in.jsonl: 2 record(s), 2 new, 0 updated, 0 unchanged\n")
    const shown = await sb.json<Array<Issue>>(["list"])
    expect(shown.map((i) => i.id)).toEqual(["ext-a", "ext-b"])
    expect(shown[1]).toMatchObject({ ...record("ext-b", { assignee: "alice" }), source_system: town.townId })

    const before = logBytes(town)
    expect(await sb.json(["import", file])).toEqual({ file, dryRun: false, records: 2, created: 0, updated: 0, unchanged: 2, events: 0 })
    expect(logBytes(town)).toEqual(before)

    // A newer updated_at updates; an older one, even with other values, does not.
    fs.writeFileSync(file, jsonl([
      record("ext-a", { title: "Renamed upstream", updated_at: "2025-02-01T00:00:00Z" }),
      record("ext-b", { title: "Stale rename", updated_at: "2024-12-31T00:00:00Z" })
    ]))
    const dryUpdate = await sb.json(["import", "--dry-run", file])
    expect(dryUpdate).toMatchObject({ records: 2, created: 0, updated: 1, unchanged: 1 })
    expect(logBytes(town)).toEqual(before)
    expect(await sb.json(["import", file])).toMatchObject({ records: 2, created: 0, updated: 1, unchanged: 1, events: 1 })
    const [a, b] = await sb.json<Array<Issue>>(["list"])
    expect(a).toMatchObject({ title: "Renamed upstream", updated_at: "2025-02-01T00:00:00Z" })
    expect(b).toMatchObject({ title: "Issue ext-b", assignee: "alice" })
    // Importing the same file again appends nothing.
    const afterUpdate = logBytes(town)
    await sb.ok(["import", file])
    expect(logBytes(town)).toEqual(afterUpdate)
  })

  it("refuses a malformed file with exit 4 naming the line, and imports nothing of it", async () => {
    const sb = new Sandbox("import-bad")
    const town = await sb.town()
    await sb.ok(["create", "already here"])
    const before = logBytes(town)
    const good = (id: string) => JSON.stringify(record(id))
    const cases: ReadonlyArray<readonly [string, string, number, string]> = [
      ["bad-json.jsonl", `${good("x-1")}\n${good("x-2")}\n{"id": "x-3", title}\n${good("x-4")}\n`, 3, "invalid JSON"],
      ["no-id.jsonl", `${good("x-1")}\n${JSON.stringify({ title: "no id" })}\n`, 2, "missing or empty \"id\""],
      ["empty-id.jsonl", `${JSON.stringify(record(""))}\n`, 1, "missing or empty \"id\""],
      ["dup.jsonl", `${good("x-1")}\n${good("x-2")}\n${good("x-3")}\n${good("x-1")}\n`, 4, "duplicate id \"x-1\" (first at line 1)"],
      ["wrong-type.jsonl", `${good("x-1")}\n${JSON.stringify(record("x-2", { priority: "high" }))}\n`, 2, "\"priority\" must be an integer from 0 to 4"],
      ["title-number.jsonl", `${JSON.stringify(record("x-1", { title: 5 }))}\n`, 1, "\"title\" must be a string"],
      ["labels.jsonl", `${good("x-1")}\n${good("x-2")}\n${JSON.stringify(record("x-3", { labels: "a,b" }))}\n`, 3, "\"labels\" must be an array of strings"],
      ["time.jsonl", `${JSON.stringify(record("x-1", { updated_at: "yesterday" }))}\n`, 1, "\"updated_at\" must be an RFC 3339 timestamp"],
      ["array.jsonl", `${good("x-1")}\n[1, 2]\n`, 2, "expected a JSON object"],
      ["crlf.jsonl", `\uFEFF${good("x-1")}\r\n\r\n{oops\r\n`, 3, "invalid JSON"]
    ]
    for (const [name, text] of cases) fs.writeFileSync(sb.path(name), text)
    const [first, ...rest] = cases
    const error = await expectFails(sb, ["import", first![0]], {
      exit: Exit.invalidInput,
      code: "ImportInvalid",
      message: `cannot import ${first![0]}, line ${first![2]}: ${first![3]}`
    })
    expect(error.hint).toBe(`nothing was imported; fix line ${first![2]} of ${first![0]} and run the import again`)
    await Promise.all(rest.map(([name, , line, reason], i) =>
      expectFailsOnce(sb, ["import", name], {
        exit: Exit.invalidInput,
        code: "ImportInvalid",
        message: `cannot import ${name}, line ${line}: ${reason}`
      }, { json: i % 3 !== 0 })))
    // A dry run refuses it the same way.
    await expectFailsOnce(sb, ["import", "--dry-run", "dup.jsonl"], { exit: Exit.invalidInput, code: "ImportInvalid", message: "line 4" })
    expect(logBytes(town)).toEqual(before)
    expect(await sb.json(["list"])).toHaveLength(1)
  })

  it("a missing file is a clean error, not a stack trace", async () => {
    const sb = new Sandbox("import-missing")
    const town = await sb.town()
    // A file that is not there is a mistake in the command line (exit 4), not a failing disk.
    const error = await expectFails(sb, ["import", "no-such-file.jsonl"], { exit: Exit.invalidInput, code: "InvalidArgument", message: "no-such-file.jsonl" })
    expect(error.hint).toContain("existing beads JSONL file")
    expect(logBytes(town)).toEqual({})
  })

  it("accepts a BOM, CRLF line ends and blank lines", async () => {
    const sb = new Sandbox("import-bom")
    await sb.town()
    const text = `\uFEFF${JSON.stringify(record("w-1"))}\r\n\r\n\n${JSON.stringify(record("w-2", { title: "Zwei" }))}\r\n\r\n`
    fs.writeFileSync(sb.path("win.jsonl"), text)
    expect(await sb.json(["import", "win.jsonl"])).toMatchObject({ records: 2, created: 2 })
    const issues = await sb.json<Array<Issue>>(["list"])
    expect(issues.map((i) => [i.id, i["title"]])).toEqual([["w-1", "Issue w-1"], ["w-2", "Zwei"]])
  })

  it("round-trips unknown fields, nested objects, numbers and unicode: import then export gives the same objects", async () => {
    const sb = new Sandbox("roundtrip")
    const town = await sb.town()
    const records = [
      record("rt-1", {
        title: "Überprüfung 🚀 中文 — \"quoted\" \\ back",
        description: "line one\nline two\ttabbed\u2028separator",
        labels: ["α", "beta"],
        dependencies: [{ issue_id: "rt-1", depends_on_id: "rt-2", type: "blocks", created_at: "2025-01-01T10:00:00Z" }],
        comments: [{ id: 1, author: "zoë", text: "👍", created_at: "2025-01-01T10:00:00Z" }],
        source_system: "another-town",
        estimated_minutes: 90,
        ratio: 0.125,
        tiny: 1e-7,
        huge: 12345678901234,
        negative: -42,
        flag: false,
        metadata: { nested: { deeper: [1, "two", { three: 3, nothing: null }], empty: {} }, list: [] },
        "x-custom-field": "kept",
        "Ünïcödé key": "value"
      }),
      record("rt-2", {
        status: "closed",
        closed_at: "2025-01-02T00:00:00.123456789Z",
        close_reason: "fixed",
        source_system: town.townId,
        pinned: true,
        wisp_type: "ephemeral"
      }),
      record("rt-0", { status: "future_status", source_system: "old", "0numeric": 0, "10": "ten", "2": "two" })
    ]
    fs.writeFileSync(sb.path("rt.jsonl"), jsonl(records))
    await sb.ok(["import", "rt.jsonl"])
    const exported = await sb.ok(["export", "-o", "-"])
    const out = lines(exported.stdout).map((line) => JSON.parse(line) as Record<string, unknown>)
    const expected = [...records].sort((a, b) => (String(a["id"]) < String(b["id"]) ? -1 : 1))
    expect(out).toHaveLength(expected.length)
    out.forEach((object, i) => expect(object).toStrictEqual(expected[i]))
    // U+2028 is escaped in the file, so line-oriented tools see one issue per line.
    expect(exported.stdout).toContain("\\u2028")
    // Exporting what was imported, then importing the export, changes nothing.
    fs.writeFileSync(sb.path("again.jsonl"), exported.stdout)
    const before = logBytes(town)
    expect(await sb.json(["import", "again.jsonl"])).toMatchObject({ created: 0, updated: 0, unchanged: 3 })
    expect(logBytes(town)).toEqual(before)
  })
})

describe("a run in another directory than its process's (the daemon's runs, a library's main)", () => {
  it("import FILE and export -o FILE name files relative to the run's directory", async () => {
    const sb = new Sandbox("run-dir")
    await sb.town()
    const dir = sb.path("sub")
    fs.mkdirSync(dir)
    fs.writeFileSync(path.join(dir, "in.jsonl"), jsonl([record("rd-1"), record("rd-2")]))
    expect(process.cwd()).not.toBe(dir)
    const out: Array<string> = []
    const err: Array<string> = []
    const io = {
      cwd: dir,
      env: { ...sb.baseEnv(), PATH: process.env["PATH"] },
      out: (text: string) => void out.push(text),
      err: (text: string) => void err.push(text),
      errIsTTY: false
    }
    expect(await main(["import", "in.jsonl"], io), err.join("")).toBe(0)
    expect(await main(["export", "-o", "out.jsonl"], io), err.join("")).toBe(0)
    expect(out.join("")).toBe(
      `Imported in.jsonl: 2 record(s), 2 new, 0 updated, 0 unchanged\nExported 2 work item(s) to ${path.join(dir, "out.jsonl")}\n`
    )
    expect(readJsonl(path.join(dir, "out.jsonl")).map((r) => r["id"])).toEqual(["rd-1", "rd-2"])
    expect(fs.existsSync(path.join(process.cwd(), "out.jsonl"))).toBe(false)
  })
})

describe.concurrent("bd sync", () => {
  it("imports .beads/issues.jsonl as changed by git, then exports it again", async () => {
    const sb = new Sandbox("sync")
    const town = await sb.town()
    const file = path.join(town.beadsDir, "issues.jsonl")
    const mine = await sb.json<Issue>(["create", "mine"])
    // No file yet: sync only exports.
    expect(lines((await sb.ok(["sync"])).stdout)).toEqual([`Exported 1 work item(s) to ${file}`])
    // A teammate's changes arrive through git: a new issue and a newer version of mine.
    const exported = readJsonl(file)
    const changed = { ...exported[0]!, title: "mine, renamed by a teammate", updated_at: "2099-01-01T00:00:00Z" }
    fs.writeFileSync(file, jsonl([changed, record("zz-teammate")]))
    expect(lines((await sb.ok(["sync"])).stdout)).toEqual([
      `Imported ${file}: 2 record(s), 1 new, 1 updated, 0 unchanged`,
      `Exported 2 work item(s) to ${file}`
    ])
    const after = readJsonl(file)
    expect(after.map((r) => r["id"])).toEqual([mine.id, "zz-teammate"])
    expect(after[0]).toMatchObject({ title: "mine, renamed by a teammate" })
    expect((await sb.json<Array<Issue>>(["show", mine.id]))[0]).toMatchObject({ title: "mine, renamed by a teammate" })
    // In sync: nothing more to import, and the file keeps its bytes.
    const bytes = fs.readFileSync(file)
    const before = logBytes(town)
    expect(await sb.json(["sync"])).toEqual({ file, imported: { records: 2, created: 0, updated: 0, unchanged: 2, events: 0 }, exported: 2 })
    expect(fs.readFileSync(file).equals(bytes)).toBe(true)
    expect(logBytes(town)).toEqual(before)
  })

  it("a malformed issues.jsonl stops sync with exit 4 and changes nothing", async () => {
    const sb = new Sandbox("sync-bad")
    const town = await sb.town()
    await sb.ok(["create", "mine"])
    const file = path.join(town.beadsDir, "issues.jsonl")
    fs.writeFileSync(file, `${JSON.stringify(record("a-1"))}\n<<<<<<< HEAD\n`)
    const before = logBytes(town)
    await expectFails(sb, ["sync"], { exit: Exit.invalidInput, code: "ImportInvalid", message: "line 2" })
    expect(fs.readFileSync(file, "utf8")).toContain("<<<<<<< HEAD")
    expect(logBytes(town)).toEqual(before)
  })
})

describe.concurrent("what each sync mode writes", () => {
  it("realtime rewrites .beads/issues.jsonl after every mutating command", async () => {
    const sb = new Sandbox("mode-realtime")
    const town = await sb.town({ mode: "realtime" })
    const file = path.join(town.beadsDir, "issues.jsonl")
    const issue = await sb.json<Issue>(["create", "live"])
    expect(readJsonl(file)).toEqual([issue])
    await sb.ok(["update", issue.id, "--title", "live, renamed"])
    expect(readJsonl(file)[0]).toMatchObject({ id: issue.id, title: "live, renamed" })
    const second = await sb.json<Issue>(["create", "second"])
    await sb.ok(["close", issue.id, "-r", "done"])
    const records = readJsonl(file)
    expect(records.map((r) => r["id"])).toEqual([issue.id, second.id].sort())
    expect(records.find((r) => r["id"] === issue.id)).toMatchObject({ status: "closed", close_reason: "done" })
    await sb.ok(["reopen", issue.id])
    expect(readJsonl(file).find((r) => r["id"] === issue.id)).toMatchObject({ status: "open" })
    fs.writeFileSync(sb.path("in.jsonl"), jsonl([record("imp-1")]))
    await sb.ok(["import", "in.jsonl"])
    expect(readJsonl(file).map((r) => r["id"])).toContain("imp-1")
    expect(fs.readFileSync(file, "utf8")).toBe((await sb.ok(["export", "-o", "-"])).stdout)
    expect(fs.existsSync(path.join(town.beadsDir, "backup"))).toBe(false)
  })

  it("git-portable writes no JSONL until bd export or bd sync", async () => {
    const sb = new Sandbox("mode-git")
    const town = await sb.town()
    const file = path.join(town.beadsDir, "issues.jsonl")
    const issue = await sb.json<Issue>(["create", "quiet"])
    await sb.ok(["update", issue.id, "-p", "1"])
    await sb.ok(["close", issue.id])
    expect(fs.readdirSync(town.beadsDir).sort()).toEqual([".gitignore", "config.yaml", "log", "town.json"])
    await sb.ok(["export"])
    expect(readJsonl(file)[0]).toMatchObject({ id: issue.id, priority: 1, status: "closed" })
    await sb.ok(["reopen", issue.id])
    // Still the exported state: only export/sync write the file.
    expect(readJsonl(file)[0]).toMatchObject({ status: "closed" })
    await sb.ok(["sync"])
    expect(readJsonl(file)[0]).toMatchObject({ status: "open" })
  })

  it("dolt-native writes no JSONL after mutating commands", async () => {
    const sb = new Sandbox("mode-dolt")
    const town = await sb.town({ mode: "dolt-native" })
    const issue = await sb.json<Issue>(["create", "dolt only"])
    await sb.ok(["update", issue.id, "--notes", "n"])
    await sb.ok(["close", issue.id])
    await sb.ok(["federation", "add-peer", "staging", "dolthub://myorg/staging-beads"])
    fs.writeFileSync(sb.path("in.jsonl"), jsonl([record("imp-1")]))
    await sb.ok(["import", "in.jsonl"])
    expect(fs.readdirSync(town.beadsDir).sort()).toEqual([".gitignore", "config.yaml", "log", "town.json"])
  })

  it("belt-and-suspenders writes .beads/backup/issues.jsonl and events.jsonl after every mutating command", async () => {
    const sb = new Sandbox("mode-belt")
    const town = await sb.town({ mode: "belt-and-suspenders" })
    const backup = path.join(town.beadsDir, "backup")
    const eventsFile = path.join(backup, "events.jsonl")
    const issuesFile = path.join(backup, "issues.jsonl")
    const seqs = () => readJsonl(eventsFile).map((e) => e["seq"])

    const issue = await sb.json<Issue>(["create", "backed up"])
    expect(seqs()).toEqual([1])
    expect(readJsonl(issuesFile)).toEqual([issue])
    await sb.ok(["update", issue.id, "--title", "backed up, renamed"])
    expect(seqs()).toEqual([1, 2])
    expect(readJsonl(issuesFile)[0]).toMatchObject({ title: "backed up, renamed" })
    await sb.ok(["federation", "add-peer", "staging", "dolthub://myorg/staging-beads"])
    expect(seqs()).toEqual([1, 2, 3])
    await sb.ok(["close", issue.id, "-r", "done"])
    expect(seqs()).toEqual([1, 2, 3, 4])
    expect(readJsonl(issuesFile)[0]).toMatchObject({ status: "closed" })
    // A command that changes nothing appends nothing.
    await sb.ok(["close", issue.id])
    expect(seqs()).toEqual([1, 2, 3, 4])
    await sb.ok(["federation", "remove-peer", "staging"])
    expect(seqs()).toEqual([1, 2, 3, 4, 5])

    // Every event, one per line, the same as the log; the issues as exported.
    const [log, exported] = await Promise.all([sb.json<Array<Record<string, unknown>>>(["federation", "log"]), sb.ok(["export", "-o", "-"])])
    expect(readJsonl(eventsFile)).toEqual(log)
    const eventLines = fs.readFileSync(eventsFile, "utf8")
    expect(eventLines.endsWith("\n")).toBe(true)
    expect(eventLines.split("\n").filter((l) => l !== "")).toHaveLength(5)
    expect(fs.readFileSync(issuesFile, "utf8")).toBe(exported.stdout)
    // No export at the top level in this mode.
    expect(fs.existsSync(path.join(town.beadsDir, "issues.jsonl"))).toBe(false)
  })

  it("switching to belt-and-suspenders catches the backup up with the earlier events", async () => {
    const sb = new Sandbox("mode-switch")
    const town = await sb.town()
    await sb.ok(["create", "before one"])
    await sb.ok(["create", "before two"])
    expect(fs.existsSync(path.join(town.beadsDir, "backup"))).toBe(false)
    await sb.ok(["config", "set", "sync.mode", "belt-and-suspenders"])
    await sb.ok(["create", "after"])
    expect(readJsonl(path.join(town.beadsDir, "backup", "events.jsonl")).map((e) => e["seq"])).toEqual([1, 2, 3])
    expect(readJsonl(path.join(town.beadsDir, "backup", "issues.jsonl"))).toHaveLength(3)
  })
})
