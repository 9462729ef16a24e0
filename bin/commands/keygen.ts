// fedit keygen: write a new peer identity (libp2p Ed25519 private key, mode 0600) and print its peer id.
import { CliError } from '../cli-error.ts'
import { createKeyFile, peerIdOf } from '../../node/identity.ts'
import { parseFlags } from '../flags.ts'

export const help = `usage: fedit keygen --out FILE [--force]

Creates a peer identity (a libp2p Ed25519 private key, file mode 0600) and prints its peer id.
Use it with \`fedit bootstrap --key FILE\`, or copy it to STATE/identity.key for \`fedit peer\`.
  --out FILE   where to write the key
  --force      overwrite an existing file`

export async function run (argv: string[]): Promise<number> {
  const f = parseFlags(argv, { strings: ['out'], booleans: ['force'] })
  const out = f.strings.get('out')
  if (out === undefined) throw new CliError('--out FILE is required', 2)
  try {
    const key = await createKeyFile(out, f.booleans.has('force'))
    console.log(peerIdOf(key))
    return 0
  } catch (err) {
    throw new CliError((err as Error).message)
  }
}
