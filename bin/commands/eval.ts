// fedit eval: held-out loss of a model (+ adapter) on instruction data, overall and per category.
import { CliError } from '../cli-error.ts'
import { parseFlags } from '../flags.ts'
import { checkMemory } from '../memory-check.ts'
import {
  choiceFlag, deviceFlag, numberFlag, precisionFlag, quantizeFlag, quantizeNote, required
} from '../flag-values.ts'
import { loadCheckpoint } from '../../trainer/checkpoint/load.ts'
import { loadTokenizerFor } from '../../trainer/tokenizer.ts'
import { loadAdapter } from '../../trainer/lora/peft-folder.ts'
import { EvalSession } from '../../trainer/model/sessions.ts'
import { Generator } from '../../trainer/model/generate.ts'
import { readInstructions } from '../../trainer/data/readers.ts'
import { readLocalRecords, tokenizeOrFail } from '../../trainer/train/local-data.ts'
import { withCountProgress } from '../progress.ts'
import { evaluateExamples, rougeOnSample } from '../../trainer/train/evaluate.ts'

export const help = `usage: fedit eval --model PATH [--adapter DIR] --data FILE [--limit N] [--split auto|all] [--json]
                  [--rouge N] [--max-length N] [--truncation context-first|truncate-end] [--micro-batch N]
                  [--device D] [--threads N] [--precision auto|fp32|fp16|bf16] [--quantize int8|int4]

Mean token cross-entropy of the reference responses (the prompt carries no loss) and perplexity, overall and
per category. Which records: with --split auto (default), a file with records past line 80 (Dolly) is
evaluated on its held-out lines 1-80 (FedIT's test split, never used by fedit train); a smaller file is used
whole. --split all uses every record. --limit N takes the first N of them.
  --json       print {"evalLoss", "perplexity", "byCategory": {...}, "examples"} (+ "rougeL" with --rouge)
  --rouge N    also ROUGE-L F of greedy responses against the references on the first N examples
  --max-length default 512 (as training); longer examples are shortened the same way
  --precision  compute precision (default auto: the checkpoint's on a GPU, fp32 on the CPU; bf16 needs a GPU)
  --quantize   int8 or int4: the linear weights block-quantized at load (fp32 compute; faster on the CPU, the
               loss moves a little: int8 ~0.1 %, int4 a few %)
  --max-memory SIZE  stop before starting when the run's memory estimate exceeds SIZE (e.g. 16G; default:
               this machine's memory)`

export async function run (argv: string[]): Promise<number> {
  const f = parseFlags(argv, { strings: ['model', 'adapter', 'data', 'limit', 'split', 'rouge', 'max-length',
    'truncation', 'micro-batch', 'max-tokens', 'device', 'threads', 'max-memory', 'precision', 'quantize'],
    booleans: ['json', 'skip-malformed'] })
  const modelPath = required(f, 'model', 'PATH')
  const data = required(f, 'data', 'FILE')
  const limit = numberFlag(f, 'limit', { integer: true, min: 1 })
  const split = choiceFlag(f, 'split', ['auto', 'all'] as const, 'auto')
  const rouge = numberFlag(f, 'rouge', { integer: true, min: 1 })
  const maxLength = numberFlag(f, 'max-length', { integer: true, min: 8 }) ?? 512
  const truncation = choiceFlag(f, 'truncation', ['context-first', 'truncate-end'] as const, 'context-first')
  const micro = numberFlag(f, 'micro-batch', { integer: true, min: 1 }) ?? 8
  const threads = numberFlag(f, 'threads', { integer: true, min: 0 })
  const device = deviceFlag(f)
  const onMalformed = f.booleans.has('skip-malformed') ? 'skip' : 'reject'

  const ckpt = loadCheckpoint(modelPath)
  const precision = precisionFlag(f, device, ckpt)
  const quantize = quantizeFlag(f, precision)
  const tok = loadTokenizerFor(modelPath, ckpt.config.vocabSize)
  const adapter = f.strings.has('adapter') ? loadAdapter(f.strings.get('adapter')!, ckpt.config) : undefined
  let records = split === 'all' ? readInstructions(data, { onMalformed }).records
    : readLocalRecords(data, { onMalformed }).test
  if (limit !== undefined) records = records.slice(0, limit)
  if (records.length === 0) throw new CliError(`${data}: no records to evaluate`)
  // bars for work long enough to leave a user wondering (--split all on Dolly: seconds to tokenize, minutes to run)
  const options = { maxLength, truncation, trainOnInputs: false }
  const { examples, stats } = await withCountProgress('data: tokenizing', records.length, 'records', 2000,
    (update) => tokenizeOrFail(tok, records, options, 'evaluation', update))
  checkMemory(ckpt, { kind: 'eval', microBatch: micro, seq: maxLength, lora: adapter?.config, quantize }, f,
    '--micro-batch or --max-length')
  if (quantize !== undefined) console.error(quantizeNote(quantize))
  const session = await EvalSession.create(ckpt, { lora: adapter?.config, device, threads, precision, quantize })
  let summary
  try {
    summary = await withCountProgress('eval', examples.length, 'examples', 200,
      async (onProgress) => await evaluateExamples(session, examples, { adapter, microBatchSize: micro, onProgress }))
  } finally { await session.release() }
  let rougeL: number | undefined
  if (rouge !== undefined) {
    const gen = await Generator.create(ckpt, { adapter, device, threads, precision, quantize })
    const n = Math.min(rouge, records.length)
    try {
      rougeL = (await withCountProgress('rouge', n, 'responses', 10,
        async (update) => await rougeOnSample(gen, tok, records, rouge,
        numberFlag(f, 'max-tokens', { integer: true, min: 1 }) ?? 128, update))).rougeL
    } finally { await gen.release() }
  }
  if (f.booleans.has('json')) {
    console.log(JSON.stringify({ evalLoss: summary.evalLoss, perplexity: summary.perplexity,
      byCategory: summary.byCategory, examples: summary.examples, ...(rougeL !== undefined ? { rougeL } : {}) }))
    return 0
  }
  console.log(`eval loss ${summary.evalLoss.toFixed(4)}  perplexity ${summary.perplexity.toFixed(2)}  ` +
    `(${summary.examples} examples, ${summary.tokens} response tokens; ${stats.shortened} ` +
    `shortened, ${stats.dropped} dropped)`)
  const width = Math.max(0, ...Object.keys(summary.byCategory).map((c) => c.length))
  for (const [cat, l] of Object.entries(summary.byCategory)) console.log(`  ${cat.padEnd(width)}  ${l.toFixed(4)}`)
  if (rougeL !== undefined) {
    console.log(`ROUGE-L ${rougeL.toFixed(4)} on ${Math.min(rouge!, records.length)} greedy responses`)
  }
  return 0
}
