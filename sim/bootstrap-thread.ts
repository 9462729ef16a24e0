// The in-process fleet's bootstrap in a worker thread of its own: every joining peer dials it, and on the peers'
// event loop it answered late once that loop was full (100 peers: 44 still could not finish a handshake with it
// 3 min on; with its own thread all 100 held a connection 60 s after start). A thread ends with the process, so a
// killed simulation leaves no bootstrap behind.
import { WorkerClient } from '../trainer/worker/rpc.ts'

export interface BootstrapThread {
  /** dialable addresses, each ending in /p2p/<id> */
  readonly addrs: readonly string[]
  stop (): Promise<void>
}

export async function startBootstrapThread (): Promise<BootstrapThread> {
  const client = new WorkerClient(new URL('./bootstrap-worker.ts', import.meta.url))
  let addrs: string[]
  try {
    addrs = await client.call<string[]>('start')
  } catch (err) {
    await client.close()
    throw err
  }
  return {
    addrs,
    async stop () {
      await client.call('stop').catch(() => {})
      await client.close()
    }
  }
}
