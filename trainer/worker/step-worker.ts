// A helper thread of a ThreadedStepRunner (train/threaded-step-runner.ts): one TrainSession of the model, running
// the micro-batches it is sent. Methods: open(spec) -> {names, lossScaling}; run({job, version, adapter?, next?})
// -> result; tokenize({records, options}) -> {examples, stats}, with 'tokenized' {done} events (a share of the data,
// before training). The adapter comes once per version (once per optimizer step), not with every micro-batch.
import type { Adapter } from '../lora/adapter.ts'
import type { TrainResult } from '../model/sessions.ts'
import { TrainSession } from '../model/sessions.ts'
import { loadCheckpoint } from '../checkpoint/load.ts'
import { loadTokenizerFor } from '../tokenizer.ts'
import type { Tokenizer } from '../tokenizer.ts'
import type { InstructionRecord } from '../data/record.ts'
import type { TokenizeOptions } from '../data/tokenize-example.ts'
import { tokenizeRecords } from '../data/tokenize-example.ts'
import type { MicroBatchJob } from '../train/step-runner.ts'
import type { StepWorkerSpec } from '../train/threaded-step-runner.ts'
import { serve } from './rpc.ts'

let session: TrainSession | undefined
let model: { path: string, vocabSize: number } | undefined
let tokenizer: Tokenizer | undefined
let current: { version: number, adapter: Adapter } | undefined

serve({
  open: async (spec: StepWorkerSpec) => {
    if (session !== undefined) throw new Error('this step worker is open already')
    const { modelPath, lora, ...options } = spec
    const ckpt = loadCheckpoint(modelPath)
    model = { path: modelPath, vocabSize: ckpt.config.vocabSize }
    session = await TrainSession.create(ckpt, lora, options)
    return { names: session.names, lossScaling: session.lossScaling }
  },
  run: async (p: { job: MicroBatchJob, version: number, adapter?: Adapter,
    next?: MicroBatchJob }): Promise<TrainResult> => {
    if (session === undefined) throw new Error('this step worker is not open')
    if (p.adapter !== undefined) current = { version: p.version, adapter: p.adapter }
    if (current?.version !== p.version) {
      throw new Error(`step worker holds adapter version ${current?.version ?? 'none'}, asked for ${p.version}`)
    }
    if (p.next !== undefined) session.prefetchDropout(p.next.batch, p.next.dropoutSeed)
    const r = await session.run(p.job.batch, current.adapter, p.job.dropoutSeed, p.job.lossScale)
    // copies that own their buffers: rpc moves them to the caller instead of copying them again
    return { lossSum: r.lossSum, tokens: r.tokens, grads: new Map([...r.grads]
      .map(([k, t]) => [k, { shape: t.shape, data: Float32Array.from(t.data) }])) }
  },
  tokenize: (p: { records: InstructionRecord[], options: TokenizeOptions }, emit) => {
    if (model === undefined) throw new Error('this step worker is not open')
    tokenizer ??= loadTokenizerFor(model.path, model.vocabSize)
    return tokenizeRecords(tokenizer, p.records, p.options, (done) => { emit('tokenized', { done }) })
  },
  close: async () => {
    await session?.release()
    session = undefined
  }
})
