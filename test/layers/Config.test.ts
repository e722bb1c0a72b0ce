import { describe, expect, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { envVarOf } from "../../src/domain/ConfigKeys.js"
import { type ConfigSources, loadConfig, setConfigValue, unsetConfigValue } from "../../src/layers/Config.js"

/** A fresh home, working directory and `.beads` under the system temp directory. */
const makeBed = () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "bd-config-"))
  const home = path.join(root, "home")
  const cwd = path.join(root, "work")
  const beadsDir = path.join(cwd, ".beads")
  fs.mkdirSync(home, { recursive: true })
  fs.mkdirSync(beadsDir, { recursive: true })
  const userFile = path.join(home, ".config", "bd", "config.yaml")
  const projectFile = path.join(beadsDir, "config.yaml")
  const sources = (over: Partial<ConfigSources> = {}): ConfigSources => ({
    cwd,
    env: {},
    home,
    beadsDir,
    flags: {},
    ...over
  })
  return { root, home, cwd, beadsDir, userFile, projectFile, sources }
}

const write = (file: string, text: string) => {
  fs.mkdirSync(path.dirname(file), { recursive: true })
  fs.writeFileSync(file, text)
}

const entryOf = (config: Effect.Effect.Success<ReturnType<typeof loadConfig>>, key: string) =>
  Option.getOrThrow(config.get(key))

describe("loadConfig", () => {
  it.effect("with no files, gives the defaults", () =>
    Effect.gen(function* () {
      const bed = makeBed()
      const config = yield* loadConfig(bed.sources())
      expect(config.syncMode).toBe("git-portable")
      expect(config.issuePrefix).toBe("bd")
      expect([config.doltPoolSize, config.doltConnectTimeoutMs, config.doltQueryTimeoutMs, config.lockTimeoutMs]).toEqual([
        4, 5000, 30000, 5000
      ])
      expect(config.storageBackend).toBeUndefined()
      expect(config.remote).toBeUndefined()
      expect(config.excludeTypes).toEqual([])
      expect(config.userFile).toBe(bed.userFile)
      expect(config.projectFile).toBe(bed.projectFile)
      expect(config.entries.map((e) => e.key)).toEqual([
        "dolt.connect_timeout_ms",
        "dolt.pool_size",
        "dolt.query_timeout_ms",
        "issue_prefix",
        "lock.timeout_ms",
        "sync.mode"
      ])
      expect(config.entries.every((e) => e.source === "default")).toBe(true)
    }))

  it.effect("each source overrides the one before: default, user file, project file, env, flag", () =>
    Effect.gen(function* () {
      const bed = makeBed()
      const expectMode = (sources: ConfigSources, mode: string, source: string) =>
        Effect.gen(function* () {
          const config = yield* loadConfig(sources)
          expect(config.syncMode).toBe(mode)
          expect(entryOf(config, "sync.mode")).toMatchObject({ value: mode, raw: mode, source })
        })
      yield* expectMode(bed.sources(), "git-portable", "default")
      write(bed.userFile, "sync:\n  mode: realtime\n")
      yield* expectMode(bed.sources(), "realtime", bed.userFile)
      write(bed.projectFile, "sync:\n  mode: dolt-native\n")
      yield* expectMode(bed.sources(), "dolt-native", bed.projectFile)
      const env = { BD_SYNC_MODE: "belt-and-suspenders" }
      yield* expectMode(bed.sources({ env }), "belt-and-suspenders", "env BD_SYNC_MODE")
      yield* expectMode(bed.sources({ env, flags: { "sync.mode": "git-portable" } }), "git-portable", "flag")
    }))

  it.effect("a relative beadsDir is resolved against cwd, and without one there is no project file", () =>
    Effect.gen(function* () {
      const bed = makeBed()
      write(bed.projectFile, "issue_prefix: proj\n")
      const relative = yield* loadConfig(bed.sources({ beadsDir: ".beads" }))
      expect(entryOf(relative, "issue_prefix").source).toBe(bed.projectFile)
      const none = yield* loadConfig(bed.sources({ beadsDir: undefined }))
      expect(none.projectFile).toBeUndefined()
      expect(none.issuePrefix).toBe("bd")
    }))

  it.effect("honours XDG_CONFIG_HOME for the user file, unless it is relative", () =>
    Effect.gen(function* () {
      const bed = makeBed()
      const xdg = path.join(bed.root, "xdg")
      write(path.join(xdg, "bd", "config.yaml"), "actor: from-xdg\n")
      write(bed.userFile, "actor: from-home\n")
      const config = yield* loadConfig(bed.sources({ env: { XDG_CONFIG_HOME: xdg } }))
      expect(config.userFile).toBe(path.join(xdg, "bd", "config.yaml"))
      expect(entryOf(config, "actor")).toMatchObject({ value: "from-xdg", source: config.userFile })
      const relative = yield* loadConfig(bed.sources({ env: { XDG_CONFIG_HOME: "xdg" } }))
      expect(relative.actor).toBe("from-home")
    }))

  it.effect("reads nested and flat dotted keys, with typed values", () =>
    Effect.gen(function* () {
      const bed = makeBed()
      write(
        bed.projectFile,
        [
          "sync:",
          "  mode: dolt-native",
          "federation.sovereignty: t2",
          "federation:",
          "  remote: dolthub://myorg/beads",
          "  town: alpha",
          "  organization: Acme",
          "  exclude_types: [chore, epic]",
          "storage.backend: sqlite",
          "dolt.pool_size: 8",
          "dolt:",
          "  url: mysql://root@127.0.0.1/beads",
          "  password: s3cret",
          "lock:",
          "  timeout_ms: 0",
          "issue_prefix: web-2",
          ""
        ].join("\n")
      )
      const config = yield* loadConfig(bed.sources())
      expect(config).toMatchObject({
        syncMode: "dolt-native",
        sovereignty: "T2",
        remote: "dolthub://myorg/beads",
        townName: "alpha",
        organization: "Acme",
        excludeTypes: ["chore", "epic"],
        storageBackend: "sqlite",
        doltPoolSize: 8,
        doltUrl: "mysql://root@127.0.0.1/beads",
        doltPassword: "s3cret",
        lockTimeoutMs: 0,
        issuePrefix: "web-2"
      })
      expect(entryOf(config, "federation.sovereignty")).toMatchObject({ value: "T2", raw: "T2" })
      expect(entryOf(config, "federation.exclude_types")).toMatchObject({ value: "chore,epic", raw: ["chore", "epic"] })
      expect(entryOf(config, "dolt.pool_size")).toMatchObject({ value: "8", raw: 8 })
      // Secrets never reach the listing, in either form.
      expect(entryOf(config, "dolt.password")).toMatchObject({ value: "********", raw: "********" })
    }))

  it.effect("a key given both nested and flat in one file is refused", () =>
    Effect.gen(function* () {
      const bed = makeBed()
      write(bed.projectFile, "sync:\n  mode: realtime\nsync.mode: dolt-native\n")
      const error = yield* Effect.flip(loadConfig(bed.sources()))
      expect(error).toMatchObject({ _tag: "ConfigInvalid", source: bed.projectFile, key: "sync.mode" })
    }))

  it.effect("keeps unknown keys as their YAML value and ignores federation.peers", () =>
    Effect.gen(function* () {
      const bed = makeBed()
      write(
        bed.projectFile,
        "custom:\n  color: blue\n  count: 3\nmy_list: [a, b]\nfederation:\n  peers:\n    staging: dolthub://org/staging\nfederation.peers.backup: file:///x\n"
      )
      const config = yield* loadConfig(bed.sources({ flags: { "custom.flag": "yes" } }))
      expect(entryOf(config, "custom.color")).toMatchObject({ value: "blue", raw: "blue", source: bed.projectFile })
      expect(entryOf(config, "custom.count")).toMatchObject({ value: "3", raw: 3 })
      expect(entryOf(config, "my_list")).toMatchObject({ value: "a,b", raw: ["a", "b"] })
      expect(entryOf(config, "custom.flag")).toMatchObject({ value: "yes", source: "flag" })
      expect(config.entries.some((e) => e.key.startsWith("federation"))).toBe(false)
      const keys = config.entries.map((e) => e.key)
      expect(keys).toEqual([...keys].sort())
    }))

  it.effect("reads only known keys from the environment, and an empty variable counts as unset", () =>
    Effect.gen(function* () {
      const bed = makeBed()
      const config = yield* loadConfig(
        bed.sources({
          env: {
            BD_DIR: "/somewhere",
            BD_READONLY: "1",
            BD_CUSTOM_COLOR: "red",
            BD_ISSUE_PREFIX: "",
            BD_FEDERATION_REMOTE: "dolthub://myorg/beads",
            BD_FEDERATION_SOVEREIGNTY: "t3",
            BD_FEDERATION_EXCLUDE_TYPES: "chore, epic",
            BD_DOLT_PASSWORD: "pw"
          }
        })
      )
      expect(config.entries.map((e) => e.key)).not.toContain("dir")
      expect(config.entries.map((e) => e.key)).not.toContain("custom.color")
      expect(entryOf(config, "issue_prefix").source).toBe("default")
      expect(entryOf(config, "federation.remote").source).toBe("env BD_FEDERATION_REMOTE")
      expect(config.sovereignty).toBe("T3")
      expect(config.excludeTypes).toEqual(["chore", "epic"])
      expect(config.doltPassword).toBe("pw")
    }))

  it("names the environment variable of each key by one rule", () => {
    expect(envVarOf("sync.mode")).toBe("BD_SYNC_MODE")
    expect(envVarOf("federation.remote")).toBe("BD_FEDERATION_REMOTE")
    expect(envVarOf("federation.sovereignty")).toBe("BD_FEDERATION_SOVEREIGNTY")
    expect(envVarOf("dolt.password")).toBe("BD_DOLT_PASSWORD")
    expect(envVarOf("dolt.pool_size")).toBe("BD_DOLT_POOL_SIZE")
  })

  it.effect("an empty file, or one of comments only, has no settings", () =>
    Effect.gen(function* () {
      const bed = makeBed()
      write(bed.userFile, "")
      write(bed.projectFile, "# nothing here yet\n")
      const config = yield* loadConfig(bed.sources())
      expect(config.entries.every((e) => e.source === "default")).toBe(true)
    }))

  it.effect("a YAML syntax error names file, line and column", () =>
    Effect.gen(function* () {
      const bed = makeBed()
      write(bed.projectFile, "sync:\n  mode: x\nfederation: remote: y\n")
      const error = yield* Effect.flip(loadConfig(bed.sources()))
      expect(error).toMatchObject({ _tag: "ConfigInvalid", source: `${bed.projectFile}:3:13`, key: "" })
      if (error._tag === "ConfigInvalid") expect(error.allowed).toMatch(/mapping/i)
    }))

  it.effect("a file whose top level is not a mapping is refused", () =>
    Effect.gen(function* () {
      const bed = makeBed()
      write(bed.userFile, "- a\n- b\n")
      const error = yield* Effect.flip(loadConfig(bed.sources()))
      expect(error).toMatchObject({ _tag: "ConfigInvalid", source: bed.userFile, key: "" })
    }))

  it.effect("an unreadable file is a StorageError", () =>
    Effect.gen(function* () {
      const bed = makeBed()
      fs.mkdirSync(bed.projectFile) // a directory cannot be read as a file, even by root
      const error = yield* Effect.flip(loadConfig(bed.sources()))
      expect(error).toMatchObject({ _tag: "StorageError", path: bed.projectFile })
    }))
})

describe("loadConfig refuses bad values", () => {
  // [key, YAML value, the value the error shows, a piece of what is allowed]
  const cases: ReadonlyArray<readonly [string, string, string, string]> = [
    ["sync.mode", "turbo", "turbo", "dolt-native"],
    ["storage.backend", "postgres", "postgres", "dolt, embedded, sqlite"],
    ["federation.sovereignty", "T5", "T5", "T1, T2, T3 or T4"],
    ["federation.remote", "ftp://example.com/x", "ftp://example.com/x", "unsupported scheme"],
    ["federation.organization", '""', "", "non-empty"],
    ["federation.exclude_types", "[chore, 'not a type']", "chore,not a type", "issue types"],
    ["federation.exclude_types", "{a: 1}", '{"a":1}', "a list"],
    ["issue_prefix", "1abc", "1abc", "a letter"],
    ["issue_prefix", "abcdefghijklmnopq", "abcdefghijklmnopq", "1 to 16"],
    ["issue_prefix", "a_b", "a_b", "letters, digits or '-'"],
    ["dolt.url", "http://host/db", "http://host/db", "mysql://user@host:port/database"],
    ["dolt.url", "mysql://root@host:70000/db", "mysql://root@host:70000/db", "port from 1 to 65535"],
    ["dolt.url", "mysql://root:hunter2@host/db", "mysql://root:********@host/db", "BD_DOLT_PASSWORD"],
    ["dolt.pool_size", "0", "0", "from 1 to 64"],
    ["dolt.pool_size", "65", "65", "from 1 to 64"],
    ["dolt.pool_size", "2.5", "2.5", "an integer"],
    ["dolt.connect_timeout_ms", "99", "99", "from 100 to 600000"],
    ["dolt.query_timeout_ms", "3600001", "3600001", "from 100 to 3600000"],
    ["lock.timeout_ms", "-1", "-1", "from 0 to 600000"],
    ["lock.timeout_ms", "[1, 2]", "1,2", "a single value"],
    ["actor", "'  '", "  ", "non-empty"]
  ]
  for (const [key, yamlValue, shown, allowed] of cases) {
    it.effect(`${key}: ${yamlValue}`, () =>
      Effect.gen(function* () {
        const bed = makeBed()
        write(bed.projectFile, `${key}: ${yamlValue}\n`)
        const error = yield* Effect.flip(loadConfig(bed.sources()))
        expect(error).toMatchObject({ _tag: "ConfigInvalid", source: bed.projectFile, key, value: shown })
        if (error._tag === "ConfigInvalid") expect(error.allowed).toContain(allowed)
        expect(error.message).not.toContain("hunter2")
      }))
  }

  it.effect("an environment variable's error names the variable", () =>
    Effect.gen(function* () {
      const bed = makeBed()
      const error = yield* Effect.flip(loadConfig(bed.sources({ env: { BD_FEDERATION_SOVEREIGNTY: "T9" } })))
      expect(error).toMatchObject({
        _tag: "ConfigInvalid",
        source: "env BD_FEDERATION_SOVEREIGNTY",
        key: "federation.sovereignty",
        value: "T9"
      })
      const pool = yield* Effect.flip(loadConfig(bed.sources({ env: { BD_DOLT_POOL_SIZE: "many" } })))
      expect(pool).toMatchObject({ source: "env BD_DOLT_POOL_SIZE", key: "dolt.pool_size", value: "many" })
    }))

  it.effect("a flag's error says it came from a flag", () =>
    Effect.gen(function* () {
      const bed = makeBed()
      const error = yield* Effect.flip(loadConfig(bed.sources({ flags: { "sync.mode": "fast" } })))
      expect(error).toMatchObject({ _tag: "ConfigInvalid", source: "flag", key: "sync.mode", value: "fast" })
    }))
})

describe("setConfigValue and unsetConfigValue", () => {
  const original = [
    "# Project settings",
    "",
    "sync:",
    "  mode: git-portable # change for federation",
    "",
    "# who we are",
    "federation.town: alpha",
    "custom: keep-me",
    ""
  ].join("\n")

  it.effect("set keeps comments, blank lines and key order, and edits flat keys in place", () =>
    Effect.gen(function* () {
      const bed = makeBed()
      write(bed.projectFile, original)
      yield* setConfigValue(bed.projectFile, "sync.mode", "dolt-native")
      yield* setConfigValue(bed.projectFile, "federation.town", "beta")
      yield* setConfigValue(bed.projectFile, "federation.sovereignty", "t2")
      yield* setConfigValue(bed.projectFile, "federation.exclude_types", "chore,epic")
      yield* setConfigValue(bed.projectFile, "sync.extra", "1")
      yield* setConfigValue(bed.projectFile, "dolt.pool_size", "8")
      expect(fs.readFileSync(bed.projectFile, "utf8")).toBe(
        [
          "# Project settings",
          "",
          "sync:",
          "  mode: dolt-native # change for federation",
          '  extra: "1"',
          "",
          "# who we are",
          "federation.town: beta",
          "custom: keep-me",
          "federation:",
          "  sovereignty: T2",
          "  exclude_types:",
          "    - chore",
          "    - epic",
          "dolt:",
          "  pool_size: 8",
          ""
        ].join("\n")
      )
    }))

  it.effect("under a parent that is a plain value, a new key is written as a dotted key", () =>
    Effect.gen(function* () {
      const bed = makeBed()
      write(bed.projectFile, "custom: keep-me\n")
      yield* setConfigValue(bed.projectFile, "custom.inner", "x")
      expect(fs.readFileSync(bed.projectFile, "utf8")).toBe("custom: keep-me\ncustom.inner: x\n")
    }))

  it.effect("unset keeps the rest of the file and drops parents it leaves empty", () =>
    Effect.gen(function* () {
      const bed = makeBed()
      write(bed.projectFile, original)
      expect(yield* unsetConfigValue(bed.projectFile, "sync.mode")).toBe(true)
      expect(yield* unsetConfigValue(bed.projectFile, "federation.town")).toBe(true)
      expect(yield* unsetConfigValue(bed.projectFile, "federation.town")).toBe(false)
      expect(fs.readFileSync(bed.projectFile, "utf8")).toBe("# Project settings\n\ncustom: keep-me\n")
      expect(yield* unsetConfigValue(bed.projectFile, "custom")).toBe(true)
      expect(fs.readFileSync(bed.projectFile, "utf8")).toBe("# Project settings\n")
    }))

  it.effect("unset keeps a section comment set apart by a blank line, and drops the entry's own comment", () =>
    Effect.gen(function* () {
      const bed = makeBed()
      write(bed.projectFile, "actor: me\n\n# Dolt\n\n# the pool\ndolt.pool_size: 8\ndolt:\n  # why\n  url: mysql://root@h/db\n  query_timeout_ms: 1000 # slow\n")
      expect(yield* unsetConfigValue(bed.projectFile, "dolt.pool_size")).toBe(true)
      expect(yield* unsetConfigValue(bed.projectFile, "dolt.url")).toBe(true)
      expect(fs.readFileSync(bed.projectFile, "utf8")).toBe("actor: me\n\n# Dolt\n\ndolt:\n  query_timeout_ms: 1000 # slow\n")
    }))

  it.effect("unset of a missing file is false and creates nothing", () =>
    Effect.gen(function* () {
      const bed = makeBed()
      expect(yield* unsetConfigValue(bed.userFile, "sync.mode")).toBe(false)
      expect(fs.existsSync(bed.userFile)).toBe(false)
    }))

  it.effect("set creates the file and its directories, and load reads back what set wrote", () =>
    Effect.gen(function* () {
      const bed = makeBed()
      yield* setConfigValue(bed.userFile, "sync.mode", "dolt-native")
      yield* setConfigValue(bed.userFile, "federation.remote", "dolthub://myorg/beads")
      yield* setConfigValue(bed.userFile, "federation.exclude_types", "chore,epic")
      yield* setConfigValue(bed.userFile, "dolt.password", "s3cret")
      yield* setConfigValue(bed.userFile, "dolt.connect_timeout_ms", "250")
      yield* setConfigValue(bed.userFile, "custom.note", "007")
      expect(fs.readFileSync(bed.userFile, "utf8")).toBe(
        [
          "sync:",
          "  mode: dolt-native",
          "federation:",
          "  remote: dolthub://myorg/beads",
          "  exclude_types:",
          "    - chore",
          "    - epic",
          "dolt:",
          "  password: s3cret",
          "  connect_timeout_ms: 250",
          "custom:",
          '  note: "007"',
          ""
        ].join("\n")
      )
      // The file now holds a secret, so only its owner may read it.
      expect(fs.statSync(bed.userFile).mode & 0o077).toBe(0)
      const config = yield* loadConfig(bed.sources())
      expect(config).toMatchObject({
        syncMode: "dolt-native",
        remote: "dolthub://myorg/beads",
        excludeTypes: ["chore", "epic"],
        doltPassword: "s3cret",
        doltConnectTimeoutMs: 250
      })
      expect(entryOf(config, "custom.note")).toMatchObject({ value: "007", source: bed.userFile })
      expect(fs.readdirSync(path.dirname(bed.userFile))).toEqual(["config.yaml"]) // no temp file left
    }))

  it.effect("refuses peers keys and bad values without touching the file", () =>
    Effect.gen(function* () {
      const bed = makeBed()
      write(bed.projectFile, original)
      const before = fs.readFileSync(bed.projectFile)
      const peers = yield* Effect.flip(setConfigValue(bed.projectFile, "federation.peers.staging", "dolthub://o/r"))
      expect(peers).toMatchObject({
        _tag: "ConfigInvalid",
        source: "bd config set",
        key: "federation.peers.staging",
        allowed: "peers are managed with bd federation add-peer/remove-peer"
      })
      const unsetPeers = yield* Effect.flip(unsetConfigValue(bed.projectFile, "federation.peers.staging"))
      expect(unsetPeers).toMatchObject({ _tag: "ConfigInvalid", key: "federation.peers.staging" })
      const mode = yield* Effect.flip(setConfigValue(bed.projectFile, "sync.mode", "turbo"))
      expect(mode).toMatchObject({ _tag: "ConfigInvalid", source: "bd config set", key: "sync.mode", value: "turbo" })
      const url = yield* Effect.flip(setConfigValue(bed.projectFile, "dolt.url", "mysql://root:pw@h/db"))
      expect(url).toMatchObject({ key: "dolt.url", value: "mysql://root:********@h/db" })
      const key = yield* Effect.flip(setConfigValue(bed.projectFile, "sync..mode", "x"))
      expect(key).toMatchObject({ _tag: "ConfigInvalid", key: "sync..mode" })
      expect(fs.readFileSync(bed.projectFile)).toEqual(before)
    }))

  it.effect("never rewrites a file with a syntax error", () =>
    Effect.gen(function* () {
      const bed = makeBed()
      const broken = "sync:\n  mode: [oops\n"
      write(bed.projectFile, broken)
      const error = yield* Effect.flip(setConfigValue(bed.projectFile, "actor", "me"))
      expect(error._tag).toBe("ConfigInvalid")
      if (error._tag === "ConfigInvalid") expect(error.source).toMatch(/config\.yaml:\d+:\d+$/)
      yield* Effect.flip(unsetConfigValue(bed.projectFile, "sync.mode"))
      expect(fs.readFileSync(bed.projectFile, "utf8")).toBe(broken)
    }))
})
