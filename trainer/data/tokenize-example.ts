// An instruction record -> input_ids and labels for causal-LM training, as Alpaca-LoRA/Shepherd build them:
//   [BOS] preamble instruction [input header, input] response header | response [EOS]
// Labels follow Hugging Face's convention: aligned with input_ids (the loss shifts them by one), -100 where
// no loss is taken: the prompt, unless trainOnInputs.
//
// Truncation when the sequence exceeds maxLength:
// - 'context-first' (default): cut the input (Dolly's context) from its end first; if the sequence still does
//   not fit, cut the response's end (no EOS then: the model must not learn to stop mid-answer); if fewer than
//   minResponseTokens response tokens would remain, cut the instruction's end to make room for them.
// - 'truncate-end' (Alpaca-LoRA's, the paper's): keep the first maxLength tokens; EOS only if there is room.
// An example with no response token left is dropped and counted.
import type { Tokenizer } from '../tokenizer.ts'
import type { InstructionRecord } from './record.ts'
import { promptParts } from './prompt.ts'

export type TruncationPolicy = 'context-first' | 'truncate-end'

export interface TokenizeOptions {
  /** default 512 */
  readonly maxLength?: number
  /** take the loss on the prompt as well (default false: only the response and EOS) */
  readonly trainOnInputs?: boolean
  /** default 'context-first' */
  readonly truncation?: TruncationPolicy
  /** context-first: response tokens kept at the expense of the instruction (default 32) */
  readonly minResponseTokens?: number
}

export const IGNORE_INDEX = -100

export interface TokenizedExample {
  readonly inputIds: readonly number[]
  /** aligned with inputIds; IGNORE_INDEX where no loss is taken */
  readonly labels: readonly number[]
  /** tokens of the prompt (BOS included): inputIds[promptLength..] is the response */
  readonly promptLength: number
  readonly category: string
  /** the record's line in its file */
  readonly line: number
  readonly shortened: boolean
}

export type TokenizeOutcome =
  | { readonly kind: 'ok', readonly example: TokenizedExample }
  | { readonly kind: 'dropped', readonly reason: 'no_response_token' }

export type PromptTokenizer =
  Pick<Tokenizer, 'bosId' | 'eosId' | 'encode' | 'encodeAfterNewline' | 'encodeBetweenNewlines'>

/** The record as token pieces; joined in order they equal the tokenization of the whole text. */
export interface TokenPieces {
  readonly head: readonly number[] // BOS + preamble
  readonly instruction: readonly number[]
  readonly inputHeader: readonly number[]
  readonly input: readonly number[]
  readonly responseHeader: readonly number[]
  readonly response: readonly number[]
}

export function tokenPieces (tok: PromptTokenizer,
  r: Pick<InstructionRecord, 'instruction' | 'input' | 'response'>): TokenPieces {
  const p = promptParts(r.instruction, r.input)
  const fixed = templateIds(tok)
  return {
    head: fixed(p.preamble, () => [tok.bosId, ...tok.encode(p.preamble)]),
    instruction: tok.encodeBetweenNewlines(p.instruction),
    // the headers start with "\n": after any text they tokenize as after a newline
    inputHeader: fixed(p.inputHeader, () => tok.encodeAfterNewline(p.inputHeader)),
    input: tok.encodeBetweenNewlines(p.input),
    responseHeader: fixed(p.responseHeader, () => tok.encodeAfterNewline(p.responseHeader)),
    response: tok.encodeAfterNewline(r.response)
  }
}

// The template's fixed pieces (two preambles, two headers), tokenized once per tokenizer rather than per record.
// Callers copy before changing a piece (tokenizeExample builds new arrays).
const templateCache = new WeakMap<PromptTokenizer, Map<string, readonly number[]>>()
function templateIds (tok: PromptTokenizer): (text: string, make: () => readonly number[]) => readonly number[] {
  let m = templateCache.get(tok)
  if (m === undefined) templateCache.set(tok, m = new Map())
  const cache = m
  return (text, make) => {
    let ids = cache.get(text)
    if (ids === undefined) cache.set(text, ids = Object.freeze([...make()]))
    return ids
  }
}

export function tokenizeExample (tok: PromptTokenizer, r: InstructionRecord,
  opts: TokenizeOptions = {}): TokenizeOutcome {
  const max = opts.maxLength ?? 512
  const p = tokenPieces(tok, r)
  let { instruction, input, response } = p
  let eos = true
  let shortened = false
  const fixed = p.head.length + p.inputHeader.length + p.responseHeader.length
  const length = (): number => fixed + instruction.length + input.length + response.length + (eos ? 1 : 0)
  if ((opts.truncation ?? 'context-first') === 'context-first') {
    if (length() > max) {
      shortened = true
      input = input.slice(0, Math.max(0, input.length - (length() - max)))
    }
    if (length() > max) {
      eos = false
      const floor = Math.min(opts.minResponseTokens ?? 32, p.response.length)
      const room = max - fixed - instruction.length
      response = response.slice(0, Math.max(floor, room))
      if (length() > max) instruction = instruction.slice(0, Math.max(0, instruction.length - (length() - max)))
      if (length() > max) response = response.slice(0, Math.max(0, response.length - (length() - max)))
    }
  } else if (length() > max) {
    // truncate-end: cut everything past max; EOS only when it still fits
    shortened = true
    eos = false
    let over = length() - max
    const cut = (a: readonly number[]): readonly number[] => {
      const k = Math.min(over, a.length)
      over -= k
      return a.slice(0, a.length - k)
    }
    response = cut(response)
    input = cut(input)
    instruction = cut(instruction)
  }
  if (response.length === 0) return { kind: 'dropped', reason: 'no_response_token' }
  const prompt = [...p.head, ...instruction, ...p.inputHeader, ...input, ...p.responseHeader]
  if (prompt.length > max) return { kind: 'dropped', reason: 'no_response_token' } // the template alone does not fit
  const answer = eos ? [...response, tok.eosId] : [...response]
  const inputIds = [...prompt, ...answer]
  const labels = opts.trainOnInputs === true ? [...inputIds] : [...prompt.map(() => IGNORE_INDEX), ...answer]
  return { kind: 'ok', example: { inputIds, labels, promptLength: prompt.length, category: r.category, line: r.line,
    shortened } }
}

export interface TokenizeStats {
  readonly records: number
  readonly examples: number
  /** kept but truncated */
  readonly shortened: number
  /** dropped: no response token left after truncation */
  readonly dropped: number
  readonly droppedLines: readonly number[]
  /** tokens with a label (loss targets) over all examples */
  readonly targetTokens: number
}

/** `onProgress(done)` is called every `every` records (and at the end) */
export function tokenizeRecords (tok: PromptTokenizer, records: readonly InstructionRecord[],
  opts: TokenizeOptions = {}, onProgress?: (done: number) => void,
  every = 500): { examples: TokenizedExample[], stats: TokenizeStats } {
  const examples: TokenizedExample[] = []
  const droppedLines: number[] = []
  let shortened = 0; let targetTokens = 0
  let done = 0
  for (const r of records) {
    if (onProgress !== undefined && done > 0 && done % every === 0) onProgress(done)
    done++
    const out = tokenizeExample(tok, r, opts)
    if (out.kind === 'dropped') { droppedLines.push(r.line); continue }
    examples.push(out.example)
    if (out.example.shortened) shortened++
    for (const l of out.example.labels) if (l !== IGNORE_INDEX) targetTokens++
  }
  onProgress?.(done)
  return { examples, stats: { records: records.length, examples: examples.length, shortened,
    dropped: droppedLines.length, droppedLines, targetTokens } }
}

/** The stats of consecutive shares of one record list, as if tokenized in one piece. */
export function mergeTokenizeStats (parts: readonly TokenizeStats[]): TokenizeStats {
  const sum = (f: (s: TokenizeStats) => number): number => parts.reduce((a, s) => a + f(s), 0)
  return {
    records: sum((s) => s.records),
    examples: sum((s) => s.examples),
    shortened: sum((s) => s.shortened),
    dropped: sum((s) => s.dropped),
    droppedLines: parts.flatMap((s) => s.droppedLines),
    targetTokens: sum((s) => s.targetTokens)
  }
}
