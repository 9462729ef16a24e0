// The dashboard's page script: plain browser JavaScript, no build step. It reads the peer's snapshot from
// /events (server-sent events; /api/status once if they are unavailable) and draws it. Every value from the
// network is set as text (textContent, SVG attributes), never as HTML.
'use strict'

const $ = (id) => document.getElementById(id)
const short = (p) => (p || '').slice(-6)
const fmt = (x, d) => (typeof x === 'number' && Number.isFinite(x) ? x.toFixed(d) : '–')
const SVG = 'http://www.w3.org/2000/svg'

function el (tag, attrs, text) {
  const e = tag.startsWith('svg:') ? document.createElementNS(SVG, tag.slice(4)) : document.createElement(tag)
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'class') e.setAttribute('class', v)
    else e.setAttribute(k, String(v))
  }
  if (text !== undefined) e.textContent = String(text)
  return e
}

function secondsText (ms) {
  const s = Math.max(0, Math.round(ms / 1000))
  return s < 120 ? `${s} s` : `${Math.floor(s / 60)} min ${s % 60} s`
}

function peerCell (td, id, self) {
  td.textContent = short(id) + (id === self ? ' (me)' : '')
  td.title = id
  td.dataset.peer = id
  td.classList.add('mono')
}

function drawHeader (s) {
  $('peer-id').textContent = s.peerId
  $('job-name').textContent = s.jobName || ''
  $('job-id').textContent = (s.jobId || '').slice(0, 16) + '…'
  const cur = s.current
  const roundNow = cur ? cur.round : s.completed
  $('round-number').textContent = roundNow
  $('job-rounds').textContent = s.jobRounds === undefined ? '?' : s.jobRounds
  const st = $('stage')
  st.textContent = s.stage || '–'
  st.className = `badge ${s.stage || ''}`
  $('stage-for').textContent = s.stageSince ? secondsText(s.at - s.stageSince) : '–'
  const c = $('current')
  c.textContent = ''
  if (cur && cur.aggregator) {
    c.append(`round ${cur.round}${cur.attempt > 0 ? ` (failover ${cur.attempt})` : ''}: aggregator `)
    c.append(el('span', { class: 'mono role-aggregator', title: cur.aggregator }, short(cur.aggregator)))
    c.append(`, trainers ${(cur.selected || []).map(short).join(', ')}`)
  } else if (cur) {
    c.textContent = `round ${cur.round}: waiting for its aggregator's announce`
  }
  $('global-hash').textContent = s.globalHash
  $('completed').textContent = s.completed
  const k = s.counters
  $('counters').textContent = k
    ? `elections won ${k.electionWins} · failovers ${k.failovers} · ` +
      `refused ${Object.values(k.rejected).reduce((a, b) => a + b, 0)}`
    : ''
  const r = s.reachability
  $('connections').textContent = r ? r.connections : '–'
  const ul = $('addresses')
  ul.textContent = ''
  for (const a of (r ? r.addresses : [])) ul.append(el('li', {}, a))
}

function drawTraining (s) {
  const t = s.training || { tokensPerSecond: 0, roundsTrained: 0 }
  const bar = $('train-bar')
  if (t.activeRound !== undefined && t.startedAt !== undefined) {
    const elapsed = (s.at - t.startedAt) / 1000
    if (t.step > 0 && t.totalSteps > 0) {
      // the trainer's own steps: done / total, and the time left at this round's pace
      const eta = elapsed / t.step * (t.totalSteps - t.step)
      bar.style.width = `${((100 * t.step) / t.totalSteps).toFixed(0)}%`
      $('train-now').textContent = `training round ${t.activeRound}: step ${t.step}/${t.totalSteps}, ` +
        `loss ${fmt(t.stepLoss, 4)}, ${elapsed.toFixed(0)} s, ETA ${eta.toFixed(0)} s`
    } else {
      bar.style.width = '0%'
      $('train-now').textContent = `training round ${t.activeRound}: ${elapsed.toFixed(0)} s, first step running`
    }
  } else {
    // idle: an empty bar (a full one read as "training, almost done")
    bar.style.width = '0%'
    $('train-now').textContent = t.roundsTrained > 0 ? 'not training now' : 'not selected yet'
  }
  $('train-last').textContent = t.lastRound !== undefined
    ? `last: round ${t.lastRound}, loss ${fmt(t.lastLoss, 4)}, ${t.lastSamples} examples, ` +
      `${fmt(t.lastSeconds, 1)} s · ` +
      `${Math.round(t.tokensPerSecond)} tok/s · ${t.roundsTrained} rounds trained`
    : ''
}

// what each word in the members' "reachable" column means (node/reachability.ts)
const REACH_TITLES = {
  public: 'others can dial it directly (an address AutoNAT confirmed)',
  relayed: 'reached through a relay only (a /p2p-circuit address)',
  unreachable: 'no confirmed address and no relay reservation: not electable as aggregator',
  unsaid: 'not measured (a local test network, or an older peer)'
}

function drawMembers (s) {
  const tb = document.querySelector('#members tbody')
  tb.textContent = ''
  for (const m of s.members) {
    const tr = el('tr', { 'data-peer': m.peer, class: m.self ? 'self' : '' })
    const id = el('td')
    peerCell(id, m.peer, s.peerId)
    tr.append(id,
      el('td', { class: `role-${m.role}` }, m.role === 'member' ? 'idle' : m.role),
      el('td', { class: 'num' }, m.round),
      el('td', { class: 'num' }, Math.round(m.tokensPerSecond)),
      el('td', { class: 'num' }, m.samples),
      el('td', { class: `reach-${m.reachability}`, title: REACH_TITLES[m.reachability] || '' }, m.reachability),
      el('td', { class: 'num' }, m.self ? '–' : `${secondsText(m.lastSeenMs)} ago`))
    tb.append(tr)
  }
  $('members-count').textContent = `(${s.members.length} live)`
}

function drawTimeline (s) {
  const tb = document.querySelector('#timeline tbody')
  tb.textContent = ''
  const maxSec = Math.max(1e-9, ...s.rounds.map((r) => r.seconds))
  for (const r of [...s.rounds].reverse()) {
    const tr = el('tr', { 'data-round': r.round, 'data-attempt': r.attempt })
    tr.append(el('td', { class: 'num round' }, r.round + (r.attempt > 0 ? ` (failover ${r.attempt})` : '') +
      (r.missed === true ? ' (missed: caught up)' : '')))
    const agg = el('td', { class: 'aggregator' })
    peerCell(agg, r.aggregator, s.peerId)
    tr.append(agg)
    const trained = `${r.included.map(short).join(', ')} (${r.included.length} / ${r.selected.length})`
    const inc = el('td', { class: 'included', title: r.included.join('\n') }, trained)
    const exc = el('td', { class: 'excluded' })
    exc.textContent = r.excluded.map((x) => `${short(x.peer)}: ${x.reason}`).join('; ')
    exc.title = r.excluded.map((x) => `${x.peer}: ${x.reason}`).join('\n')
    const bar = el('div', { class: r.attempt > 0 ? 'failover' : '' })
    bar.style.width = `${((100 * r.seconds) / maxSec).toFixed(1)}%`
    const tl = el('div', { class: 'tl', title: `${fmt(r.seconds, 1)} s` })
    tl.append(bar)
    const tlCell = el('td')
    tlCell.append(tl)
    tr.append(inc, exc,
      el('td', { class: 'num seconds' }, fmt(r.seconds, 1)),
      el('td', { class: 'num bytes' }, fmt(r.bytes / 1e6, 2)),
      el('td', { class: 'num loss' }, fmt(r.trainLoss, 4)),
      tlCell)
    tb.append(tr)
  }
}

function drawLoss (s) {
  const svg = $('loss-chart')
  svg.textContent = ''
  const pts = s.rounds.filter((r) => r.missed !== true && Number.isFinite(r.trainLoss))
    .map((r) => [r.round, r.trainLoss])
  const W = 720; const H = 240; const L = 56; const R = 16; const T = 14; const B = 34
  if (pts.length === 0) {
    svg.append(el('svg:text', { x: W / 2, y: H / 2, 'text-anchor': 'middle' }, 'no completed round yet'))
    return
  }
  const xs = pts.map((p) => p[0]); const ys = pts.map((p) => p[1])
  const x0 = Math.min(...xs) - (pts.length === 1 ? 1 : 0); const x1 = Math.max(...xs) + (pts.length === 1 ? 1 : 0)
  let y0 = Math.min(...ys); let y1 = Math.max(...ys)
  const pad = (y1 - y0) * 0.1 || Math.abs(y1) * 0.1 || 1
  y0 -= pad; y1 += pad
  const X = (x) => L + ((x - x0) / (x1 - x0)) * (W - L - R)
  const Y = (y) => T + (1 - (y - y0) / (y1 - y0)) * (H - T - B)
  for (let i = 0; i <= 4; i++) {
    const y = y0 + ((y1 - y0) * i) / 4
    svg.append(el('svg:line', { class: 'grid', x1: L, x2: W - R, y1: Y(y), y2: Y(y) }))
    svg.append(el('svg:text', { x: L - 6, y: Y(y) + 4, 'text-anchor': 'end' }, y.toFixed(3)))
  }
  svg.append(el('svg:line', { class: 'axis', x1: L, x2: W - R, y1: H - B, y2: H - B }))
  svg.append(el('svg:line', { class: 'axis', x1: L, x2: L, y1: T, y2: H - B }))
  const step = Math.max(1, Math.ceil((x1 - x0) / 10))
  for (let x = Math.ceil(x0); x <= x1; x += step) {
    svg.append(el('svg:text', { x: X(x), y: H - B + 14, 'text-anchor': 'middle' }, x))
  }
  svg.append(el('svg:text', { x: (L + W - R) / 2, y: H - 4, 'text-anchor': 'middle' }, 'round'))
  const line = pts.map((p) => `${X(p[0]).toFixed(1)},${Y(p[1]).toFixed(1)}`).join(' ')
  svg.append(el('svg:polyline', { class: 'line', points: line }))
  for (const [x, y] of pts) {
    const c = el('svg:circle', { cx: X(x).toFixed(1), cy: Y(y).toFixed(1), r: 3.5, 'data-round': x, 'data-loss': y })
    c.append(el('svg:title', {}, `round ${x}: ${y.toFixed(4)}`))
    svg.append(c)
  }
}

function draw (s) {
  drawHeader(s)
  drawTraining(s)
  drawMembers(s)
  drawTimeline(s)
  drawLoss(s)
  $('updated').textContent = `updated ${new Date(s.at).toLocaleTimeString()}`
  document.body.dataset.completed = s.completed
}

function link (on, text) {
  const b = $('link')
  b.textContent = text
  b.className = `badge ${on ? 'on' : 'off'}`
}

function start () {
  if (typeof EventSource === 'undefined') {
    fetch('api/status').then((r) => r.json()).then(draw, () => link(false, 'unreachable'))
    return
  }
  const es = new EventSource('events')
  es.addEventListener('status', (e) => { link(true, 'live'); draw(JSON.parse(e.data)) })
  es.addEventListener('error', () => link(false, 'reconnecting'))
}

start()
