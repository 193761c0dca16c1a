/**
 * The last lines of an inline delta-rs script run by a test: flush, then leave with `os._exit(0)`. At a normal
 * interpreter exit, deltalake's runtime threads can abort the process ("terminate called without an active
 * exception", status 134) after the script's work is done; the project's reader scripts leave the same way.
 */
export const exitAfterOutput = "\nimport os as _os, sys as _sys\n_sys.stdout.flush()\n_sys.stderr.flush()\n_os._exit(0)\n"
