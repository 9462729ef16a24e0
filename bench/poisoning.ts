// bench/poisoning: the poisoning matrix. Attacks from the literature (sim/attacks.ts, sim/backdoor.ts) x
// aggregation rules x settings (2 of 8 and 3 of 10 IID, 4 of 10 on Shepherd's category split), stories260K on
// Dolly, every peer training every round. Targets for the default rule ('robust'): every attack within 2% of its
// clean loss at 2 of 8 and 3 of 10, benign exclusions <= 5%, drift share <= 10% of the clean movement.
// Prints one JSON line per case as it finishes (stderr: the rounds), then the matrix as the last line.
// Usage: npm run bench -- poisoning [--rounds 5] [--local-steps 10] [--settings 0,1,2] [--rules robust,fedavg]
//        [--attacks alie,ipm,...] [--fedavg-attacks] [--non-omniscient]
// Attacks named '-blind' (alie-blind, ipm-blind, minmax-blind, minsum-blind) see only their colluders' own benign
// training; --non-omniscient adds the blind variant of every model attack.
import { flagValue, numberFlag } from './lib/args.ts'
import type { CaseSpec, MatrixAttack } from '../sim/poisoning.ts'
import { MATRIX_ATTACKS, RULES, SETTINGS, runMatrix } from '../sim/poisoning.ts'
import { isBlind } from '../sim/attacks.ts'

const list = (name: string, dflt: readonly string[]): string[] => flagValue(name)?.split(',').filter((x) => x !== '') ??
  [...dflt]
const rounds = numberFlag('rounds', 5)
const localSteps = numberFlag('local-steps', 10)
const settings = list('settings', ['0', '1', '2']).map((i) => {
  const s = SETTINGS[Number(i)]
  if (s === undefined) {
    throw new Error(`--settings: no setting ${i} (0: 2 of 8 iid, 1: 3 of 10 iid, 2: 4 of 10 non-iid)`)
  }
  return s
})
const rules = list('rules', ['robust', 'fedavg'])
for (const r of rules) {
  if (RULES[r] === undefined) throw new Error(`--rules: unknown rule ${r} (one of ${Object.keys(RULES).join(', ')})`)
}
const attacks = list('attacks', MATRIX_ATTACKS) as MatrixAttack[]
for (const a of attacks) {
  if (!MATRIX_ATTACKS.includes(a) && !isBlind(a) && a !== 'scale' && a !== 'signflip') {
    throw new Error(`--attacks: unknown attack ${a}`)
  }
}
// every attack against the first rule; the other rules see them only with --fedavg-attacks (their clean runs
// always: the clean price)
const cases: CaseSpec[] = rules.flatMap((rule, i) => i === 0 || process.argv.includes('--fedavg-attacks')
  ? attacks.map((attack) => ({ attack, knowledge: 'omniscient' as const, rule }))
  : [{ rule, knowledge: 'omniscient' as const }])
if (process.argv.includes('--non-omniscient')) {
  for (const attack of attacks) {
    // the data attack needs no knowledge; the naive ones use none; blind names are non-omniscient already
    if (!['backdoor', 'scale', 'signflip'].includes(attack) && !isBlind(attack)) {
      cases.push({ attack, knowledge: 'colluders', rule: rules[0]! })
    }
  }
}
const t0 = Date.now()
const rows = await runMatrix({ rounds, localSteps, maxLength: 128, limitPerPeer: 200, settings, cases, log: (l) => {
  console.error(l)
} },
  (row) => { console.log(JSON.stringify({ case: row })) })
console.log(JSON.stringify({ bench: 'poisoning', rounds, localSteps, seconds: (Date.now() - t0) / 1000, cases: rows }))
