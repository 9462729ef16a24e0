// The observability's pure pieces and the control socket's rules.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseListenAddr } from '../../node/observe/http-listen.ts'
import { reasonLabel } from '../../node/observe/metrics.ts'
import { jsonLogRecord } from '../../bin/log-format.ts'
import { formatRound } from '../../node/round-info.ts'
import { controlSocketPath, queryControl, serveControl } from '../../node/observe/control-socket.ts'
import { formatSnapshot } from '../../node/observe/snapshot.ts'
import type { MemberSnapshot, PeerSnapshot } from '../../node/observe/snapshot.ts'

test('--metrics / --dashboard addresses: loopback by default, one-line errors', () => {
  assert.deepEqual(parseListenAddr('9464', '--metrics'), { host: '127.0.0.1', port: 9464 })
  assert.deepEqual(parseListenAddr('0.0.0.0:80', '--metrics'), { host: '0.0.0.0', port: 80 })
  assert.deepEqual(parseListenAddr('[::1]:0', '--dashboard'), { host: '::1', port: 0 })
  assert.deepEqual(parseListenAddr('localhost:8080', '--dashboard'), { host: 'localhost', port: 8080 })
  for (const bad of ['', 'host:', ':80', 'a:b', '70000', '1.2.3.4:99999', 'http://x:1']) {
    assert.throws(() => parseListenAddr(bad, '--metrics'), /^ListenAddrError: --metrics: ".*" is not HOST:PORT or PORT/)
  }
})

test('metric labels keep a reason\'s leading word', () => {
  assert.equal(reasonLabel('non_finite: base_model.layers.0.q_proj.lora_A.weight[0]'), 'non_finite')
  assert.equal(reasonLabel('norm 62.1 > 3 x median 0.622'), 'norm')
  assert.equal(reasonLabel('(odd)'), 'other')
  assert.equal(reasonLabel('x'.repeat(100)).length, 40)
})

test('--log-format json: one object a line, a round\'s fields parsed out', () => {
  const self = '12D3KooWAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'
  const line = formatRound({
    round: 4, attempt: 1, aggregator: self, selected: ['a', 'b'], included: ['a'],
    excluded: [{ peer: 'xyzbbbbbb', reason: 'no_update' }],
    seconds: 2.5, bytes: 1e6, trainLoss: 1.23456, hash: 'f'.repeat(64)
  }, self)
  const r = JSON.parse(jsonLogRecord(line, new Date(0), { peer: self }))
  assert.deepEqual(r, {
    time: '1970-01-01T00:00:00.000Z', level: 'info', peer: self, msg: line,
    event: 'result', round: 4, attempt: 1, mine: true, aggregator: 'AAAAAA', included: '1/2',
    excluded: 'bbbbbb(no_update)', trainLoss: 1.2346, global: 'ffffffffffff'
  })
  const w = JSON.parse(jsonLogRecord('round 3: could not push our update (timeout)', new Date(0)))
  assert.equal(w.level, 'warn')
  assert.equal(w.event, undefined)
})

const SNAP: PeerSnapshot = {
  version: 1, running: true, at: 0, peerId: 'p1', jobId: 'j'.repeat(64), completed: 0, globalHash: 'h',
  members: [], rounds: []
}

test('the control socket: answers GET /status, replaces a stale socket, refuses a second peer', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fedit-ctl-'))
  try {
    assert.equal(await queryControl(dir), undefined, 'no socket: no running peer')
    // a socket file left by a peer that crashed (killed: nothing unlinked it), where nobody answers
    const path = JSON.stringify(controlSocketPath(dir))
    const listen = `require('node:net').createServer().listen(${path}, () => console.log('up'))`
    const crashed = spawn(process.execPath, ['-e', listen])
    await once(crashed.stdout, 'data')
    crashed.kill('SIGKILL')
    await once(crashed, 'exit')
    assert.ok(existsSync(controlSocketPath(dir)))
    const ctl = await serveControl(dir, () => SNAP)
    try {
      assert.deepEqual(await queryControl(dir), SNAP)
      await assert.rejects(serveControl(dir, () => SNAP), /another peer is running with the state folder/)
    } finally {
      await ctl.close()
    }
    assert.equal(await queryControl(dir), undefined)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

const member = (peer: string, self: boolean, role: MemberSnapshot['role'],
  reachability: MemberSnapshot['reachability']): MemberSnapshot =>
  ({ peer, self, round: 1, hash: 'c'.repeat(64), device: 'cpu', tokensPerSecond: 0, samples: 4, role, lastSeenMs: 0,
    reachability })

test('fedit status text names the stage, the aggregator, the members\' reachability, the last results', () => {
  const text = formatSnapshot({
    ...SNAP, jobName: 'demo', jobRounds: 5, completed: 1, stage: 'await_result',
    members: [member('12D3KooWxxxxxxSELFID', true, 'selected', 'public'),
      member('12D3KooWxxxxxxAGGREG', false, 'aggregator', 'relayed')],
    current: {
      round: 2, attempt: 1, aggregator: '12D3KooWxxxxxxAGGREG',
      selected: ['12D3KooWxxxxxxAGGREG', '12D3KooWxxxxxxOTHERS']
    },
    rounds: [{
      round: 1, attempt: 0, aggregator: '12D3KooWxxxxxxOTHERS', selected: ['a', 'b'], included: ['a'],
      excluded: [{ peer: 'bbbbbb', reason: 'no_update' }], seconds: 3, bytes: 2e6, trainLoss: 1.5, hash: 'c'.repeat(64)
    }]
  })
  assert.match(text, /^round +1\/5 completed; stage await_result$/m)
  assert.match(text, /^current +round 2 \(failover 1\): aggregator AGGREG, selected AGGREG,OTHERS$/m)
  assert.match(text, /^members +2 live: SELFID\*\(selected, public\) AGGREG\(aggregator, relayed\)$/m)
  assert.ok(text.split('\n').includes('  round 1: aggregator OTHERS, included 1/2 excluded bbbbbb(no_update), ' +
    'trainLoss 1.5000, 3.0 s, 2.00 MB, global cccccccccccc'), text)
})
