import { test } from 'node:test'
import assert from 'node:assert/strict'
import { lossTable, verdictOf, gainPercent, responsesTable } from '../../sim/tables.ts'
import { baselinePlan } from '../../sim/baselines.ts'

test('loss table with gains against the base, and an honest verdict', () => {
  const base = { name: 'base', evalLoss: 4, byCategory: { open_qa: 4 } }
  const fed = { name: 'federated', evalLoss: 3, byCategory: { open_qa: 3 } }
  const local = { name: 'Local-1', evalLoss: 3.5, byCategory: { open_qa: 3.5 } }
  const central = { name: 'centralized', evalLoss: 2.9, byCategory: { open_qa: 2.9 } }
  const t = lossTable([base, local, fed, central], base)
  assert.match(t, /federated\s+3\.0000\s+\+25\.0%\s+3\.000/)
  assert.equal(gainPercent(4, 5), -25)
  const v = verdictOf(fed, base, [local], central)
  assert.equal(v.beatsBase, true)
  assert.deepEqual(v.beatsLocal, { 'Local-1': true })
  assert.ok(Math.abs(v.gapToCentralizedPercent! - 100 / 29) < 1e-9)
  assert.match(responsesTable([{ instruction: 'Say hi', category: 'open_qa', reference: 'hi', answers: { base: '' } }]),
    /base:\s+\(empty\)/)
})

test('baseline budgets', () => {
  assert.deepEqual(baselinePlan(5, 3, 10), { localCalls: 2, centralCalls: 15, callsPerRound: 3 })
})
