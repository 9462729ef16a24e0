import { test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { readDolly } from '../../../trainer/data/readers.ts'
import { formatPrompt } from '../../../trainer/data/prompt.ts'
import { IGNORE_INDEX, tokenizeExample, tokenizeRecords, tokenPieces } from '../../../trainer/data/tokenize-example.ts'
import type { InstructionRecord } from '../../../trainer/data/record.ts'
import { loadTokenizer } from '../../../trainer/tokenizer.ts'

const ROOT = fileURLToPath(new URL('../../../', import.meta.url))
const tok512 = loadTokenizer(join(ROOT, 'assets/stories260K/tok512.tokenizer.json'))
const LLAMA2 = resolve(ROOT, '../shared/tokenizers/llama2')
const dolly = readDolly(join(ROOT, 'assets/dolly/dolly-15k.jsonl.gz')).records
const rec = (instruction: string, input: string, response: string): InstructionRecord => ({ instruction, input,
  response, category: 'test', line: 1 })

test('the pieces join to exactly the tokenization of the whole prompt + response text', () => {
  const toks = [tok512, ...(existsSync(join(LLAMA2, 'tokenizer.json')) ? [loadTokenizer(LLAMA2)] : [])]
  for (const tok of toks) {
    for (const r of dolly.slice(0, 160)) {
      const p = tokenPieces(tok, r)
      const joined = [...p.head, ...p.instruction, ...p.inputHeader, ...p.input, ...p.responseHeader, ...p.response]
      assert.deepEqual(joined, tok.encode(formatPrompt(r.instruction, r.input) + r.response, { bos: true }),
        `line ${r.line}`)
    }
  }
})

test('loss only on the response and EOS by default; trainOnInputs takes it everywhere', () => {
  const r = rec('Name a colour.', '', 'Blue.')
  const out = tokenizeExample(tok512, r)
  assert.equal(out.kind, 'ok')
  if (out.kind !== 'ok') return
  const e = out.example
  assert.equal(e.inputIds[0], 1)
  assert.equal(e.inputIds.at(-1), 2)
  assert.deepEqual(e.inputIds.slice(0, e.promptLength), tok512.encode(formatPrompt(r.instruction), { bos: true }))
  assert.ok(e.labels.slice(0, e.promptLength).every((l) => l === IGNORE_INDEX))
  assert.deepEqual(e.labels.slice(e.promptLength), e.inputIds.slice(e.promptLength))
  assert.equal(tok512.decode(e.inputIds.slice(e.promptLength)), 'Blue.')
  const all = tokenizeExample(tok512, r, { trainOnInputs: true })
  assert.ok(all.kind === 'ok' && all.example.labels.every((l, i) => l === all.example.inputIds[i]))
})

test('context-first keeps the instruction and the response and cuts the context', () => {
  const r = rec('Summarise the text.', 'word '.repeat(600), 'A short summary.')
  const out = tokenizeExample(tok512, r, { maxLength: 256 })
  assert.ok(out.kind === 'ok')
  const e = out.example
  assert.equal(e.inputIds.length, 256)
  assert.ok(e.shortened)
  assert.equal(tok512.decode(e.inputIds.slice(e.promptLength)), 'A short summary.')
  assert.equal(e.inputIds.at(-1), 2)
  assert.match(tok512.decode(e.inputIds.slice(0, e.promptLength)),
    /### Instruction:\nSummarise the text\.\n\n### Input:\nword word .*\n\n### Response:\n$/s)
  // the plain policy cuts the end: nothing of the response survives, so the example is dropped
  assert.deepEqual(tokenizeExample(tok512, r, { maxLength: 256, truncation: 'truncate-end' }),
    { kind: 'dropped', reason: 'no_response_token' })
})

test('context-first keeps at least minResponseTokens of a long response, cutting the instruction if it must', () => {
  const long = rec('Explain '.repeat(200), '', 'because '.repeat(300))
  const out = tokenizeExample(tok512, long, { maxLength: 200, minResponseTokens: 50 })
  assert.ok(out.kind === 'ok')
  assert.equal(out.example.inputIds.length, 200)
  assert.equal(out.example.inputIds.length - out.example.promptLength, 50)
  assert.notEqual(out.example.inputIds.at(-1), 2) // a cut response gets no EOS
  const plain = tokenizeExample(tok512, rec('Say it.', '', 'because '.repeat(300)),
    { maxLength: 200, truncation: 'truncate-end' })
  assert.ok(plain.kind === 'ok' && plain.example.inputIds.length === 200 && plain.example.shortened)
})

test('on real Dolly closed_qa with tok512, context-first keeps examples that truncate-end drops', () => {
  const closed = dolly.filter((r) => r.category === 'closed_qa' && r.line > 80).slice(0, 150)
  const cf = tokenizeRecords(tok512, closed)
  const te = tokenizeRecords(tok512, closed, { truncation: 'truncate-end' })
  assert.equal(cf.stats.records, 150)
  assert.ok(cf.stats.shortened > 50, `shortened ${cf.stats.shortened}`)
  assert.equal(cf.stats.dropped, 0)
  assert.ok(te.stats.dropped > 20, `truncate-end dropped ${te.stats.dropped}`)
  assert.equal(te.stats.examples + te.stats.dropped, 150)
  assert.ok(cf.stats.targetTokens > te.stats.targetTokens)
  assert.ok(cf.examples.every((e) => e.inputIds.length <= 512 && e.labels.some((l) => l !== IGNORE_INDEX)))
})
