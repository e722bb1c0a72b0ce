/** Which requests the daemon runs: the shape of an import's command line, its FILE, the client's time zone and umask. */
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import type { RunRequest } from "../../src/cli/DaemonClient.js"
import { importedFile, regularFileAt, servedByDaemon } from "../../src/cli/DaemonServed.js"

const root = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), "bd-daemon-served-")))
afterAll(() => fs.rmSync(root, { recursive: true, force: true }))

describe("importedFile", () => {
  it("is FILE of import [--dry-run] FILE, and nothing for any other shape of the line", () => {
    expect(importedFile(["import", "a.jsonl"])).toBe("a.jsonl")
    expect(importedFile(["import", "--dry-run", "a.jsonl"])).toBe("a.jsonl")
    expect(importedFile(["import", "a.jsonl", "--dry-run"])).toBe("a.jsonl")
    expect(importedFile(["import", "false", "--dry-run"])).toBe("false")
    for (
      const rest of [
        ["import"],
        ["list", "a.jsonl"],
        ["import", "a.jsonl", "b.jsonl"],
        ["import", "-"],
        ["import", ""],
        ["import", "--", "a.jsonl"],
        ["import", "-h"],
        ["import", "--dry-run=true", "a.jsonl"],
        ["import", "a.jsonl", "--dry-run", "--dry-run"],
        // @effect/cli takes a boolean word after --dry-run as its value.
        ["import", "--dry-run", "false"],
        ["import", "--dry-run", "YES"],
        ["import", "--dry-run", "false", "a.jsonl"]
      ]
    ) expect(importedFile(rest), rest.join(" ")).toBeUndefined()
  })
})

describe("regularFileAt", () => {
  it("is true only for a regular file reached without /dev or /proc, symbolic links followed as the kernel follows them", () => {
    fs.mkdirSync(path.join(root, "a", "b"), { recursive: true })
    fs.writeFileSync(path.join(root, "a", "in.jsonl"), "")
    fs.writeFileSync(path.join(root, "top.jsonl"), "")
    fs.symlinkSync(path.join(root, "a", "b"), path.join(root, "into-b"))
    fs.symlinkSync("a/in.jsonl", path.join(root, "link.jsonl"))
    fs.symlinkSync("/dev/stdin", path.join(root, "stdin"))
    fs.symlinkSync("/proc/self", path.join(root, "self"))
    fs.symlinkSync("loop", path.join(root, "loop"))
    execFileSync("mkfifo", [path.join(root, "fifo")])
    const yes = ["a/in.jsonl", "./a/../top.jsonl", "link.jsonl", path.join(root, "top.jsonl"), "into-b/../in.jsonl"]
    for (const file of yes) expect(regularFileAt(root, file), file).toBe(true)
    const no = [
      "a",
      "missing.jsonl",
      "fifo",
      "stdin",
      "self/fd/0",
      "/dev/stdin",
      "/dev/fd/0",
      "/proc/self/fd/0",
      "/dev/null",
      "loop",
      "top.jsonl/.",
      "top.jsonl/",
      // `..` after a link to a directory leads to that directory's parent, a/, where there is no top.jsonl.
      "into-b/../top.jsonl"
    ]
    for (const file of no) expect(regularFileAt(root, file), file).toBe(false)
    expect(regularFileAt("relative/dir", "a/in.jsonl")).toBe(false)
  })
})

describe("servedByDaemon", () => {
  const daemon = { tz: "", umask: 0o022 }
  const request = (argv: ReadonlyArray<string>, extra: Partial<RunRequest> = {}): RunRequest => ({
    argv,
    cwd: root,
    env: {},
    errIsTTY: false,
    umask: 0o022,
    ...extra
  })

  it("runs reads, and an import of a regular file, for a client in its time zone", () => {
    expect(servedByDaemon(request(["--json", "list"]), daemon)).toBe(true)
    expect(servedByDaemon(request(["import", "top.jsonl", "--json"]), daemon)).toBe(true)
    expect(servedByDaemon(request(["--db", "x", "import", "--dry-run", "top.jsonl"]), daemon)).toBe(true)
    expect(servedByDaemon(request(["list"], { env: { TZ: "Europe/Paris" } }), daemon)).toBe(false)
    expect(servedByDaemon(request(["import", "top.jsonl"], { env: { TZ: "Europe/Paris" } }), daemon)).toBe(false)
    expect(servedByDaemon(request(["create", "x"]), daemon)).toBe(false)
    expect(servedByDaemon(request(["list", "--wizard"]), daemon)).toBe(false)
  })

  it("runs an import only for a client with its umask; an older client sends none, and only its reads run", () => {
    expect(servedByDaemon(request(["import", "top.jsonl"], { umask: 0o077 }), daemon)).toBe(false)
    expect(servedByDaemon(request(["import", "top.jsonl"], { umask: undefined }), daemon)).toBe(false)
    expect(servedByDaemon(request(["list"], { umask: undefined }), daemon)).toBe(true)
    expect(servedByDaemon(request(["list"], { umask: 0o077 }), daemon)).toBe(true)
  })
})
