// Many peers started in one process (the simulation, bench scale) join one at a time: each waits for its first
// connection before the next starts. Started back to back, 100 peers handshook with one bootstrap at once in a
// process whose loop lagged by seconds; the handshakes timed out and were retried in crowds, and a third of the job
// stayed alone (bench scale, docs/performance.md). Waiting lets the process's own load set the pace.
import type { Libp2p } from '@libp2p/interface'

/** Resolves true once `host` holds a connection (at once if it does), false after `timeoutMs` without one. */
export async function firstConnection (host: Libp2p, timeoutMs: number): Promise<boolean> {
  if (host.getConnections().length > 0) return true
  return await new Promise<boolean>((resolve) => {
    const done = (ok: boolean): void => {
      clearTimeout(timer)
      host.removeEventListener('connection:open', opened)
      resolve(ok)
    }
    const opened = (): void => { done(true) }
    const timer = setTimeout(() => { done(false) }, timeoutMs)
    host.addEventListener('connection:open', opened)
  })
}
