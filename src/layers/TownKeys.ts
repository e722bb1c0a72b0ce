/**
 * A town's keys: an Ed25519 key pair that signs every batch it publishes,
 * and a pseudonym key (HMAC-SHA-256) for sovereignty tier T3. The private
 * parts live beside the credentials under the town's secret directory, mode
 * 0600; the public key is in `.beads/town.json` for anyone to read.
 */
import { createHmac, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, sign, verify } from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { makeSecretDir } from "./Credentials.js"
import { TOWN_FILE } from "./Town.js"

export interface TownKeys {
  /** Base64 of the DER (SPKI) public key. */
  readonly publicKey: string
  readonly sign: (text: string) => string
  readonly pseudonym: (value: string) => string
}

const writePrivate = (file: string, content: string | Buffer): void => {
  makeSecretDir(path.dirname(file))
  fs.writeFileSync(file, content, { mode: 0o600, flag: "wx" })
}

const readTownJson = (beadsDir: string): Record<string, unknown> =>
  JSON.parse(fs.readFileSync(path.join(beadsDir, TOWN_FILE), "utf8")) as Record<string, unknown>

/** A town whose public key is known but whose private key is not in this user's configuration. */
export class SigningKeyMissing extends Error {
  constructor(readonly secretsDir: string) {
    super(
      `this town's signing key is not in ${secretsDir} (the town was made by another user or on another machine); ` +
        "copy town.key and pseudonym.key there from where the town was made"
    )
  }
}

/**
 * The town's keys, made on first need (bd init makes them; towns older than
 * signing get them on first publish). A town that already has a public key
 * never gets a new one silently: its private key must be brought here.
 */
export const ensureTownKeys = (secretsDir: string, beadsDir: string): TownKeys => {
  const keyFile = path.join(secretsDir, "town.key")
  const pseudonymFile = path.join(secretsDir, "pseudonym.key")
  if (!fs.existsSync(keyFile)) {
    if (typeof readTownJson(beadsDir)["publicKey"] === "string") throw new SigningKeyMissing(secretsDir)
    const { privateKey } = generateKeyPairSync("ed25519")
    try {
      writePrivate(keyFile, privateKey.export({ type: "pkcs8", format: "pem" }))
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error
    }
  }
  if (!fs.existsSync(pseudonymFile)) {
    try {
      writePrivate(pseudonymFile, randomBytes(32))
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error
    }
  }
  const privateKey = createPrivateKey(fs.readFileSync(keyFile))
  const publicKey = createPublicKey(privateKey).export({ type: "spki", format: "der" }).toString("base64")
  const townFile = path.join(beadsDir, TOWN_FILE)
  const town = readTownJson(beadsDir)
  if (town["publicKey"] !== publicKey) {
    const tmp = `${townFile}.${process.pid}.tmp`
    fs.writeFileSync(tmp, `${JSON.stringify({ ...town, publicKey }, null, 2)}\n`)
    fs.renameSync(tmp, townFile)
  }
  const pseudonymKey = fs.readFileSync(pseudonymFile)
  return {
    publicKey,
    sign: (text) => sign(null, Buffer.from(text, "utf8"), privateKey).toString("base64"),
    pseudonym: (value) => `p-${createHmac("sha256", pseudonymKey).update(value, "utf8").digest("hex").slice(0, 16)}`
  }
}

/** Whether `signature` is `publicKey`'s Ed25519 signature of `text`. */
export const verifySignature = (publicKey: string, text: string, signature: string): boolean => {
  try {
    const key = createPublicKey({ key: Buffer.from(publicKey, "base64"), format: "der", type: "spki" })
    return verify(null, Buffer.from(text, "utf8"), key, Buffer.from(signature, "base64"))
  } catch {
    return false
  }
}
