// A small flag parser for the network commands: --name value, --name=value, repeatable flags, booleans.
import { CliError } from './cli-error.ts'

export interface FlagSpec {
  readonly strings?: readonly string[]
  readonly lists?: readonly string[]
  readonly booleans?: readonly string[]
}

export interface Flags {
  readonly strings: Map<string, string>
  readonly lists: Map<string, string[]>
  readonly booleans: Set<string>
}

export function parseFlags (argv: readonly string[], spec: FlagSpec): Flags {
  const strings = new Map<string, string>()
  const lists = new Map<string, string[]>()
  const booleans = new Set<string>()
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    if (!arg.startsWith('--')) throw new CliError(`unexpected argument '${arg}'`, 2)
    const eq = arg.indexOf('=')
    const name = arg.slice(2, eq < 0 ? undefined : eq)
    if (spec.booleans?.includes(name) === true) { booleans.add(name); continue }
    const isList = spec.lists?.includes(name) === true
    if (!isList && spec.strings?.includes(name) !== true) throw new CliError(`unknown option --${name}`, 2)
    const values: string[] = []
    if (eq >= 0) values.push(arg.slice(eq + 1))
    else {
      // a list flag takes every following word up to the next --flag
      while (i + 1 < argv.length && !argv[i + 1]!.startsWith('--')) { values.push(argv[++i]!); if (!isList) break }
    }
    if (values.length === 0) throw new CliError(`--${name} needs a value`, 2)
    if (isList) lists.set(name, [...(lists.get(name) ?? []), ...values])
    else strings.set(name, values[0]!)
  }
  return { strings, lists, booleans }
}
