// The HOST:PORT of --metrics and --dashboard, and a small HTTP server bound to it. Loopback unless the user
// names another host: these pages show the job's members and rounds to whoever can reach them.
import { createServer } from 'node:http'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

export interface ListenAddr { readonly host: string, readonly port: number }

export class ListenAddrError extends Error {
  constructor (message: string) { super(message); this.name = 'ListenAddrError' }
}

/** "PORT", "HOST:PORT" or "[IPv6]:PORT" (port 0: any free port); the host defaults to 127.0.0.1. */
export function parseListenAddr (text: string, flag: string): ListenAddr {
  const m = /^(?:(?:\[([0-9a-fA-F:.]+)\]|([^:[\]\s]+)):)?(\d{1,5})$/.exec(text.trim())
  const port = m === null ? NaN : Number(m[3])
  if (m === null || port > 65535) {
    throw new ListenAddrError(`${flag}: "${text}" is not HOST:PORT or PORT (e.g. 127.0.0.1:9464)`)
  }
  return { host: m[1] ?? m[2] ?? '127.0.0.1', port }
}

export interface HttpEndpoint { readonly url: string, close: () => Promise<void> }

export type Handler = (req: IncomingMessage, res: ServerResponse) => void

export async function listenHttp (addr: ListenAddr, handler: Handler): Promise<HttpEndpoint> {
  const server = createServer((req, res) => {
    try { handler(req, res) } catch (err) {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' })
      res.end(`${(err as Error).message}\n`)
    }
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      reject(new ListenAddrError(`cannot listen on ${addr.host}:${addr.port} (${err.code ?? err.message})`))
    })
    server.listen(addr.port, addr.host, () => { resolve() })
  })
  const a = server.address() as AddressInfo
  const host = a.family === 'IPv6' ? `[${a.address}]` : a.address
  return {
    url: `http://${host}:${a.port}/`,
    async close () {
      server.closeAllConnections() // the dashboard's event streams never end on their own
      await new Promise<void>((resolve) => { server.close(() => { resolve() }) })
    }
  }
}

/** Only GET and HEAD: nothing served here changes the peer. */
export function readOnly (req: IncomingMessage, res: ServerResponse): boolean {
  if (req.method === 'GET' || req.method === 'HEAD') return true
  res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('read-only: GET only\n')
  return false
}
