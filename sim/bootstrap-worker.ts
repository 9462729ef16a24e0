// Runs in the bootstrap's worker thread (bootstrap-thread.ts): start, answering with the dialable addresses; stop.
import '../node/polyfill.ts'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { startBootstrap, dialableAddrs } from '../bootstrap/bootstrap-node.ts'
import type { FeditHost } from '../node/host.ts'
import { serve } from '../trainer/worker/rpc.ts'

let host: FeditHost | undefined

serve({
  start: async () => {
    host ??= await startBootstrap({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'],
      local: true })
    return dialableAddrs(host)
  },
  stop: async () => {
    await host?.stop()
    host = undefined
    return true
  }
})
