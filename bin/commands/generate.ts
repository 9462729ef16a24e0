// fedit generate: text from a model (+ a LoRA adapter), greedy or sampled, streamed or as JSON.
import { CliError } from '../cli-error.ts'
import { parseFlags } from '../flags.ts'
import { checkMemory } from '../memory-check.ts'
import { deviceFlag, numberFlag, precisionFlag, quantizeFlag, quantizeNote, required } from '../flag-values.ts'
import { loadCheckpoint } from '../../trainer/checkpoint/load.ts'
import { loadTokenizerFor } from '../../trainer/tokenizer.ts'
import { loadAdapter } from '../../trainer/lora/peft-folder.ts'
import { Generator } from '../../trainer/model/generate.ts'
import { formatPrompt } from '../../trainer/data/prompt.ts'

export const help = `usage: fedit generate --model PATH [--adapter DIR]
                      (--prompt TEXT | --instruction TEXT [--input TEXT])
                      [--max-tokens N] [--temperature T] [--top-p P] [--seed S] [--json]
                      [--device cpu|cuda|webgpu] [--threads N] [--precision auto|fp32|fp16|bf16]
                      [--quantize int8|int4]

Generates text after BOS + the prompt. With --instruction (and --input), the prompt is the Alpaca template the
adapters are trained with, and the output is the response. Stops at EOS or after --max-tokens.
  --model PATH       llama2.c .bin or Hugging Face folder (its tokenizer is found beside it / inside it)
  --adapter DIR      a PEFT LoRA adapter folder (adapter_config.json + adapter_model.safetensors)
  --prompt TEXT      raw prompt ('' = start from BOS alone)
  --max-tokens N     default 256
  --temperature T    0 (default) = greedy
  --top-p P          nucleus sampling mass (default 1)
  --seed S           sampling seed (default 0)
  --json             print {"ids": [generated ids], "text": "..."} instead of streaming the text
  --precision P      compute precision: auto (default: the checkpoint's on a GPU, fp32 on the CPU), fp32, fp16,
                     bf16 (GPU only); the KV cache follows it
  --quantize Q       int8 or int4: the linear weights block-quantized at load (fp32 compute; faster on the CPU,
                     a quarter or an eighth of fp32's bytes read per token, slightly different outputs)
  --max-memory SIZE  stop before starting when the memory estimate exceeds SIZE (e.g. 16G; default: the machine's)`

export async function run (argv: string[]): Promise<number> {
  const f = parseFlags(argv, { strings: ['model', 'adapter', 'prompt', 'instruction', 'input', 'max-tokens',
    'temperature', 'top-p', 'seed', 'device', 'threads', 'max-memory', 'precision', 'quantize'], booleans: ['json'] })
  const modelPath = required(f, 'model', 'PATH')
  const prompt = f.strings.get('prompt')
  const instruction = f.strings.get('instruction')
  if ((prompt === undefined) === (instruction === undefined)) {
    throw new CliError('give exactly one of --prompt TEXT or --instruction TEXT', 2)
  }
  if (f.strings.has('input') && instruction === undefined) throw new CliError('--input goes with --instruction', 2)
  const maxTokens = numberFlag(f, 'max-tokens', { integer: true, min: 1 }) ?? 256
  const temperature = numberFlag(f, 'temperature', { min: 0 }) ?? 0
  const topP = numberFlag(f, 'top-p', { min: 1e-6, max: 1 }) ?? 1
  const seed = numberFlag(f, 'seed', { integer: true, min: 0 }) ?? 0
  const threads = numberFlag(f, 'threads', { integer: true, min: 0 })
  const device = deviceFlag(f)

  const ckpt = loadCheckpoint(modelPath)
  const precision = precisionFlag(f, device, ckpt)
  const quantize = quantizeFlag(f, precision)
  const tok = loadTokenizerFor(modelPath, ckpt.config.vocabSize)
  const adapter = f.strings.has('adapter') ? loadAdapter(f.strings.get('adapter')!, ckpt.config) : undefined
  const text = instruction !== undefined ? formatPrompt(instruction, f.strings.get('input') ?? '') : prompt!
  const ids = [tok.bosId, ...tok.encode(text)]
  const json = f.booleans.has('json')
  checkMemory(ckpt, { kind: 'generate', microBatch: 1, seq: ids.length + maxTokens, lora: adapter?.config,
    quantize }, f, '--max-tokens or the prompt')
  if (quantize !== undefined) console.error(quantizeNote(quantize))
  const gen = await Generator.create(ckpt, { adapter, device, threads, precision, quantize })
  const out: number[] = []
  let shown = ''
  try {
    await gen.generate(ids, {
      maxTokens, temperature, topP, seed,
      onToken: (id) => {
        out.push(id)
        if (json) return
        // decode the whole tail so SentencePiece's word-initial spaces come out right, print what is new
        const now = tok.decode(out)
        if (now.startsWith(shown)) process.stdout.write(now.slice(shown.length))
        shown = now
      }
    })
  } finally {
    await gen.release()
  }
  if (json) console.log(JSON.stringify({ ids: out, text: tok.decode(out) }))
  else process.stdout.write('\n')
  return 0
}
