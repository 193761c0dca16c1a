/**
 * Test-run set-up, so that `npm test` works on a fresh machine: the Python readers' venv, and the local Kafka,
 * schema registry and nginx (`scripts/services.sh up`, idempotent: a no-op when they already run), which first
 * installs the Debian packages they need (nginx, openssl, curl, unzip, maven) when run as root, or stops with
 * the apt-get command to run.
 * The variables `services.sh env` prints are exported to the test workers. A service that cannot start fails
 * the run with its log tail; nothing is skipped. Set KAFKA_DELTA_SERVICES=skip for a unit-only run
 * (`npm run test:unit`), which starts nothing but the venv.
 */
import { execFileSync, spawnSync } from "node:child_process"
import * as NodePath from "node:path"

const root = NodePath.resolve(import.meta.dirname, "..")
let startedHere = false

const run = (script: string, args: ReadonlyArray<string>): string =>
  execFileSync("bash", [NodePath.join(root, "scripts", script), ...args], {
    cwd: root,
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
    timeout: 30 * 60_000
  })

/** Prepares the readers and the services, and exports their addresses. */
export const setup = (): void => {
  run("python-env.sh", [])
  if (process.env["KAFKA_DELTA_SERVICES"] === "skip") {
    process.env["PYTHON"] ??= NodePath.join(root, ".cache/venv/bin/python")
    return
  }
  const status = spawnSync("bash", [NodePath.join(root, "scripts/services.sh"), "status"], { cwd: root, stdio: "ignore" })
  if (status.status !== 0) {
    run("services.sh", ["up"])
    startedHere = process.env["CI"] !== "true"
  }
  for (const line of run("services.sh", ["env"]).split("\n")) {
    const match = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line.trim())
    if (match !== null) process.env[match[1]!] = match[2]!.replace(/^'(.*)'$/, "$1")
  }
}

/** Leaves services that were already running as they were; stops the ones this run started when asked to. */
export const teardown = (): void => {
  if (startedHere && process.env["KAFKA_DELTA_STOP_SERVICES"] === "1") run("services.sh", ["down"])
}
