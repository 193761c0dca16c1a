/**
 * A localhost port nothing listens on (bound once, then released), for "unreachable" tests.
 */
import * as Net from "node:net"

/** Resolves to a port that was free a moment ago and is closed now. */
export const closedPort = (): Promise<number> =>
  new Promise((resolve) => {
    const server = Net.createServer()
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as Net.AddressInfo).port
      server.close(() => resolve(port))
    })
  })
