// examples/job.json (shown in the README's "Running a network") is a valid job spec naming the embedded model.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { parseJobSpec, jobIdOf } from '../../protocol/job-spec.ts'
import { ROBUST_DEFAULT } from '../../protocol/aggregation-spec.ts'

const root = new URL('../../', import.meta.url)

test('examples/job.json parses, pins the embedded stories260K weights and uses the robust rule', () => {
  const job = parseJobSpec(readFileSync(new URL('examples/job.json', root), 'utf8'), 'examples/job.json')
  const weights = readFileSync(new URL('assets/stories260K/stories260K.bin', root))
  assert.equal(job.baseModel.sha256, createHash('sha256').update(weights).digest('hex'))
  assert.deepEqual(job.aggregation, ROBUST_DEFAULT)
  assert.ok(job.minPeers >= job.peersPerRound)
  assert.match(jobIdOf(job), /^[0-9a-f]{64}$/)
})

test('the README section shows the example job as it is', () => {
  const readme = readFileSync(new URL('README.md', root), 'utf8')
  const section = readme.slice(readme.indexOf('## Running a network'))
  assert.ok(section.startsWith('## Running a network'), 'README has a "Running a network" section')
  const example = JSON.parse(readFileSync(new URL('examples/job.json', root), 'utf8'))
  const m = /```json\n([\s\S]*?)```/.exec(section)
  assert.ok(m !== null, 'the section shows a job.json')
  assert.deepEqual(JSON.parse(m[1]!), example)
})
