// bench/poisoning (issue 5, in training): stories260K on Dolly, 8 peers all training every round, 2 of them
// sending scaled (x100) or sign-flipped updates. Prints the final held-out loss of the robust default under
// attack against the clean run (robustVsCleanPercent: within 5% is the target), with plain FedAvg beside it.
// Usage: npm run bench -- poisoning [rounds] [localSteps]
import { runPoisoning } from '../sim/poisoning.ts'

const rounds = Number(process.argv[2] ?? 5)
const localSteps = Number(process.argv[3] ?? 10)
const t0 = Date.now()
const r = await runPoisoning({ rounds, localSteps, maxLength: 128, limitPerPeer: 200, attacks: ['scale', 'signflip'],
  fedavg: true, log: (l) => { console.error(l) } })
console.log(JSON.stringify({ bench: 'poisoning', rounds, localSteps, ...r, seconds: (Date.now() - t0) / 1000 }))
