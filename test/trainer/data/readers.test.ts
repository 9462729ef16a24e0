import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { fileURLToPath } from 'node:url'
import { readAlpaca, readDolly, readInstructions } from '../../../trainer/data/readers.ts'
import { DataError } from '../../../trainer/data/errors.ts'

const DOLLY = fileURLToPath(new URL('../../../assets/dolly/dolly-15k.jsonl.gz', import.meta.url))
const tmp = (): string => mkdtempSync(join(tmpdir(), 'fedit-data-'))

test('reads all 15,011 Dolly records with their categories and line numbers', () => {
  const { records, problems } = readDolly(DOLLY)
  assert.equal(records.length, 15011)
  assert.equal(problems.length, 0)
  assert.equal(records[0]!.line, 1)
  assert.equal(records[15010]!.line, 15011)
  assert.equal(new Set(records.map((r) => r.category)).size, 8)
  assert.ok(records.some((r) => r.input !== '') && records.some((r) => r.input === ''))
})

test('a malformed Dolly line is rejected with file:line, or skipped and reported', () => {
  const dir = tmp()
  const good = (i: number): string => JSON.stringify({ instruction: `q${i}`, context: '', response: `a${i}`,
    category: 'open_qa' })
  const lines = [good(1), '{"instruction": "broken', good(3),
    JSON.stringify({ instruction: 'x', context: '', response: 5, category: 'open_qa' }), '', good(6),
    JSON.stringify({ instruction: 'x', context: '', response: '  ', category: 'open_qa' })]
  const file = join(dir, 'd.jsonl.gz')
  writeFileSync(file, gzipSync(lines.join('\n')))
  assert.throws(() => readDolly(file), (e: Error) => e instanceof DataError &&
    e.message === `${file}:2: not valid JSON`)
  const r = readDolly(file, { onMalformed: 'skip' })
  assert.deepEqual(r.records.map((x) => x.line), [1, 3, 6])
  assert.deepEqual(r.problems.map((p) => [p.line, p.message]),
    [[2, 'not valid JSON'], [4, 'field "response" is missing or not a string'], [7, 'empty response']])
  assert.throws(() => readDolly(join(dir, 'none.jsonl')), /cannot read/)
  writeFileSync(join(dir, 'cut.gz'), gzipSync(lines.join('\n')).subarray(0, 20))
  assert.throws(() => readDolly(join(dir, 'cut.gz')), /not a valid gzip/)
})

test('Alpaca JSON arrays map input/output and report the line where a bad element starts', () => {
  const dir = tmp()
  const file = join(dir, 'alpaca.json')
  writeFileSync(file,
    '[\n  {"instruction": "Add", "input": "1, 2", "output": "3"},\n  {"instruction": "Say hi",\n   "input": "", ' +
    '"output": "hi"},\n  {"instruction": "no output", "input": "[x]"}\n]\n')
  assert.throws(() => readAlpaca(file),
    (e: Error) => e.message === `${file}:5: field "output" is missing or not a string`)
  const r = readAlpaca(file, { onMalformed: 'skip' })
  assert.deepEqual(r.records.map((x) => [x.instruction, x.input, x.response, x.category, x.line]),
    [['Add', '1, 2', '3', 'alpaca', 2], ['Say hi', '', 'hi', 'alpaca', 3]])
  assert.equal(r.problems.length, 1)
  assert.equal(readInstructions(file, { onMalformed: 'skip' }).records.length, 2)
  writeFileSync(file, '[\n {"instruction": "a",\n "output": }]')
  assert.throws(() => readAlpaca(file), /alpaca\.json:3: not valid JSON/)
  const jsonl = join(dir, 'a.jsonl')
  writeFileSync(jsonl, JSON.stringify({ instruction: 'i', output: 'o' }) + '\n')
  assert.equal(readInstructions(jsonl).records[0]!.response, 'o')
  assert.equal(readInstructions(DOLLY).records.length, 15011)
})
