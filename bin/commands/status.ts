// fedit status: what a peer is doing, asked over the control socket in its state folder, or read from the
// folder alone when the peer is stopped.
import { CliError } from '../cli-error.ts'
import { parseFlags } from '../flags.ts'
import { queryControl } from '../../node/observe/control-socket.ts'
import { readStateFolder } from '../../node/observe/offline-status.ts'
import { formatSnapshot } from '../../node/observe/snapshot.ts'
import type { PeerSnapshot } from '../../node/observe/snapshot.ts'

export const help = `usage: fedit status [--state DIR] [--json]

Shows what the peer with the state folder DIR is doing: job, round and stage, the round's aggregator and
trainers, live members, this peer's training, its last results, reachability and its global adapter's hash.
A running peer answers over DIR/control.sock (only its user may read it); for a stopped one the state folder
says the rounds completed, the global adapter and the results so far.
  --state DIR   the peer's --state folder (default ./fedit-state)
  --json        the same as one JSON object (running: false when read from the folder)`

export async function run (argv: string[]): Promise<number> {
  const f = parseFlags(argv, { strings: ['state'], booleans: ['json'] })
  const dir = f.strings.get('state') ?? 'fedit-state'
  let s: PeerSnapshot
  try {
    s = (await queryControl(dir)) ?? readStateFolder(dir)
  } catch (err) {
    throw new CliError((err as Error).message)
  }
  console.log(f.booleans.has('json') ? JSON.stringify(s, null, 2) : formatSnapshot(s))
  return 0
}
