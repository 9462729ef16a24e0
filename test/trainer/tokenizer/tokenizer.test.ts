import { test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, readFileSync, writeFileSync, copyFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { gunzipSync } from 'node:zlib'
import { fileURLToPath } from 'node:url'
import { loadTokenizer, loadTokenizerFor, Tokenizer, TokenizerError } from '../../../trainer/tokenizer.ts'
import { readLlama2cVocab, spEncode } from './sentencepiece-reference.ts'

const ROOT = fileURLToPath(new URL('../../../', import.meta.url))
const STORIES = join(ROOT, 'assets/stories260K')
const LLAMA2 = resolve(ROOT, '../shared/tokenizers/llama2')
const dollyTexts = (records: number): string[] => gunzipSync(readFileSync(join(ROOT,
  'assets/dolly/dolly-15k.jsonl.gz'))).toString('utf8')
  .split('\n').slice(0, records).flatMap((l) => {
    const r = JSON.parse(l) as Record<string, string>
    return [r.instruction!, r.context!, r.response!]
  })

test('tok512 encodes Dolly exactly as the SentencePiece BPE algorithm over tok512.bin', () => {
  const tok = loadTokenizer(join(STORIES, 'tok512.tokenizer.json'))
  const vocab = readLlama2cVocab(join(STORIES, 'tok512.bin'), 512)
  assert.equal(tok.vocabSize, 512)
  assert.equal(tok.bosId, 1)
  assert.equal(tok.eosId, 2)
  const texts = dollyTexts(400).filter((t) => t.length < 2000) // the reference is quadratic
  let mismatches = 0
  for (const t of texts) if (tok.encode(t).join() !== spEncode(vocab, t).join()) mismatches++
  assert.equal(mismatches, 0, `${mismatches} of ${texts.length} texts differ`)
  // hand-checked against tok512.bin's pieces: ' Once'=403, ' upon'=407, ' a'=261, ' time'=378;
  // '\n' falls back to byte 0x0A (id 13)
  assert.deepEqual(tok.encode('Once upon a time', { bos: true, eos: true }), [1, 403, 407, 261, 378, 2])
  assert.deepEqual(['Once', 'upon', 'a', 'time'].map((w, i) => vocab.pieces[[403, 407, 261, 378][i]!]),
    [' Once', ' upon', ' a', ' time'])
  assert.deepEqual(tok.encode('a\nb').includes(13), true)
})

test('tok512 decode(encode(x)) gives x back on Dolly texts (whitespace normalised as SentencePiece does)', () => {
  const tok = loadTokenizer(join(STORIES, 'tok512.tokenizer.json'))
  for (const t of dollyTexts(300)) {
    const norm = t.replace(/^ +| +$/g, '').replace(/ {2,}/g, ' ')
    assert.equal(tok.decode(tok.encode(t, { bos: true, eos: true })), norm)
  }
})

test('LLaMA-2 tokenizer matches the SentencePiece oracle',
  { skip: existsSync(join(LLAMA2, 'tokenizer.json')) ? false : `${LLAMA2} is absent` }, () => {
  const tok = loadTokenizer(LLAMA2)
  assert.equal(tok.vocabSize, 32000)
  assert.deepEqual(tok.encode('Below is an instruction that describes a task.', { bos: true }),
    [1, 13866, 338, 385, 15278, 393, 16612, 263, 3414, 29889])
  assert.equal(tok.decode([1, 13866, 338, 385, 2]), 'Below is an')
  for (const t of dollyTexts(50)) assert.equal(tok.decode(tok.encode(t)), t)
})

test('encodeAfterNewline tokenizes a piece as it appears after a newline', () => {
  const tok = loadTokenizer(join(STORIES, 'tok512.tokenizer.json'))
  const head = 'Instruction:\n'
  for (const t of dollyTexts(50)) {
    if (t.trim() === '' || t !== t.trim()) continue
    assert.deepEqual([...tok.encode(head), ...tok.encodeAfterNewline(t)], tok.encode(head + t))
  }
  assert.deepEqual(tok.encodeAfterNewline(''), [])
})

test('loadTokenizerFor finds the tokenizer beside a llama2.c model or in a HF folder', () => {
  const t = loadTokenizerFor(join(STORIES, 'stories260K.bin'), 512)
  assert.equal(t.vocabSize, 512)
  assert.throws(() => loadTokenizerFor(join(STORIES, 'stories260K.bin'), 32000),
    (e: Error) => e instanceof TokenizerError && /512 tokens/.test(e.message))
  const dir = mkdtempSync(join(tmpdir(), 'fedit-tok-'))
  assert.throws(() => loadTokenizerFor(dir), /no tokenizer\.json/)
  copyFileSync(join(STORIES, 'tok512.tokenizer.json'), join(dir, 'tokenizer.json'))
  assert.equal(loadTokenizerFor(dir).vocabSize, 512)
})

test('a missing or malformed tokenizer gets a one-line error naming the file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedit-tok-'))
  const oneLine = (re: RegExp) => (e: Error) => e instanceof TokenizerError && re.test(e.message) &&
    !e.message.includes('\n')
  assert.throws(() => loadTokenizer(join(dir, 'nope.json')), oneLine(/nope\.json: no such/))
  writeFileSync(join(dir, 'bad.json'), '{"model": ')
  assert.throws(() => loadTokenizer(join(dir, 'bad.json')), oneLine(/bad\.json: is not valid JSON/))
  writeFileSync(join(dir, 'nomodel.json'), '{"version": "1.0"}')
  assert.throws(() => loadTokenizer(join(dir, 'nomodel.json')), oneLine(/no "model" object/))
  assert.throws(() => new Tokenizer(JSON.parse(readFileSync(join(STORIES, 'tok512.tokenizer.json'), 'utf8')),
    { bos_token: '<bos>' }, 'x.json'), oneLine(/x\.json: has no bos_token "<bos>"/))
})

test('BPE word by word (the fast path) gives the library\'s whole-text tokens on Dolly, for tok512 and LLaMA-2',
  async () => {
  const { Tokenizer: HfTokenizer } = await import('@huggingface/tokenizers')
  const texts = dollyTexts(300) // long contexts included: the path they take is the one that changed
  for (const dir of [join(STORIES, 'tok512.tokenizer.json'), join(LLAMA2, 'tokenizer.json')]) {
    if (!existsSync(dir)) continue // LLaMA-2's lives in ../shared
    const tok = loadTokenizer(dir)
    assert.equal(tok.wordwise, true, dir)
    const plain = new HfTokenizer(tok.json as object, tok.config)
    let mismatches = 0
    for (const t of texts) {
      for (const x of [t, `\n${t}`]) {
        if (tok.encode(x).join() !== plain.encode(x, { add_special_tokens: false }).ids.join()) mismatches++
      }
    }
    assert.equal(mismatches, 0, `${dir}: ${mismatches} of ${2 * texts.length} texts differ`)
  }
})

test('a BPE merge that joins a word to the next word\'s "▁" keeps the library\'s whole-text path', () => {
  const json = JSON.parse(readFileSync(join(STORIES, 'tok512.tokenizer.json'),
    'utf8')) as { model: { merges: unknown[] } }
  // tok512.tokenizer.json writes merges as "a b"; no such merge makes sense, it only has to exist
  json.model.merges.push('e ▁t')
  assert.equal(new Tokenizer(json).wordwise, false)
  assert.equal(loadTokenizer(join(STORIES, 'tok512.tokenizer.json')).wordwise, true)
})
