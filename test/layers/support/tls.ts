/**
 * Throwaway TLS material for unit tests: a CA and a server certificate for 127.0.0.1/localhost signed by it,
 * made with the `openssl` command in a temporary directory.
 */
import { execFileSync } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as NodePath from "node:path"

/** Paths and PEM texts of a generated CA and server certificate. */
export interface TestTls {
  readonly directory: string
  readonly caFile: string
  readonly key: string
  readonly cert: string
  /** A second CA that signed nothing we serve: trusting only it must fail. */
  readonly otherCaFile: string
}

const openssl = (cwd: string, args: ReadonlyArray<string>): void => {
  execFileSync("openssl", args, { cwd, stdio: "pipe" })
}

/** Generates the CA, the server certificate and an unrelated CA. */
export const makeTestTls = (): TestTls => {
  const directory = Fs.mkdtempSync(NodePath.join(Os.tmpdir(), "kafka-delta-tls-"))
  const ca = (name: string) =>
    openssl(directory, [
      "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
      "-keyout", `${name}.key`, "-out", `${name}.pem`, "-subj", `/CN=${name}`
    ])
  ca("test-ca")
  ca("other-ca")
  openssl(directory, [
    "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost"
  ])
  Fs.writeFileSync(NodePath.join(directory, "san.ext"), "subjectAltName=DNS:localhost,IP:127.0.0.1\n")
  openssl(directory, [
    "x509", "-req", "-in", "server.csr", "-CA", "test-ca.pem", "-CAkey", "test-ca.key", "-CAcreateserial",
    "-out", "server.pem", "-days", "2", "-extfile", "san.ext"
  ])
  const read = (name: string) => Fs.readFileSync(NodePath.join(directory, name), "utf8")
  return {
    directory,
    caFile: NodePath.join(directory, "test-ca.pem"),
    otherCaFile: NodePath.join(directory, "other-ca.pem"),
    key: read("server.key"),
    cert: read("server.pem")
  }
}
