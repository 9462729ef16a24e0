// The trainer worker: owns the ONNX Runtime sessions (session.run blocks its thread) and serves any number of
// peers' RoundTrainers, one job at a time, sharing models and sessions among them (session-pool.ts).
// Methods: open(spec) -> {peer, modelConfig, stats, hasEval, workers}; train({peer, round, base, seed});
// evaluate({peer, adapter}); cancel({peer}); close({peer}). Events: 'progress' {peer, round, ...StepInfo}.
import type { Adapter } from '../lora/adapter.ts'
import { serve } from './rpc.ts'
import { SessionPool } from '../train/session-pool.ts'
import type { RoundTrainerSpec } from '../train/round-trainer.ts'
import { RoundTrainer } from '../train/round-trainer.ts'

const pool = new SessionPool()
const peers = new Map<number, { trainer: RoundTrainer, abort?: AbortController }>()
let nextPeer = 1
let queue: Promise<unknown> = Promise.resolve()

/** One job at a time: two sessions running at once on one thread's cores would only slow both. */
function serial<T> (job: () => Promise<T>): Promise<T> {
  const run = queue.then(job, job)
  queue = run.catch(() => {})
  return run
}

function peerOf (id: number): { trainer: RoundTrainer, abort?: AbortController } {
  const p = peers.get(id)
  if (p === undefined) throw new Error(`no open trainer ${id}`)
  return p
}

serve({
  open: async (spec: RoundTrainerSpec) => await serial(async () => {
    const trainer = await RoundTrainer.open(pool, spec)
    const peer = nextPeer++
    peers.set(peer, { trainer })
    return { peer, modelConfig: trainer.modelConfig, stats: trainer.stats, hasEval: trainer.hasEval,
      workers: trainer.workers }
  }),
  train: async (p: { peer: number, round: number, base: Adapter, seed: number }, emit) => {
    const entry = peerOf(p.peer)
    const abort = new AbortController()
    entry.abort = abort
    return await serial(async () => {
      try {
        return await entry.trainer.train(p, { signal: abort.signal,
          onStep: (s) => emit('progress', { peer: p.peer, round: p.round, ...s }) })
      } finally {
        if (entry.abort === abort) entry.abort = undefined
      }
    })
  },
  evaluate: async (p: { peer: number,
    adapter: Adapter }) => await serial(async () => await peerOf(p.peer).trainer.evaluate(p.adapter)),
  cancel: (p: { peer: number }) => { peers.get(p.peer)?.abort?.abort(); return true },
  close: async (p: { peer: number }) => {
    peers.get(p.peer)?.abort?.abort()
    return await serial(async () => {
      const e = peers.get(p.peer)
      if (e === undefined) return false
      peers.delete(p.peer)
      await e.trainer.close()
      return true
    })
  }
})
