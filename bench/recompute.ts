// Per-layer activation recomputation (--recompute) against the plain train graph at one long length: peak RSS
// and time of a LoRA step, each arm in a child process of its own (peak RSS is per process). stories260K by
// default, or --model PATH (e.g. the 2-layer 7B-shaped folder of bench llama7b); random tokens, all of them
// targets. Times are the child's CPU time (user + system) per step, less sensitive to a loaded machine.
// Usage: npm run bench -- recompute [--model PATH] [--batch B] [--seq T] [--steps S] [--threads N]
import { spawnSync } from 'node:child_process'
import { loadCheckpoint } from '../trainer/checkpoint/load.ts'
import { DEFAULT_LORA } from '../trainer/lora/adapter.ts'
import { initAdapter } from '../trainer/lora/init.ts'
import { TrainSession } from '../trainer/model/sessions.ts'
import { flagValue, numberFlag } from './lib/args.ts'

const model = flagValue('model') ?? 'assets/stories260K/stories260K.bin'
const batch = numberFlag('batch', 8)
const seq = numberFlag('seq', 511)
const steps = numberFlag('steps', 3)
const threads = numberFlag('threads', 1)
const arm = flagValue('arm')

const cpuMs = (): number => { const u = process.cpuUsage(); return (u.user + u.system) / 1000 }

if (arm !== undefined) {
  const ckpt = loadCheckpoint(model)
  const lora = { ...DEFAULT_LORA, dropout: 0 }
  const baseMB = process.resourceUsage().maxRSS / 1024
  const s = await TrainSession.create(ckpt, lora, { threads, recompute: arm === 'recompute' })
  const ad = initAdapter(ckpt.config, lora, 1)
  const n = batch * seq
  const ids = BigInt64Array.from({ length: n }, (_, i) => BigInt(3 + (i * 7919) % (ckpt.config.vocabSize - 3)))
  const b = { batch, seq, inputIds: ids, labels: ids.map((_, i) => ids[(i + 1) % n]!),
    attentionMask: new BigInt64Array(n).fill(1n) }
  const first = await s.run(b, ad)
  const t0 = cpuMs()
  for (let i = 0; i < steps; i++) await s.run(b, ad)
  const stepMs = (cpuMs() - t0) / steps
  const peakMB = process.resourceUsage().maxRSS / 1024
  await s.release()
  console.log(JSON.stringify({ arm, loss: first.lossSum / first.tokens, stepMs, peakMB, baseMB }))
} else {
  const run = (a: string): { loss: number, stepMs: number, peakMB: number, baseMB: number } => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'bench/recompute.ts', ...process.argv.slice(2),
      '--arm', a], { encoding: 'utf8' })
    if (r.status !== 0) throw new Error(`${a} arm failed: ${r.stderr}`)
    const line = r.stdout.trim().split('\n').pop()!
    console.error(line)
    return JSON.parse(line) as { loss: number, stepMs: number, peakMB: number, baseMB: number }
  }
  const plain = run('plain')
  const again = run('recompute')
  console.log(JSON.stringify({ bench: 'recompute', model, batch, seq, plainPeakMB: Math.round(plain.peakMB),
    recomputePeakMB: Math.round(again.peakMB), plainStepMs: Math.round(plain.stepMs),
    recomputeStepMs: Math.round(again.stepMs), peakRatio: +(again.peakMB / plain.peakMB).toFixed(3),
    timeRatio: +(again.stepMs / plain.stepMs).toFixed(3), lossDiff: Math.abs(again.loss - plain.loss) }))
}
