// The running peer's control socket, DIR/control.sock in its state folder (mode 0600: only its owner may
// ask): `fedit status` reads the peer's snapshot over it (HTTP on a unix socket, GET /status). Read-only.
import { createServer, get } from 'node:http'
import type { Server } from 'node:http'
import { connect } from 'node:net'
import { chmodSync, existsSync, mkdirSync, renameSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { StateError } from '../errors.ts'
import type { PeerSnapshot } from './snapshot.ts'

export const CONTROL_SOCKET = 'control.sock'
/** sun_path holds 108 bytes, the terminating zero included */
const MAX_SOCKET_PATH = 107

export function controlSocketPath (stateDir: string): string {
  return join(stateDir, CONTROL_SOCKET)
}

/** false when the state folder's path is too long for a unix socket (sun_path) */
export function controlSocketFits (stateDir: string): boolean {
  return Buffer.byteLength(join(stateDir, `.${CONTROL_SOCKET}.${process.pid}`)) <= MAX_SOCKET_PATH
}

/** true when a process accepts connections on the socket (a peer already runs with this state folder) */
async function answers (path: string): Promise<boolean> {
  return await new Promise((resolve) => {
    const s = connect(path)
    s.once('connect', () => { s.destroy(); resolve(true) })
    s.once('error', () => { resolve(false) })
  })
}

/** Throws StateError when a running peer holds the state folder (checked again as the socket is served). */
export async function assertStateFolderFree (stateDir: string): Promise<void> {
  const path = controlSocketPath(stateDir)
  if (existsSync(path) && await answers(path)) {
    throw new StateError(`another peer is running with the state folder ${stateDir}`)
  }
}

export interface ControlServer { readonly path: string, close: () => Promise<void> }

/**
 * Serves `snapshot()` on DIR/control.sock. Throws StateError when another peer already serves one there (two
 * peers on one state folder would overwrite each other's adapters) or when the path is too long for a socket.
 */
export async function serveControl (stateDir: string, snapshot: () => PeerSnapshot): Promise<ControlServer> {
  const path = controlSocketPath(stateDir)
  if (!controlSocketFits(stateDir)) {
    throw new StateError(`${path}: too long for a unix socket (${MAX_SOCKET_PATH} bytes); use a shorter --state path`)
  }
  mkdirSync(stateDir, { recursive: true })
  await assertStateFolderFree(stateDir)
  rmSync(path, { force: true }) // left by a peer that crashed
  const server: Server = createServer((req, res) => {
    if (req.method !== 'GET' || req.url !== '/status') {
      res.writeHead(req.method !== 'GET' ? 405 : 404, { 'content-type': 'text/plain' }).end('GET /status only\n')
      return
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(snapshot()))
  })
  // bound under a temporary name, made 0600, then renamed into place: never reachable with a wider mode
  const tmp = join(stateDir, `.${CONTROL_SOCKET}.${process.pid}`)
  rmSync(tmp, { force: true })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(tmp, () => { server.off('error', reject); resolve() })
  })
  chmodSync(tmp, 0o600)
  renameSync(tmp, path)
  return {
    path,
    async close () {
      await new Promise<void>((resolve) => { server.close(() => { resolve() }); server.closeAllConnections() })
      rmSync(path, { force: true })
    }
  }
}

/** The running peer's snapshot, or undefined when no peer answers on the state folder's socket. */
export async function queryControl (stateDir: string, timeoutMs = 5000): Promise<PeerSnapshot | undefined> {
  const path = controlSocketPath(stateDir)
  if (!existsSync(path)) return undefined
  return await new Promise((resolve, reject) => {
    const req = get({ socketPath: path, path: '/status', timeout: timeoutMs }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => { body += c })
      res.on('end', () => {
        if (res.statusCode !== 200) {
          reject(new StateError(`${path}: the peer answered ${res.statusCode ?? '?'}`))
          return
        }
        try {
          resolve(JSON.parse(body) as PeerSnapshot)
        } catch {
          reject(new StateError(`${path}: the peer's answer is not JSON`))
        }
      })
    })
    req.once('timeout', () => {
      req.destroy(new StateError(`${path}: the peer did not answer in ${timeoutMs / 1000} s`))
    })
    req.once('error', (err: NodeJS.ErrnoException) => {
      // no listener: a stale socket of a stopped peer
      if (err.code === 'ECONNREFUSED' || err.code === 'ENOENT') resolve(undefined)
      else reject(err instanceof StateError ? err : new StateError(`${path}: ${err.message}`))
    })
  })
}
