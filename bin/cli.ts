// Dispatches `fedit <command>` to bin/commands/<command>.ts. Each command module exports
// `help` (its --help text) and `run(argv): Promise<number>` (the exit code).
import '../node/polyfill.ts'
import { CliError } from './cli-error.ts'

interface CommandModule { help: string, run: (argv: string[]) => Promise<number> }

const commands: Record<string, { summary: string }> = {
  peer: { summary: 'run a peer of a federated job' },
  bootstrap: { summary: 'run a bootstrap (DHT server) node' },
  status: { summary: 'show what a peer is doing (from its --state folder)' },
  simulate: { summary: 'run a local multi-peer simulation (the FedIT experiment)' },
  train: { summary: 'fine-tune a LoRA adapter on local data' },
  eval: { summary: 'held-out loss and perplexity of a model (+ adapter)' },
  generate: { summary: 'generate text from a model (+ adapter)' },
  keygen: { summary: 'create a peer identity key' },
  merge: { summary: 'fold a LoRA adapter into the base weights' }
}

export function usage (): string {
  const width = Math.max(...Object.keys(commands).map((c) => c.length))
  return 'usage: fedit <command> [options]   (fedit <command> --help for details)\n\ncommands:\n' +
    Object.entries(commands).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`).join('\n')
}

export async function main (argv: string[]): Promise<number> {
  const [name, ...rest] = argv
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    console.log(usage())
    return name === undefined ? 2 : 0
  }
  if (!Object.hasOwn(commands, name)) {
    console.error(`fedit: unknown command '${name}'\n${usage()}`)
    return 2
  }
  try {
    const mod = await import(`./commands/${name}.ts`) as CommandModule
    if (rest.includes('--help') || rest.includes('-h')) {
      console.log(mod.help)
      return 0
    }
    return await mod.run(rest)
  } catch (err) {
    if (err instanceof CliError) {
      console.error(`fedit ${name}: ${err.message}`)
      return err.exitCode
    }
    if (err instanceof Error && (err as { code?: string }).code === 'ERR_MODULE_NOT_FOUND' && String(err.message)
      .includes('/commands/')) {
      console.error(`fedit ${name}: not available in this build`)
      return 2
    }
    // unexpected: still one line for the user, the stack only with FEDIT_DEBUG=1
    console.error(`fedit ${name}: ${err instanceof Error ? err.message : String(err)}`)
    if (process.env.FEDIT_DEBUG === '1' && err instanceof Error) console.error(err.stack)
    return 1
  }
}
