// A model's tokenizer, read from a Hugging Face tokenizer.json (+ optional tokenizer_config.json) and run by
// @huggingface/tokenizers. Special tokens are never added implicitly: callers say whether they want BOS/EOS,
// so a prompt, a training example and an evaluation see the same ids whatever the config's add_bos_token says.
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers'
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'

export class TokenizerError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'TokenizerError'
  }
}

export interface EncodeOptions {
  /** prepend BOS (default false) */
  readonly bos?: boolean
  /** append EOS (default false) */
  readonly eos?: boolean
}

export class Tokenizer {
  readonly bosId: number
  readonly eosId: number
  readonly vocabSize: number
  /**
   * the parsed tokenizer.json and tokenizer_config.json (synthesised for a LLaMA SentencePiece vocabulary when absent),
   * for export
   */
  readonly json: unknown
  readonly config: Record<string, unknown>
  /** BPE runs word by word (wordwiseBpe): the fast path, same tokens */
  readonly wordwise: boolean
  private readonly hf: HfTokenizer
  /** ids of "\n" alone: stripped from encode("\n" + text) to tokenize text as it appears after a newline */
  private readonly newlineIds: readonly number[]
  private newlineTail: readonly number[] | undefined

  /** `source` names the file in errors. */
  constructor (tokenizerJson: unknown, tokenizerConfig?: unknown, source = 'tokenizer.json') {
    const fail = (what: string): never => { throw new TokenizerError(`${source}: ${what}`) }
    if (typeof tokenizerJson !== 'object' || tokenizerJson === null ||
      typeof (tokenizerJson as { model?: unknown }).model !== 'object') {
      fail('is not a tokenizer.json (no "model" object)')
    }
    if (tokenizerConfig !== undefined && (typeof tokenizerConfig !== 'object' || tokenizerConfig === null)) {
      fail('tokenizer_config.json is not a JSON object')
    }
    // without a tokenizer_config.json, behave as LLaMA's SentencePiece tokenizer (no clean-up of spaces on decode)
    const config = (tokenizerConfig as Record<string, unknown> | undefined) ??
      { add_bos_token: true, add_eos_token: false, bos_token: '<s>', eos_token: '</s>', unk_token: '<unk>',
        clean_up_tokenization_spaces: false, legacy: true, tokenizer_class: 'LlamaTokenizer' }
    try {
      this.hf = new HfTokenizer(tokenizerJson, config)
    } catch (err) {
      throw new TokenizerError(`${source}: cannot be loaded: ${String((err as Error).message).split('\n')[0]!}`)
    }
    const special = (key: string, dflt: string): number => {
      const raw = config[key]
      const text = typeof raw === 'string' ? raw : typeof raw === 'object' && raw !== null &&
        typeof (raw as { content?: unknown }).content === 'string' ? (raw as { content: string }).content : dflt
      const id = this.hf.token_to_id(text)
      if (id === undefined) fail(`has no ${key} ${JSON.stringify(text)} in its vocabulary`)
      return id as number
    }
    this.bosId = special('bos_token', '<s>')
    this.eosId = special('eos_token', '</s>')
    let maxId = -1
    for (const id of this.hf.get_vocab(true).values()) maxId = Math.max(maxId, id)
    this.vocabSize = maxId + 1
    this.json = tokenizerJson
    this.config = config
    this.wordwise = wordwiseBpe(this.hf)
    this.newlineIds = this.hf.encode('\n', { add_special_tokens: false }).ids
  }

  encode (text: string, opts: EncodeOptions = {}): number[] {
    const ids = this.hf.encode(text, { add_special_tokens: false }).ids
    if (opts.bos === true) ids.unshift(this.bosId)
    if (opts.eos === true) ids.push(this.eosId)
    return ids
  }

  /**
   * Ids of `text` as it tokenizes in the middle of a longer text, right after a newline: SentencePiece adds a
   * dummy "▁" only at the start of an input, so pieces of a prompt joined at newlines must not each get one.
   * (Falls back to encode(text) for a tokenizer whose newline merges with what follows.)
   */
  encodeAfterNewline (text: string): number[] {
    if (text === '') return []
    const ids = this.hf.encode('\n' + text, { add_special_tokens: false }).ids
    const n = this.newlineIds.length
    for (let i = 0; i < n; i++) if (ids[i] !== this.newlineIds[i]) return this.encode(text)
    return ids.slice(n)
  }

  /**
   * Ids of `text` between a newline before it and a newline after it (a prompt piece followed by "\n\n### ..."):
   * unlike encodeAfterNewline it keeps trailing spaces, which SentencePiece keeps inside a text.
   */
  encodeBetweenNewlines (text: string): number[] {
    if (text === '') return []
    const ids = this.encodeAfterNewline(text + '\n')
    const nl = this.newlineTail ??= this.encodeAfterNewline('\n')
    const n = nl.length
    if (n === 0 || ids.length < n) return this.encodeAfterNewline(text)
    for (let i = 0; i < n; i++) if (ids[ids.length - n + i] !== nl[i]) return this.encodeAfterNewline(text)
    return ids.slice(0, ids.length - n)
  }

  /** Text of `ids`; special tokens (BOS, EOS, ...) are left out unless `skipSpecial` is false. */
  decode (ids: readonly number[], opts: { skipSpecial?: boolean } = {}): string {
    if (ids.length === 0) return ''
    return this.hf.decode([...ids], { skip_special_tokens: opts.skipSpecial ?? true })
  }

  idToToken (id: number): string | undefined {
    return this.hf.id_to_token(id)
  }
}

/** The parts of @huggingface/tokenizers' BPE model (0.2.0) that wordwiseBpe uses; absent parts leave it alone. */
interface BpeModel {
  bpe?: (token: string) => string[]
  merges?: ReadonlyArray<readonly [string, string]>
  end_of_word_suffix?: string | null
  continuing_subword_suffix?: string | null
  max_length_to_cache?: number
}

const SPACE = '\u2581' // SentencePiece's "▁"
const WORD_CACHE_MAX = 1 << 17 // distinct words remembered, then forgotten at once (Dolly has ~170K)

/**
 * LLaMA's tokenizer.json has no pre-tokenizer: the library runs BPE over a whole normalized text at once (all of a
 * Dolly context) and caches nothing, as it caches only pieces under 256 characters. When no merge joins a piece
 * ending in another character to one starting with "▁", no token can straddle such a point, so BPE before and
 * after it runs independently: cutting the text there (before each word's "▁") gives the same tokens, and
 * words repeat, so a word cache serves most of them. Dolly's 14931 training records tokenize in 4.3 s instead of
 * 10.1 s. Checked against the whole-text path on Dolly for stories260K's and LLaMA-2's tokenizers
 * (test/trainer/tokenizer); a model without these parts, or with a merge across such a point, keeps the
 * library's path.
 */
function wordwiseBpe (hf: HfTokenizer): boolean {
  const model = (hf as unknown as { model?: BpeModel }).model
  const bpe = model?.bpe
  if (model === undefined || typeof bpe !== 'function' || !Array.isArray(model.merges)) return false
  if ((model.end_of_word_suffix ?? null) !== null || (model.continuing_subword_suffix ?? null) !== null) return false
  for (const m of model.merges) {
    const [a, b] = m
    if (typeof a !== 'string' || typeof b !== 'string') return false
    if (!a.endsWith(SPACE) && b.startsWith(SPACE)) return false
  }
  const whole = bpe.bind(model)
  // words repeat: a plain Map in front of the library's LRU (whose every hit costs a delete and a set)
  const cache = new Map<string, string[]>()
  const word = (w: string): string[] => {
    let r = cache.get(w)
    if (r === undefined) {
      r = whole(w)
      if (cache.size >= WORD_CACHE_MAX) cache.clear()
      cache.set(w, r)
    }
    return r
  }
  model.bpe = (token: string): string[] => {
    const out: string[] = []
    let from = 0
    for (let i = token.indexOf(SPACE, 1); i > 0; i = token.indexOf(SPACE, i + 1)) {
      if (token[i - 1] === SPACE) continue
      for (const t of word(token.slice(from, i))) out.push(t)
      from = i
    }
    for (const t of word(token.slice(from))) out.push(t)
    return out
  }
  if (typeof model.max_length_to_cache === 'number') model.max_length_to_cache = 0 // ours caches; theirs only costs
  return true
}

/** From a tokenizer.json file (its folder's tokenizer_config.json is used when present) or a folder holding one. */
export function loadTokenizer (path: string): Tokenizer {
  let file = path
  try {
    if (statSync(path).isDirectory()) file = join(path, 'tokenizer.json')
  } catch {
    throw new TokenizerError(`${path}: no such tokenizer file or folder`)
  }
  const configFile = basename(file) === 'tokenizer.json' ? join(dirname(file), 'tokenizer_config.json') : undefined
  const json = readJson(file, 'tokenizer')
  const config = configFile !== undefined && existsSync(configFile) ? readJson(configFile, 'tokenizer config')
    : undefined
  return new Tokenizer(json, config, file)
}

/**
 * The tokenizer that belongs to a model: a Hugging Face folder's tokenizer.json, or for a llama2.c `.bin` the
 * tokenizer.json or `*.tokenizer.json` beside it (llama2.c names them tok<vocab>; `vocabSize` picks among several
 * and is checked against the tokenizer when given).
 */
export function loadTokenizerFor (modelPath: string, vocabSize?: number): Tokenizer {
  let isDir: boolean
  try {
    isDir = statSync(modelPath).isDirectory()
  } catch { throw new TokenizerError(`${modelPath}: no such model file or folder`) }
  let file: string
  if (isDir) {
    file = join(modelPath, 'tokenizer.json')
    if (!existsSync(file)) throw new TokenizerError(`${modelPath}: the model folder has no tokenizer.json`)
  } else {
    const dir = dirname(modelPath)
    const candidates = existsSync(join(dir, 'tokenizer.json')) ? ['tokenizer.json'] : readdirSync(dir)
      .filter((n) => n.endsWith('.tokenizer.json')).sort()
    const preferred = vocabSize !== undefined ? candidates.filter((n) => n === `tok${vocabSize}.tokenizer.json`) : []
    const pick = preferred.length === 1 ? preferred : candidates
    if (pick.length === 0) {
      throw new TokenizerError(`${modelPath}: no tokenizer.json or *.tokenizer.json beside the model`)
    }
    if (pick.length > 1) {
      throw new TokenizerError(`${modelPath}: several tokenizers beside the model (${pick.join(', ')}); name one`)
    }
    file = join(dir, pick[0]!)
  }
  const tok = loadTokenizer(file)
  if (vocabSize !== undefined && tok.vocabSize !== vocabSize) {
    throw new TokenizerError(`${file}: has ${tok.vocabSize} tokens but the model's vocabulary is ${vocabSize}`)
  }
  return tok
}

function readJson (file: string, what: string): unknown {
  let text: string
  try { text = readFileSync(file, 'utf8') } catch { throw new TokenizerError(`${file}: cannot read the ${what} file`) }
  try { return JSON.parse(text) } catch { throw new TokenizerError(`${file}: is not valid JSON`) }
}
