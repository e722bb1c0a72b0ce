/**
 * Peer credentials, kept out of `.beads/` (people commit that folder): under
 * `<config home>/bd/towns/<townId>/`, encrypted with AES-256-GCM under a
 * random key kept beside them, every file mode 0600. Nothing here is ever
 * logged, printed or put in an event.
 */
import { Context, Effect, Layer, Option } from "effect"
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { CredentialsError } from "../domain/Errors.js"

export interface PeerCredentials {
  readonly user: string
  readonly password: string
}

export interface CredentialsService {
  /** The directory that holds this town's secrets. */
  readonly dir: string
  readonly store: (peer: string, credentials: PeerCredentials) => Effect.Effect<void, CredentialsError>
  readonly lookup: (peer: string) => Effect.Effect<Option.Option<PeerCredentials>, CredentialsError>
  readonly remove: (peer: string) => Effect.Effect<void, CredentialsError>
}

export class Credentials extends Context.Tag("beads/Credentials")<Credentials, CredentialsService>() {}

/**
 * `$XDG_CONFIG_HOME/bd/towns/<townId>` (or `~/.config/...`): the town's secret
 * directory. A relative XDG_CONFIG_HOME is ignored, as the XDG spec and the
 * config layer do, so secrets never land in a working tree.
 */
export const townSecretsDir = (env: Readonly<Record<string, string | undefined>>, home: string, townId: string): string => {
  const xdg = env["XDG_CONFIG_HOME"]
  return path.join(xdg !== undefined && path.isAbsolute(xdg) ? xdg : path.join(home, ".config"), "bd", "towns", townId)
}

/** Create a secret directory: private itself, its parents as usual (others may need to traverse them). */
export const makeSecretDir = (dir: string): void => {
  fs.mkdirSync(path.dirname(dir), { recursive: true })
  try {
    fs.mkdirSync(dir, { mode: 0o700 })
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error
  }
}

interface Sealed {
  readonly iv: string
  readonly tag: string
  readonly data: string
}

const writePrivate = (file: string, content: string | Buffer): void => {
  const tmp = `${file}.${process.pid}.tmp`
  const fd = fs.openSync(tmp, "w", 0o600)
  try {
    if (typeof content === "string") fs.writeSync(fd, content)
    else fs.writeSync(fd, content)
    fs.fsyncSync(fd)
  } finally {
    fs.closeSync(fd)
  }
  fs.chmodSync(tmp, 0o600)
  fs.renameSync(tmp, file)
}

export const makeCredentials = (dir: string): CredentialsService => {
  const keyFile = path.join(dir, "credentials.key")
  const storeFile = path.join(dir, "credentials.json")
  const fail = (what: string) => (error: unknown) =>
    new CredentialsError({ reason: `${what}: ${(error as Error).message ?? String(error)}` })

  const key = (create: boolean): Buffer | undefined => {
    if (fs.existsSync(keyFile)) return fs.readFileSync(keyFile)
    if (!create) return undefined
    makeSecretDir(dir)
    writePrivate(keyFile, randomBytes(32))
    return fs.readFileSync(keyFile)
  }
  const readAll = (): Record<string, Sealed> =>
    fs.existsSync(storeFile) ? (JSON.parse(fs.readFileSync(storeFile, "utf8")) as Record<string, Sealed>) : {}

  return {
    dir,
    store: (peer, credentials) =>
      Effect.try({
        try: () => {
          const secret = key(true)!
          const iv = randomBytes(12)
          const cipher = createCipheriv("aes-256-gcm", secret, iv)
          cipher.setAAD(Buffer.from(peer, "utf8"))
          const data = Buffer.concat([cipher.update(JSON.stringify(credentials), "utf8"), cipher.final()])
          const all = readAll()
          all[peer] = { iv: iv.toString("base64"), tag: cipher.getAuthTag().toString("base64"), data: data.toString("base64") }
          writePrivate(storeFile, JSON.stringify(all))
        },
        catch: fail("cannot store credentials")
      }),
    lookup: (peer) =>
      Effect.try({
        try: () => {
          const sealed = readAll()[peer]
          const secret = key(false)
          if (sealed === undefined || secret === undefined) return Option.none()
          const decipher = createDecipheriv("aes-256-gcm", secret, Buffer.from(sealed.iv, "base64"))
          decipher.setAAD(Buffer.from(peer, "utf8"))
          decipher.setAuthTag(Buffer.from(sealed.tag, "base64"))
          const plain = Buffer.concat([decipher.update(Buffer.from(sealed.data, "base64")), decipher.final()])
          return Option.some(JSON.parse(plain.toString("utf8")) as PeerCredentials)
        },
        catch: fail("cannot read stored credentials (the key or the file was changed)")
      }),
    remove: (peer) =>
      Effect.try({
        try: () => {
          const all = readAll()
          if (!(peer in all)) return
          delete all[peer]
          writePrivate(storeFile, JSON.stringify(all))
        },
        catch: fail("cannot remove credentials")
      })
  }
}

export const CredentialsLive = (dir: string): Layer.Layer<Credentials> => Layer.sync(Credentials, () => makeCredentials(dir))
