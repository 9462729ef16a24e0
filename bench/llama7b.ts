// LLaMA-2-7B as a user would run it: a random LLaMA-2-7B-shaped fp16 Hugging Face folder (13.5 GB, written once
// into a cache folder outside the repository and reused; its path is printed), then, each in a child process
// whose memory this process samples from /proc (and kills past --kill-gb, a watchdog):
//   generate: prefill of 128 tokens + 8 decoded tokens (a Generator, one session);
//   peer: one LoRA step (r 8 on q_proj and v_proj, micro-batch 1 x --seq) on a train session alone, then with an
//         eval session created next to it (`fedit peer`'s pair) another step and an eval forward of the batch.
// peakRssMB / privateMB: the largest resident set (and its anonymous, private part) of one command (generate,
// train); peerPeakRssMB: the pair's. Resident sizes are proportional (Pss): two sessions of one process map the
// same file pages twice, which plain RSS would count twice though the memory is held once (rssMB beside them).
// Times are CPU time (user + system, all threads) by default: on a shared machine wall time is mostly other
// people's load; --clock wall for wall time.
// With --quantize int8,int4 (a list; 'none' is the fp16 folder as stored), each arm runs in its own children with
// its linear weights block-quantized at load (trainer/model/quantize.ts), and the last line compares them
// ({"bench":"llama7b-quantize", ...}: per arm the step, forward and decode times, peaks, and ratios to 'none').
// Usage: npm run bench -- llama7b [--layers N] [--seq T] [--threads K] [--kill-gb G] [--cache DIR] [--clock cpu|wall]
//   [--only generate|peer] [--quantize none,int8,int4]
import { fork } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { clockFlag, flagValue, numberFlag } from './lib/args.ts'
import { llama2_7b, writeRandomHf } from './lib/random-hf.ts'
import { DEFAULT_BLOCK_SIZE, parseQuantize } from '../trainer/model/quantize.ts'

const layers = numberFlag('layers', 32)
const seq = numberFlag('seq', 128)
const threads = numberFlag('threads', 2)
const killGb = numberFlag('kill-gb', 17)
const MiB = 1024 * 1024
const clock = flagValue('clock') ?? 'cpu'

interface Mem { rss: number, pss: number, anon: number }
/** the process's resident memory from smaps_rollup (bytes): Rss, Pss, and the anonymous (private) part */
function memOf (pid: number): Mem | undefined {
  try {
    const t = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8')
    const kb = (k: string): number => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(t)?.[1] ?? 0) * 1024
    return { rss: kb('Rss'), pss: kb('Pss'), anon: kb('Anonymous') }
  } catch { return undefined }
}

type Phase = 'load' | 'generate' | 'train' | 'pair'
interface ChildReport { [k: string]: number }

/** Runs this file as `--child kind`, sampling its memory per phase; resolves with its report and the peaks. */
async function runChild (kind: 'generate' | 'peer', dir: string, quantize = 'none'):
Promise<{ report: ChildReport, peaks: Map<Phase, Mem> }> {
  const args = ['--child', kind, '--dir', dir, '--seq', String(seq), '--threads', String(threads), '--clock', clock,
    '--quantize', quantize]
  const child = fork(fileURLToPath(import.meta.url), args, { execArgv: ['--import', 'tsx'], stdio: 'inherit' })
  const peaks = new Map<Phase, Mem>()
  let phase: Phase = 'load'
  let report: ChildReport | undefined
  let killed: string | undefined
  child.on('message', (m: { phase?: Phase, report?: ChildReport }) => {
    if (m.phase !== undefined) phase = m.phase
    if (m.report !== undefined) report = m.report
  })
  const sample = (): void => {
    const m = memOf(child.pid!)
    if (m === undefined) return
    const p = peaks.get(phase) ?? { rss: 0, pss: 0, anon: 0 }
    peaks.set(phase, { rss: Math.max(p.rss, m.rss), pss: Math.max(p.pss, m.pss), anon: Math.max(p.anon, m.anon) })
    // the machine is shared: stop also when it runs short, whoever holds the memory
    const meminfo = readFileSync('/proc/meminfo', 'utf8')
    const avail = Number(/^MemAvailable:\s+(\d+) kB/m.exec(meminfo)?.[1] ?? Infinity) * 1024
    if (m.pss > killGb * 1024 * MiB || avail < 1024 * MiB) {
      killed = `${kind}: ${(m.pss / 1024 / MiB).toFixed(1)} GiB in phase ${phase} (machine: ` +
        `${(avail / 1024 / MiB).toFixed(1)} GiB available), over --kill-gb ${killGb} or under 1 GiB available`
      child.kill('SIGKILL')
    }
  }
  const timer = setInterval(sample, 200)
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)))
  clearInterval(timer)
  if (killed !== undefined) throw new Error(`watchdog killed ${killed}`)
  if (code !== 0 || report === undefined) throw new Error(`${kind} child failed (exit ${String(code)})`)
  return { report, peaks }
}

async function parent (): Promise<void> {
  const cache = flagValue('cache') ?? process.env.FEDIT_CACHE ?? join(homedir(), '.cache', 'fedit')
  const dir = join(cache, layers === 32 ? 'llama2-7b-random-fp16' : `llama2-7b-random-fp16-${layers}layers`)
  console.log(`model: ${dir} (LLaMA-2-7B-shaped, ${layers} layers, random fp16; written once, reused)`)
  const tokenizerDir = fileURLToPath(new URL('../../shared/tokenizers/llama2', import.meta.url))
  let shown = -1
  writeRandomHf(dir, llama2_7b(layers), 'F16', {
    tokenizerDir,
    onProgress: (done, total) => {
      const pct = Math.floor(done / total * 20) * 5
      if (pct !== shown) { shown = pct; process.stdout.write(`writing ${(total / 1e9).toFixed(1)} GB: ${pct}%\n`) }
    }
  })
  const indexFile = join(dir, 'model.safetensors.index.json')
  const index = JSON.parse(readFileSync(indexFile, 'utf8')) as { metadata: { total_size: number } }
  const weightsMB = Math.round(index.metadata.total_size / MiB)
  const only = flagValue('only')
  if (only !== undefined && only !== 'generate' && only !== 'peer') {
    throw new Error(`--only: generate or peer, not ${only}`)
  }
  const peakOf = (r: { peaks: Map<Phase, Mem> }, phase: Phase): string => {
    const m = r.peaks.get(phase)!
    const mb = (x: number): number => Math.round(x / MiB)
    return `${phase}: ${mb(m.pss)} MB (rss ${mb(m.rss)}, private ${mb(m.anon)})`
  }
  const arms = (flagValue('quantize') ?? 'none').split(',')
  arms.forEach((a) => parseQuantize(a))
  if (arms.length > 1 || arms[0] !== 'none') {
    await compareQuantized(dir, arms, only)
    return
  }
  if (only === 'peer') {
    const r = await runChild('peer', dir)
    console.log(`${peakOf(r, 'train')}; ${peakOf(r, 'pair')}`)
    console.log(JSON.stringify({ ...r.report, ratio: Number((r.report.stepMs! / r.report.forwardMs!).toFixed(2)) }))
    return
  }
  const gen = await runChild('generate', dir)
  if (only === 'generate') {
    console.log(peakOf(gen, 'generate'))
    console.log(JSON.stringify(gen.report))
    return
  }
  const peer = await runChild('peer', dir)
  const g = gen.peaks.get('generate')!
  const t = peer.peaks.get('train')!
  const pair = peer.peaks.get('pair')!
  const mb = (x: number): number => Math.round(x / MiB)
  const line = (name: string, m: Mem): string => `${name}: ${mb(m.pss)} MB (rss ${mb(m.rss)}, private ${mb(m.anon)})`
  console.log([line('generate', g), line('train', t), line('pair', pair)].join('; '))
  console.log(`prefill ${seq} tokens: ${gen.report.prefillMs!.toFixed(0)} ms; estimate (train): ` +
    `${peer.report.estimateMB} MB; threads ${threads}, layers ${layers}, seq ${seq}; ${clock} clock`)
  const forwardMs = peer.report.forwardMs!
  const stepMs = peer.report.stepMs!
  console.log(JSON.stringify({
    bench: 'llama7b',
    peakRssMB: mb(Math.max(g.pss, t.pss)),
    privateMB: mb(Math.max(g.anon, t.anon)),
    forwardMs: Math.round(forwardMs),
    stepMs: Math.round(stepMs),
    ratio: Number((stepMs / forwardMs).toFixed(2)),
    decodeMsPerToken: Math.round(gen.report.decodeMsPerToken!),
    weightsMB,
    peerPeakRssMB: mb(pair.pss)
  }))
}

/** Each arm's generate and peer children (or one of them with --only); one JSON line comparing them to the first */
async function compareQuantized (dir: string, arms: readonly string[], only: string | undefined): Promise<void> {
  const mb = (x: number): number => Math.round(x / MiB)
  const result: Record<string, Record<string, number>> = {}
  for (const arm of arms) {
    const r: Record<string, number> = {}
    if (only !== 'peer') {
      const gen = await runChild('generate', dir, arm)
      const g = gen.peaks.get('generate')!
      Object.assign(r, { generatePeakMB: mb(g.pss), generatePrivateMB: mb(g.anon),
        prefillMs: Math.round(gen.report.prefillMs!), decodeMsPerToken: Math.round(gen.report.decodeMsPerToken!),
        generateLoadMs: Math.round(gen.report.loadMs!) })
    }
    if (only !== 'generate') {
      const peer = await runChild('peer', dir, arm)
      const t = peer.peaks.get('train')!
      const pair = peer.peaks.get('pair')!
      Object.assign(r, { stepMs: Math.round(peer.report.stepMs!), forwardMs: Math.round(peer.report.forwardMs!),
        trainPeakMB: mb(t.pss), trainPrivateMB: mb(t.anon), pairPeakMB: mb(pair.pss), pairPrivateMB: mb(pair.anon),
        trainLoadMs: Math.round(peer.report.loadMs!) })
    }
    console.log(`${arm}: ${JSON.stringify(r)}`)
    result[arm] = r
  }
  const base = result[arms[0]!]!
  const ratios = Object.fromEntries(arms.slice(1).map((a) => [a, Object.fromEntries(['stepMs', 'forwardMs',
    'decodeMsPerToken', 'trainPeakMB', 'generatePeakMB'].filter((k) => base[k] !== undefined)
    .map((k) => [k, Number((result[a]![k]! / base[k]!).toFixed(2))]))]))
  console.log(JSON.stringify({ bench: 'llama7b-quantize', layers, seq, threads, clock, arms: result,
    ratiosTo: arms[0], ratios }))
}

async function child (kind: string): Promise<void> {
  const [{ loadCheckpoint }, { EvalSession, TrainSession }, { Generator }, { initAdapter }, { estimateMemory }] =
    await Promise.all([import('../trainer/checkpoint/load.ts'), import('../trainer/model/sessions.ts'),
      import('../trainer/model/generate.ts'), import('../trainer/lora/init.ts'), import('../trainer/model/memory.ts')])
  const send = (m: unknown): void => { process.send!(m) }
  const { now } = clockFlag()
  const ck = loadCheckpoint(flagValue('dir')!)
  const bits = parseQuantize(flagValue('quantize'))
  const quantize = bits !== undefined ? { bits, blockSize: DEFAULT_BLOCK_SIZE } : undefined
  const load0 = now()
  const V = ck.config.vocabSize
  const ids = Array.from({ length: seq + 1 }, (_, i) => 3 + (i * 7919) % (V - 3))
  if (kind === 'generate') {
    const gen = await Generator.create(ck, { threads, quantize })
    const loadMs = now() - load0
    send({ phase: 'generate' })
    const times: number[] = []
    const t0 = now()
    const onToken = (): void => { times.push(now()) }
    await gen.generate(ids.slice(0, seq), { maxTokens: 9, temperature: 0, stopId: null, onToken })
    send({ report: { prefillMs: times[0]! - t0, decodeMsPerToken: (times[8]! - times[0]!) / 8, loadMs } })
    await gen.release()
    return
  }
  const lora = { r: 8, alpha: 16, dropout: 0, targetModules: ['q_proj', 'v_proj'] as const }
  const cfg = { ...lora, targetModules: [...lora.targetModules] }
  const adapter = initAdapter(ck.config, cfg, 1)
  const batch = {
    batch: 1,
    seq,
    inputIds: BigInt64Array.from(ids.slice(0, seq), BigInt),
    labels: BigInt64Array.from(ids.slice(1), BigInt),
    attentionMask: new BigInt64Array(seq).fill(1n)
  }
  const estimate = estimateMemory(ck, { kind: 'train', microBatch: 1, seq, lora: cfg })
  const train = await TrainSession.create(ck, cfg, { threads, quantize })
  const loadMs = now() - load0
  send({ phase: 'train' })
  let t0 = now()
  await train.run(batch, adapter)
  const stepMs = now() - t0
  const ev = await EvalSession.create(ck, { threads, lora: cfg, quantize })
  send({ phase: 'pair' })
  await train.run(batch, adapter) // the pair's peak: a step with the eval session held, then its forward
  t0 = now()
  await ev.run(batch, adapter)
  const forwardMs = now() - t0
  send({ report: { stepMs, forwardMs, estimateMB: Math.round(estimate.totalBytes / MiB), loadMs } })
  await ev.release()
  await train.release()
}

const kind = flagValue('child')
await (kind === undefined ? parent() : child(kind))
