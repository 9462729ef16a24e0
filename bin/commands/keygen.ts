// fedit keygen: write a new peer identity (libp2p Ed25519 private key, mode 0600) and print its peer id.
import { CliError } from '../cli-error.ts'
import { createKeyFile, peerIdOf } from '../../node/identity.ts'
import { parseFlags } from '../flags.ts'
import { createSwarmKeyFile } from '../../node/swarm-key.ts'

export const help = `usage: fedit keygen --out FILE [--force]
       fedit keygen --swarm-key FILE [--force]

Creates a peer identity (a libp2p Ed25519 private key, file mode 0600) and prints its peer id.
Use it with \`fedit bootstrap --key FILE\`, or copy it to STATE/identity.key for \`fedit peer\`.
With --swarm-key, creates a private federation's pre-shared swarm key instead (mode 0600): hand the
same file to every member and the bootstrap (--swarm-key FILE); nodes without it cannot connect.
  --out FILE        where to write the identity key
  --swarm-key FILE  where to write a new swarm key
  --force           overwrite an existing file`

export async function run (argv: string[]): Promise<number> {
  const f = parseFlags(argv, { strings: ['out', 'swarm-key'], booleans: ['force'] })
  const out = f.strings.get('out')
  const swarm = f.strings.get('swarm-key')
  if (out !== undefined && swarm !== undefined) {
    throw new CliError('give --out FILE (an identity) or --swarm-key FILE, not both', 2)
  }
  if (swarm !== undefined) {
    try {
      createSwarmKeyFile(swarm, f.booleans.has('force'))
    } catch (err) {
      throw new CliError((err as Error).message)
    }
    console.log(`swarm key written to ${swarm}`)
    return 0
  }
  if (out === undefined) throw new CliError('--out FILE is required (or --swarm-key FILE)', 2)
  try {
    const key = await createKeyFile(out, f.booleans.has('force'))
    console.log(peerIdOf(key))
    return 0
  } catch (err) {
    throw new CliError((err as Error).message)
  }
}
