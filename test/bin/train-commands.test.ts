// The training/inference commands as a user runs them: `node bin/fedit.js ...` in a child process.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const MODEL = 'assets/stories260K/stories260K.bin'
const DOLLY = 'assets/dolly/dolly-15k.jsonl.gz'
const tmp = (): string => mkdtempSync(join(tmpdir(), 'fedit-cli-'))
const fedit = (...args: string[]) => {
  const r = spawnSync(process.execPath, ['bin/fedit.js', ...args], { encoding: 'utf8', timeout: 60_000 })
  return { code: r.status, out: r.stdout, err: r.stderr }
}
const TRAIN = ['train', '--model', MODEL, '--data', DOLLY, '--limit', '16', '--batch-size', '8', '--micro-batch', '4',
  '--max-length', '160', '--rank', '2', '--lr', '5e-3', '--threads', '1']

test('generate --json: greedy from the empty prompt is the llama2.c reference', async () => {
  const { readFileSync } = await import('node:fs')
  const ref = JSON.parse(readFileSync('assets/stories260K/greedy_reference.json', 'utf8')) as { ids: number[] }
  const r = fedit('generate', '--model', MODEL, '--prompt', '', '--max-tokens', '40', '--json')
  assert.equal(r.code, 0, r.err)
  const j = JSON.parse(r.out) as { ids: number[], text: string }
  assert.deepEqual(j.ids, ref.ids.slice(0, 40))
  assert.match(j.text, /^Once upon a time/)
})

test('generate --quantize int8: greedy from the empty prompt keeps the reference\'s first tokens', () => {
  const base = JSON.parse(fedit('generate', '--model', MODEL, '--prompt', '', '--max-tokens', '24', '--json').out) as
    { ids: number[] }
  const r = fedit('generate', '--model', MODEL, '--prompt', '', '--max-tokens', '24', '--json', '--quantize', 'int8')
  assert.equal(r.code, 0, r.err)
  assert.deepEqual((JSON.parse(r.out) as { ids: number[] }).ids, base.ids)
})

test('train writes a PEFT adapter, refuses to overwrite it, eval --json reads it', () => {
  const out = tmp()
  const r = fedit(...TRAIN, '--steps', '3', '--out', out)
  assert.equal(r.code, 0, r.err)
  assert.ok(existsSync(join(out, 'adapter_model.safetensors')) && existsSync(join(out, 'adapter_config.json')))
  const again = fedit(...TRAIN, '--steps', '3', '--out', out)
  assert.equal(again.code, 1)
  assert.equal(again.err.trim(), `fedit train: ${out} already holds an adapter; use --force to overwrite it`)
  const e = fedit('eval', '--model', MODEL, '--adapter', out, '--data', DOLLY, '--limit', '8', '--max-length', '160',
    '--json')
  assert.equal(e.code, 0, e.err)
  const j = JSON.parse(e.out) as Record<string, unknown>
  assert.deepEqual(Object.keys(j), ['evalLoss', 'perplexity', 'byCategory', 'examples'])
  assert.equal(j.examples, 8)
  assert.ok(Math.abs(Math.exp(j.evalLoss as number) - (j.perplexity as number)) < 1e-9)
  // merge, then eval of the merged model equals eval of base + adapter
  const merged = tmp()
  const m = fedit('merge', '--model', MODEL, '--adapter', out, '--out', merged, '--force')
  assert.equal(m.code, 0, m.err)
  const em = fedit('eval', '--model', merged, '--data', DOLLY, '--limit', '8', '--max-length', '160', '--json')
  assert.equal(em.code, 0, em.err)
  assert.ok(Math.abs((JSON.parse(em.out) as { evalLoss: number }).evalLoss - (j.evalLoss as number)) < 1e-4)
})

test('train --workers 2 runs micro-batches side by side and writes the same adapter as --workers 1', async () => {
  const { readFileSync } = await import('node:fs')
  const outs = ['1', '2'].map((w) => {
    const out = tmp()
    const r = fedit(...TRAIN, '--steps', '2', '--out', out, '--workers', w)
    assert.equal(r.code, 0, r.err)
    assert.match(r.err, w === '2' ? /2 micro-batches of 4, 2 at once/ : /2 micro-batches of 4, lr/)
    return readFileSync(join(out, 'adapter_model.safetensors'))
  })
  assert.ok(outs[0]!.equals(outs[1]!), 'the adapters differ')
})

test('train on 2000+ records: the helpers tokenize them under a progress line', () => {
  const out = tmp()
  const r = fedit('train', '--model', MODEL, '--data', DOLLY, '--limit', '2000', '--steps', '1', '--batch-size', '8',
    '--micro-batch', '4', '--max-length', '160', '--rank', '2', '--workers', '2', '--out', out)
  assert.equal(r.code, 0, r.err)
  assert.match(r.err, /data: tokenizing 2000\/2000 records/)
  assert.match(r.err, /; 2000 examples \(\d+ shortened, 0 dropped/)
})

test('eval of 200+ examples and ROUGE of 10+ responses show progress on stderr; --json keeps stdout one line', () => {
  const r = fedit('eval', '--model', MODEL, '--data', DOLLY, '--split', 'all', '--limit', '200', '--max-length', '160',
    '--rouge', '10', '--max-tokens', '4', '--json')
  assert.equal(r.code, 0, r.err)
  assert.match(r.err, /^eval 200\/200 examples \d+ examples\/s ETA 0s$/m)
  assert.match(r.err, /^rouge 10\/10 responses /m)
  assert.deepEqual(Object.keys(JSON.parse(r.out) as object),
    ['evalLoss', 'perplexity', 'byCategory', 'examples', 'rougeL'])
})

test('Ctrl-C saves a checkpoint, --resume finishes the run', async () => {
  const out = tmp()
  const child = spawn(process.execPath, ['bin/fedit.js', ...TRAIN, '--steps', '40', '--out', out],
    { stdio: ['ignore', 'pipe', 'pipe'] })
  let err = ''
  const started = new Promise<void>((resolve) => child.stderr.on('data', (d: Buffer) => {
    err += String(d)
    if (err.includes('training 40 steps')) resolve()
  }))
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve))
  await Promise.race([started, exited])
  child.kill('SIGINT')
  assert.equal(await exited, 130, err)
  assert.match(err, /interrupted at step \d+\/40; checkpoint saved/)
  assert.ok(existsSync(join(out, 'train-state.safetensors')))
  assert.ok(!existsSync(join(out, 'adapter_model.safetensors')))
  const fresh = fedit(...TRAIN, '--steps', '40', '--out', out)
  assert.match(fresh.err, /holds an interrupted run; use --resume/)
  const wrong = fedit(...TRAIN, '--steps', '5', '--out', out, '--resume', '--lr', '1e-3')
  assert.equal(wrong.code, 1)
  assert.match(wrong.err, /cannot resume with different settings \(recipe:/)
  // quantized base weights give other numbers: not a resume of an fp32 run
  const quantized = fedit(...TRAIN, '--steps', '40', '--out', out, '--resume', '--quantize', 'int8')
  assert.equal(quantized.code, 1, quantized.err)
  assert.match(quantized.err, /cannot resume with different settings \(quantize: unset in the checkpoint/)
  const resumed = fedit(...TRAIN, '--steps', '40', '--out', out, '--resume')
  assert.equal(resumed.code, 0, resumed.err)
  assert.match(resumed.err, /training 40 steps from step [1-9]/)
  assert.ok(existsSync(join(out, 'adapter_model.safetensors')))
})

test('bad input: one line on stderr naming the problem, non-zero exit', () => {
  const dir = tmp()
  const bad = join(dir, 'bad.jsonl')
  writeFileSync(bad, '{"instruction":"a","context":"","response":"b","category":"x"}\n{"instruction": broken\n')
  const corrupt = join(dir, 'corrupt.bin')
  writeFileSync(corrupt, Buffer.alloc(20))
  const cases: Array<[string[], RegExp]> = [
    [['eval', '--model', join(dir, 'nope.bin'), '--data', DOLLY], /no such model file or folder/],
    [['eval', '--model', corrupt, '--data', DOLLY], /corrupt\.bin/],
    [['train', '--model', MODEL, '--data', bad, '--out', join(dir, 'o')], /bad\.jsonl:2: not valid JSON/],
    [['eval', '--model', MODEL, '--data', join(dir, 'missing.jsonl')], /missing\.jsonl: cannot read/],
    [['generate', '--model', MODEL, '--prompt', 'x', '--device', 'cuda'], /device 'cuda' is not available/],
    [['generate', '--model', MODEL, '--prompt', 'x', '--device', 'tpu'], /--device must be one of/],
    [['eval', '--model', MODEL, '--adapter', dir, '--data', DOLLY], /adapter_config\.json: cannot read/],
    [['train', '--model', MODEL, '--data', DOLLY, '--out', dir, '--steps', '0'], /--steps must be an integer >= 1/],
    [['train', '--model', MODEL, '--data', DOLLY, '--out', dir, '--workers', '0'], /--workers must be an integer >= 1/],
    [['train', '--model', MODEL, '--data', DOLLY, '--out', dir, '--max-memory', '100M'],
      new RegExp('needs about 0\\.\\d GB of memory \\(weights .*\\), more than the 0\\.1 GB of --max-memory; ' +
        'lower --micro-batch or --max-length')],
    [['generate', '--model', MODEL, '--prompt', 'x', '--max-memory', '100M'],
      /more than the 0\.1 GB .*lower --max-tokens/],
    [['eval', '--model', MODEL, '--data', DOLLY, '--max-memory', 'lots'], /--max-memory must be a size such as 16G/],
    [['train', '--model', MODEL, '--data', DOLLY, '--out', dir, '--precision', 'bf16'],
      /--precision bf16 needs a GPU \(--device cuda\)/],
    [['generate', '--model', MODEL, '--prompt', 'x', '--precision', 'half'], /--precision must be one of auto, fp32/],
    [['generate', '--model', MODEL, '--prompt', 'x', '--quantize', 'int3'], /--quantize must be int8, int4 or none/],
    [['eval', '--model', MODEL, '--data', DOLLY, '--quantize', 'int8', '--precision', 'fp16'],
      /--quantize needs fp32 compute, not --precision fp16/]
  ]
  for (const [args, re] of cases) {
    const r = fedit(...args)
    assert.notEqual(r.code, 0, args.join(' '))
    const lines = r.err.trim().split('\n')
    assert.equal(lines.length, 1, `${args.join(' ')}: ${r.err}`)
    assert.match(lines[0]!, re)
    assert.doesNotMatch(r.err, /\n\s+at /)
  }
})

test('train and merge check --out before any work: a file there is one line, at once', () => {
  const file = join(tmp(), 'taken')
  writeFileSync(file, 'not a folder')
  for (const [cmd, args] of [['train', [...TRAIN, '--steps', '3']],
    ['merge', ['merge', '--model', MODEL, '--adapter', 'nowhere']]] as const) {
    for (const out of [file, join(file, 'sub')]) {
      const r = fedit(...args, '--out', out)
      assert.notEqual(r.code, 0, `${cmd} --out ${out}`)
      assert.equal(r.err.trim().split('\n').length, 1, r.err)
      assert.match(r.err, new RegExp(`^fedit ${cmd}: --out ${out}`), r.err)
      assert.doesNotMatch(r.err, /training|data:/)
    }
  }
})
