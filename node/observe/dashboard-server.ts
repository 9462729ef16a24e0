// fedit peer --dashboard: one page (plain static files in ./dashboard, no build step) and its data: GET
// /api/status (the snapshot) and GET /events (server-sent events: a snapshot on every change, at most every
// PUSH_MS, and every REFRESH_MS for the members' liveness). Read-only: the server has no route that acts.
import { readFileSync } from 'node:fs'
import type { ServerResponse } from 'node:http'
import { listenHttp, readOnly } from './http-listen.ts'
import type { HttpEndpoint, ListenAddr } from './http-listen.ts'
import type { PeerSnapshot } from './snapshot.ts'

const PUSH_MS = 250
const REFRESH_MS = 2000

const STATIC: Record<string, { file: string, type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/dashboard.js': { file: 'dashboard.js', type: 'text/javascript; charset=utf-8' },
  '/dashboard.css': { file: 'dashboard.css', type: 'text/css; charset=utf-8' }
}

const SECURITY = {
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; " +
    "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'cache-control': 'no-store'
}

export interface SnapshotSource {
  snapshot: () => PeerSnapshot
  readonly events: { on: (e: 'change', f: () => void) => unknown, off: (e: 'change', f: () => void) => unknown }
}

export async function serveDashboard (addr: ListenAddr, source: SnapshotSource): Promise<HttpEndpoint> {
  const files = new Map(Object.entries(STATIC).map(([path, s]) =>
    [path, { body: readFileSync(new URL(`./dashboard/${s.file}`, import.meta.url)), type: s.type }]))
  const clients = new Set<ServerResponse>()
  let pending: NodeJS.Timeout | undefined
  const push = (): void => {
    pending = undefined
    if (clients.size === 0) return
    const frame = `event: status\ndata: ${JSON.stringify(source.snapshot())}\n\n`
    for (const c of clients) c.write(frame)
  }
  const onChange = (): void => { pending ??= setTimeout(push, PUSH_MS) }
  source.events.on('change', onChange)
  const refresh = setInterval(push, REFRESH_MS)
  const ep = await listenHttp(addr, (req, res) => {
    if (!readOnly(req, res)) return
    const path = (req.url ?? '/').split('?')[0]!
    const f = files.get(path)
    if (f !== undefined) { res.writeHead(200, { 'content-type': f.type, ...SECURITY }).end(f.body); return }
    if (path === '/api/status') {
      res.writeHead(200, { 'content-type': 'application/json', ...SECURITY }).end(JSON.stringify(source.snapshot()))
      return
    }
    if (path === '/events') {
      res.writeHead(200, { 'content-type': 'text/event-stream', connection: 'keep-alive', ...SECURITY })
      res.write(`retry: 2000\nevent: status\ndata: ${JSON.stringify(source.snapshot())}\n\n`)
      clients.add(res)
      req.once('close', () => { clients.delete(res) })
      return
    }
    res.writeHead(404, { 'content-type': 'text/plain', ...SECURITY }).end('not found\n')
  })
  return {
    url: ep.url,
    async close () {
      source.events.off('change', onChange)
      clearInterval(refresh)
      clearTimeout(pending)
      for (const c of clients) c.end()
      clients.clear()
      await ep.close()
    }
  }
}
