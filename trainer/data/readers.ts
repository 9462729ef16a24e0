// Readers for instruction data: Dolly JSONL (`instruction`, `context`, `response`, `category`; gzip or
// plain) and Alpaca JSON (an array of `instruction`, `input`, `output`; JSONL also accepted). A malformed
// record is either rejected (DataError naming file and line) or skipped and listed in `problems`.
import { readFileSync } from 'node:fs'
import { gunzipSync } from 'node:zlib'
import { DataError } from './errors.ts'
import type { DataProblem, InstructionRecord, ReadOptions, ReadResult } from './record.ts'
import { formatProblem } from './record.ts'

type Format = 'dolly' | 'alpaca'

export function readDolly (file: string, opts: ReadOptions = {}): ReadResult {
  return readJsonl(file, readText(file), 'dolly', opts)
}

export function readAlpaca (file: string, opts: ReadOptions = {}): ReadResult {
  const text = readText(file)
  return text.trimStart().startsWith('[') ? readJsonArray(file, text, opts) : readJsonl(file, text, 'alpaca', opts)
}

/** Either format, told apart by the first record's fields (`context`/`response` vs `input`/`output`). */
export function readInstructions (file: string, opts: ReadOptions = {}): ReadResult {
  const text = readText(file)
  if (text.trimStart().startsWith('[')) return readJsonArray(file, text, opts)
  const first = text.split('\n').find((l) => l.trim() !== '') ?? ''
  return readJsonl(file, text, /"output"\s*:/.test(first) && !/"response"\s*:/.test(first) ? 'alpaca' : 'dolly', opts)
}

function readText (file: string): string {
  let bytes: Buffer
  try { bytes = readFileSync(file) } catch { throw new DataError(`${file}: cannot read the data file`) }
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try { bytes = gunzipSync(bytes) } catch { throw new DataError(`${file}: is not a valid gzip file (truncated?)`) }
  }
  return bytes.toString('utf8')
}

/** Collects records and problems, throwing on the first problem when rejecting. */
class Collector {
  readonly records: InstructionRecord[] = []
  readonly problems: DataProblem[] = []
  constructor (readonly file: string, readonly reject: boolean) {}
  add (line: number, obj: unknown, format: Format): void {
    const r = toRecord(obj, format, line)
    if (typeof r === 'string') this.problem(line, r)
    else this.records.push(r)
  }

  problem (line: number, message: string): void {
    const p = { file: this.file, line, message }
    if (this.reject) throw new DataError(formatProblem(p))
    this.problems.push(p)
  }
}

function readJsonl (file: string, text: string, format: Format, opts: ReadOptions): ReadResult {
  const c = new Collector(file, opts.onMalformed !== 'skip')
  const lines = text.split('\n')
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!.trim()
    if (raw === '') continue
    let obj: unknown
    try { obj = JSON.parse(raw) } catch { c.problem(i + 1, 'not valid JSON'); continue }
    c.add(i + 1, obj, format)
  }
  return { records: c.records, problems: c.problems }
}

function readJsonArray (file: string, text: string, opts: ReadOptions): ReadResult {
  let arr: unknown
  try {
    arr = JSON.parse(text)
  } catch (err) {
    throw new DataError(formatProblem({ file, line: syntaxErrorLine(text, (err as Error).message),
      message: 'not valid JSON' }))
  }
  if (!Array.isArray(arr)) {
    throw new DataError(`${file}:1: expected a JSON array of {instruction, input, output} objects`)
  }
  const starts = elementLines(text)
  const c = new Collector(file, opts.onMalformed !== 'skip')
  arr.forEach((obj, i) => c.add(starts[i] ?? 1, obj, 'alpaca'))
  return { records: c.records, problems: c.problems }
}

function toRecord (obj: unknown, format: Format, line: number): InstructionRecord | string {
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) return 'not a JSON object'
  const o = obj as Record<string, unknown>
  const [inputKey, responseKey] = format === 'dolly' ? ['context', 'response'] : ['input', 'output']
  const str = (key: string, required: boolean): string | undefined => {
    const v = o[key]
    if (v === undefined || v === null) return required ? undefined : ''
    return typeof v === 'string' ? v : undefined
  }
  const instruction = str('instruction', true)
  const input = str(inputKey, format === 'dolly')
  const response = str(responseKey, true)
  const category = str('category', format === 'dolly')
  for (const [k, v] of [['instruction', instruction], [inputKey, input], [responseKey, response],
    ['category', category]] as const) {
    if (v === undefined) return `field "${k}" is missing or not a string`
  }
  if (instruction!.trim() === '') return 'empty instruction'
  if (response!.trim() === '') return `empty ${responseKey}`
  return { instruction: instruction!, input: input!, response: response!, category: category! === ''
    ? (format === 'dolly' ? 'unknown' : 'alpaca') : category!, line }
}

/**
 * Line of a JSON.parse error: V8 gives "at position N", "(line L column C)", or only a quoted excerpt around the bad
 * token.
 */
function syntaxErrorLine (text: string, message: string): number {
  const pos = /position (\d+)/.exec(message)
  if (pos !== null) return lineOf(text, Number(pos[1]))
  const line = /line (\d+)/.exec(message)
  if (line !== null) return Number(line[1])
  const excerpt = /, (?:\.\.\.)?"([\s\S]*?)"(?:\.\.\.)? is not valid JSON/.exec(message)
  const token = /Unexpected token '(.)'/.exec(message)
  if (excerpt !== null && excerpt[1] !== '') {
    const at = text.indexOf(excerpt[1]!)
    if (at >= 0) return lineOf(text, at + Math.max(0, token !== null ? excerpt[1]!.indexOf(token[1]!) : 0))
  }
  return 1
}

function lineOf (text: string, offset: number): number {
  let line = 1
  for (let i = 0; i < offset && i < text.length; i++) if (text.charCodeAt(i) === 10) line++
  return line
}

/** Line where each top-level element of a JSON array starts (the text is already known to parse). */
function elementLines (text: string): number[] {
  const out: number[] = []
  let depth = 0; let line = 1; let inString = false; let expectElement = false
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!
    if (ch === '\n') line++
    if (inString) {
      if (ch === '\\') i++
      else if (ch === '"') inString = false
      continue
    }
    if (ch === ' ' || ch === '\n' || ch === '\r' || ch === '\t') continue
    if (depth === 1 && expectElement && ch !== ']') { out.push(line); expectElement = false }
    if (ch === '"') inString = true
    else if (ch === '[' || ch === '{') { depth++; if (depth === 1) expectElement = true }
    else if (ch === ']' || ch === '}') depth--
    else if (ch === ',' && depth === 1) expectElement = true
  }
  return out
}
