// One instruction-tuning example as every reader produces it, whatever the file's field names.

export interface InstructionRecord {
  readonly instruction: string
  /** Dolly's `context`, Alpaca's `input`; '' when there is none */
  readonly input: string
  /** Dolly's `response`, Alpaca's `output` */
  readonly response: string
  /** Dolly's category (open_qa, closed_qa, ...); Alpaca records carry 'alpaca' unless they name one */
  readonly category: string
  /** 1-based line of the record in its file (where the object starts, for a JSON array) */
  readonly line: number
}

/** A record that could not be read: reported, never silently dropped. */
export interface DataProblem {
  readonly file: string
  readonly line: number
  readonly message: string
}

export function formatProblem (p: DataProblem): string {
  return `${p.file}:${p.line}: ${p.message}`
}

export interface ReadResult {
  readonly records: readonly InstructionRecord[]
  /** records skipped (only with onMalformed 'skip'; 'reject' throws on the first) */
  readonly problems: readonly DataProblem[]
}

export interface ReadOptions {
  /**
   * 'reject' (default): throw a DataError naming file and line; 'skip': leave the record out and list it in problems
   */
  readonly onMalformed?: 'skip' | 'reject'
}
