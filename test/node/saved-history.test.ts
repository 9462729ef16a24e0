// The check a restart makes before taking back its saved job history (node/saved-history.ts): only the blob the
// saved round's confirmed result names, for the saved global.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { ChainLink } from '../../protocol/messages.ts'
import type { RoundResult } from '../../protocol/messages.ts'
import { checkSavedHistory } from '../../node/saved-history.ts'
import { encodeHistory } from '../../trainer/aggregate/history-codec.ts'
import { SKETCH_DIM } from '../../trainer/aggregate/history.ts'
import { sha256Hex } from '../../node/adapter-codec.ts'

const unhex = (h: string): Uint8Array<ArrayBuffer> => new Uint8Array(Buffer.from(h, 'hex'))
const link = (r: Partial<RoundResult>): ChainLink => ChainLink.decode(ChainLink.encode({ result: r as RoundResult }))

test('a saved history is taken back only when the saved round\'s result names it and the saved global', () => {
  const sketch = new Float64Array(SKETCH_DIM).fill(0.5)
  const blob = encodeHistory(new Map([['peerA', { rounds: 2, last: 3, sketch }]]))
  const global = 'ab'.repeat(32)
  const saved = { round: 3, hash: global }
  const named = link({ round: 3, newHash: unhex(global), historyHash: unhex(sha256Hex(blob)) })
  const ok = checkSavedHistory(blob, named, saved)
  assert.ok(ok.ok && ok.history.hash === sha256Hex(blob) && ok.history.held?.value.get('peerA')?.rounds === 2)
  const none = checkSavedHistory(undefined, link({ round: 3, newHash: unhex(global) }), saved)
  assert.ok(none.ok && none.history.hash === '', 'a job that keeps no history: the empty one')
  const why = (r: ReturnType<typeof checkSavedHistory>): string => r.ok ? 'taken' : r.reason
  assert.match(why(checkSavedHistory(blob, undefined, saved)), /no confirmed result of round 3/)
  assert.match(why(checkSavedHistory(blob, named, { round: 3, hash: 'cd'.repeat(32) })), /names global abab/)
  assert.match(why(checkSavedHistory(undefined, named, saved)), /no saved history/)
  const altered = blob.slice(); altered[altered.length - 1]! ^= 1
  assert.match(why(checkSavedHistory(altered, named, saved)), /is not .*the one the round 3 result names/)
  const cut = blob.subarray(0, blob.length - 8) // names itself, but is not a history
  assert.match(why(checkSavedHistory(cut, link({ round: 3, newHash: unhex(global),
    historyHash: unhex(sha256Hex(cut)) }), saved)), /history blob/)
})
