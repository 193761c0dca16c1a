/**
 * Durable writes on the local file system, shared by the filesystem layers (the Delta sink and the checkpoint
 * store): a file's bytes go to a flushed temp file beside it, which the caller then renames or links to its name,
 * and the directory is flushed after that, since a new name is durable only once its directory is; a directory
 * created on the way is flushed into its parent the same way. Synchronous: the layers explain why. Callers turn a
 * thrown error into their own typed error.
 */
import { randomUUID } from "node:crypto"
import * as Fs from "node:fs"
import * as NodePath from "node:path"

/**
 * Creates `directory` and any missing ancestors, and flushes the parent of each one created (deepest first), so a
 * commit made durable later cannot point into a directory (`_delta_log`, a new partition) that a power loss undoes.
 */
export const makeDirectoryDurably = (directory: string): void => {
  const first = Fs.mkdirSync(directory, { recursive: true })
  if (first === undefined) return
  const created: Array<string> = []
  for (let dir = NodePath.resolve(directory); ; dir = NodePath.dirname(dir)) {
    created.push(dir)
    if (dir === NodePath.resolve(first) || dir === NodePath.dirname(dir)) break
  }
  for (const dir of created) syncDirectory(NodePath.dirname(dir))
}

/** Writes `data` to a new temp file beside `target` (creating the directory), flushed and closed; its path. */
export const writeFlushedTemp = (target: string, data: Uint8Array | string): string => {
  makeDirectoryDurably(NodePath.dirname(target))
  const temp = NodePath.join(NodePath.dirname(target), `.${NodePath.basename(target)}.${randomUUID()}.tmp`)
  const fd = Fs.openSync(temp, "wx")
  try {
    Fs.writeFileSync(fd, data)
    Fs.fsyncSync(fd)
  } finally {
    Fs.closeSync(fd)
  }
  return temp
}

/** Flushes a directory, so the names created or renamed in it survive a power loss. */
export const syncDirectory = (directory: string): void => {
  const fd = Fs.openSync(directory, "r")
  try {
    Fs.fsyncSync(fd)
  } finally {
    Fs.closeSync(fd)
  }
}
