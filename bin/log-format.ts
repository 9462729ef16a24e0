// The log lines of fedit peer and fedit bootstrap: text (time and message, for people) or --log-format json
// (one JSON object a line, for log collectors), with the round events' fields parsed out of the message.
import { CliError } from './cli-error.ts'
import { parsePeerLine } from '../sim/fleet-processes.ts'

export type LogFormat = 'text' | 'json'

export function parseLogFormat (v: string | undefined): LogFormat {
  if (v === undefined || v === 'text' || v === 'json') return v ?? 'text'
  throw new CliError(`--log-format: "${v}" is not text or json`, 2)
}

const WARN = /\b(could not|failed|refused|no result|cannot)\b/

/** the message's key=value words (a round's aggregator=, trainLoss=, global=, ...), numbers as numbers */
function keyValues (line: string): Record<string, string | number> {
  const out: Record<string, string | number> = {}
  for (const m of line.matchAll(/\b([A-Za-z]\w*)=(\S+)/g)) {
    out[m[1]!] = /^-?\d+(\.\d+)?$/.test(m[2]!) ? Number(m[2]) : m[2]!
  }
  return out
}

/** One record of a log line (pure): `fields` are the caller's (peer id), then the message's own. */
export function jsonLogRecord (line: string, now: Date, fields: Readonly<Record<string, unknown>> = {}): string {
  const { kind, ...parsed } = parsePeerLine(line) as { kind: string } & Record<string, unknown>
  return JSON.stringify({
    time: now.toISOString(),
    level: WARN.test(line) ? 'warn' : 'info',
    ...fields,
    msg: line,
    ...(kind !== 'other' ? { event: kind, ...keyValues(line), ...parsed } : {})
  })
}

/** `fields()` is read for every line (the peer id is known only once the host started). */
export function makeLogger (
  format: LogFormat,
  fields: () => Readonly<Record<string, unknown>> = () => ({}),
  write: (s: string) => void = (s) => { console.log(s) }
): (line: string) => void {
  if (format === 'json') return (line) => { write(jsonLogRecord(line, new Date(), fields())) }
  return (line) => { write(`${new Date().toISOString().slice(11, 19)} ${line}`) }
}
