// LoRA dropout keep-masks drawn from a seed: fixed by it, independent across sites and seeds, at the rate asked.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { dropoutMasks } from '../../../trainer/lora/dropout-masks.ts'

const sites = [{ name: 'a', cols: 64 }, { name: 'b', cols: 172 }, { name: 'c', cols: 7 }]

test('dropout masks: a function of (seed, site), at the asked rate, odd sizes included', () => {
  const m = dropoutMasks(5, 301, sites, 0.05)
  assert.deepEqual([...m.keys()], ['a', 'b', 'c'])
  for (const s of sites) {
    const x = m.get(s.name)!
    assert.equal(x.length, 301 * s.cols)
    assert.ok(x.every((v) => v === 0 || v === 1))
    const dropped = x.length - x.reduce((n, v) => n + v, 0)
    // binomial: mean 0.05 n, sd sqrt(0.0475 n); 5 sd either way
    const mean = 0.05 * x.length
    const sd = Math.sqrt(0.0475 * x.length)
    assert.ok(Math.abs(dropped - mean) < 5 * sd,
      `${s.name}: ${dropped} dropped of ${x.length}, expected ~${mean.toFixed(0)}`)
  }
  assert.deepEqual(dropoutMasks(5, 301, sites, 0.05), m, 'same seed, same masks')
  // a site's mask does not depend on which other sites are drawn with it
  assert.deepEqual(dropoutMasks(5, 301, [sites[1]!], 0.05).get('b'), m.get('b'))
  const other = dropoutMasks(6, 301, sites, 0.05)
  assert.notDeepEqual(other.get('a'), m.get('a'), 'another seed, other masks')
  assert.notDeepEqual(m.get('a')!.subarray(0, 64 * 7), m.get('c')!.subarray(0, 64 * 7), 'sites draw their own streams')
  assert.ok(dropoutMasks(5, 10, sites, 0).get('b')!.every((v) => v === 1), 'p = 0 keeps everything')
  const half = dropoutMasks(1, 1000, [sites[0]!], 0.5).get('a')!
  const kept = half.reduce((n, v) => n + v, 0)
  assert.ok(Math.abs(kept - 32000) < 5 * Math.sqrt(16000), `p = 0.5 kept ${kept} of 64000`)
  assert.throws(() => dropoutMasks(1, 1, sites, 1), /dropout probability/)
})
