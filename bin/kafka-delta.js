#!/usr/bin/env node
// The `kafka-delta` executable. Plain JavaScript with nothing newer than Node 18 can parse, so that an old Node
// prints which Node it needs instead of a SyntaxError from the modules it would load. Then it runs the command
// line from the TypeScript sources when they are there (a clone: Node 24 strips the types, and a stale dist/
// is never run) and from dist/ otherwise (the installed package, built by `prepack`: Node does not strip types
// under node_modules).
import { existsSync, readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"

const range = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")).engines.node
const wanted = /^>=(\d+)\.(\d+)/.exec(range)
const [major, minor] = process.versions.node.split(".").map(Number)
if (wanted !== null && (major < Number(wanted[1]) || (major === Number(wanted[1]) && minor < Number(wanted[2])))) {
  process.stderr.write(
    `kafka-delta: needs Node ${range} (Node 24 recommended), this is Node ${process.versions.node} (${process.execPath}); ` +
      "in a clone, `npm ci` installs Node 24 as a devDependency, which `npx kafka-delta ...` and `npm run ...` use; " +
      "elsewhere install Node 24 (https://nodejs.org)\n"
  )
  process.exit(2)
}

const source = new URL("../src/cli/bin.ts", import.meta.url)
await import(existsSync(fileURLToPath(source)) ? source.href : new URL("../dist/src/cli/bin.js", import.meta.url).href)
