// The NAT lab from a test or bench: namespaces up and down (nat-lab.sh), nodes (nat-node.ts) started inside
// them, their JSON lines collected. Needs root, iproute2 and nftables; natLabMissing() says what is missing.
import { spawn, spawnSync } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { PeerTiming } from '../../node/peer.ts'
import type { RelayLimits } from '../../node/nat-traversal.ts'

const SCRIPT = fileURLToPath(new URL('./nat-lab.sh', import.meta.url))
const NODE = fileURLToPath(new URL('./nat-node.ts', import.meta.url))

export interface NatNodeConfig {
  /** bootstrap + relay; a peer of a job; for bench/transfer-nat a host serving a blob or fetching it */
  readonly role: 'bootstrap' | 'peer' | 'serve' | 'fetch'
  readonly name: string
  readonly keySeed: number
  readonly listen: string[]
  readonly announce?: string[]
  readonly bootstrap?: string[]
  /** bootstrap: its relay's limits (default DEFAULT_RELAY_LIMITS); serve: relay for others (--relay) */
  readonly relay?: RelayLimits
  /** bootstrap: no relay (fedit bootstrap --no-relay) */
  readonly noRelay?: boolean
  /** ask the home router for a port mapping (UPnP, --upnp) */
  readonly upnp?: boolean
  readonly job?: Record<string, unknown>
  /** the fake trainer's pretend model: width and layers set the adapter's size */
  readonly dim?: number
  readonly layers?: number
  readonly stateDir?: string
  readonly timing?: Partial<PeerTiming>
  /** serve: the blob's size; fetch: its size and sha256, where from, how often, and how long to wait for a
   * confirmed address of its own and then for DCUtR to make the connection direct */
  readonly bytes?: number
  readonly hash?: string
  readonly from?: string
  readonly runs?: number
  readonly awaitDirectMs?: number
}

export function keySeed (n: number): Uint8Array {
  return new Uint8Array(32).fill(n)
}

/** why the lab cannot run here, or undefined when it can */
export function natLabMissing (): string | undefined {
  if (process.platform !== 'linux') return 'network namespaces need Linux'
  if (process.getuid?.() !== 0) return 'network namespaces need root (CI runs as root)'
  if (spawnSync('ip', ['-V']).status !== 0) return 'iproute2 (ip) is not installed'
  if (spawnSync('nft', ['--version']).status !== 0) return 'nftables (nft) is not installed (.ci/run installs it)'
  return undefined
}

/** why the lab's UPnP router cannot run here (miniupnpd missing), or undefined when it can */
export function miniupnpdMissing (): string | undefined {
  if (spawnSync('miniupnpd', ['--version']).error !== undefined) {
    return 'miniupnpd is not installed (Debian: miniupnpd-nftables; .ci/run installs it)'
  }
  return undefined
}

export interface LabNode {
  readonly name: string
  readonly events: Array<Record<string, unknown>>
  readonly child: ChildProcess
  /** resolves with the first event of kind `ev` (rejects if the process exits first) */
  next (ev: string, timeoutMs: number): Promise<Record<string, unknown>>
}

/**
 * A lab's line handler that keeps the nodes' log lines, addresses and failures in `log`, each stamped with the
 * seconds since the call (for the post-mortem a failed NAT test prints).
 */
export function keepLabLog (log: string[], width = 14): (name: string, o: Record<string, unknown>) => void {
  const t0 = Date.now()
  return (name, o) => {
    const at = ((Date.now() - t0) / 1000).toFixed(2).padStart(6)
    const who = name.padEnd(width)
    if (o.ev === 'log' || o.ev === 'stderr') log.push(`${at} ${who} ${String(o.line)}`)
    if (o.ev === 'addrs') log.push(`${at} ${who} addrs ${(o.addrs as string[]).join(' ')}`)
    if (o.ev === 'error') log.push(`${at} ${name} failed: ${String(o.message)}`)
  }
}

export class NatLab {
  readonly tag = `fx${process.pid.toString(36).slice(-4)}`
  readonly nodes: LabNode[] = []
  private upped = false

  constructor (
    private readonly dir: string,
    private readonly onLine: (name: string, o: Record<string, unknown>) => void
  ) {}

  up (): void {
    this.down()
    const r = spawnSync('bash', [SCRIPT, 'up', this.tag], { encoding: 'utf8' })
    this.upped = true
    if (r.status !== 0) throw new Error(`nat-lab.sh up failed: ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`)
  }

  /** starts a node in namespace `ns` (boot, pub, h1, h2, h3) */
  start (ns: string, cfg: NatNodeConfig): LabNode {
    const path = join(this.dir, `${cfg.name}.json`)
    writeFileSync(path, JSON.stringify(cfg))
    const argv = ['netns', 'exec', `${this.tag}-${ns}`, process.execPath, '--import', 'tsx', NODE, path]
    return this.track(cfg.name, spawn('ip', argv, { stdio: ['ignore', 'pipe', 'pipe'] }))
  }

  /** runs miniupnpd on home router rN (a UPnP IGD answering on the home side); its log lines are 'log' events */
  upnpRouter (n: number): LabNode {
    const child = spawn('bash', [SCRIPT, 'upnp', this.tag, String(n), this.dir], { stdio: ['ignore', 'pipe', 'pipe'] })
    return this.track(`miniupnpd-r${n}`, child)
  }

  private track (name: string, child: ChildProcess): LabNode {
    const events: Array<Record<string, unknown>> = []
    const waiters: Array<{ ev: string, resolve: (o: Record<string, unknown>) => void }> = []
    let buf = ''
    child.stdout!.on('data', (b: Buffer) => {
      buf += b.toString()
      let nl
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl); buf = buf.slice(nl + 1)
        let o: Record<string, unknown>
        try { o = JSON.parse(line) } catch { o = { ev: 'log', line } }
        events.push(o)
        this.onLine(name, o)
        for (const w of waiters.filter((x) => x.ev === o.ev)) { waiters.splice(waiters.indexOf(w), 1); w.resolve(o) }
      }
    })
    child.stderr!.on('data', (b: Buffer) => {
      for (const line of b.toString().split('\n').filter((l) => l.trim() !== '')) {
        const o = { ev: 'stderr', line }
        events.push(o)
        this.onLine(name, o)
      }
    })
    const exited = new Promise<never>((_resolve, reject) => {
      child.once('exit', (code) => reject(new Error(`${name} exited (${code})`)))
    })
    exited.catch(() => {})
    const node: LabNode = {
      name: name,
      events,
      child,
      async next (ev, timeoutMs) {
        const seen = events.find((o) => o.ev === ev)
        if (seen !== undefined) return seen
        let timer: NodeJS.Timeout | undefined
        try {
          return await Promise.race([
            new Promise<Record<string, unknown>>((resolve) => { waiters.push({ ev, resolve }) }),
            exited,
            new Promise<never>((_resolve, reject) => {
              timer = setTimeout(() => reject(new Error(`${name}: no '${ev}' within ${timeoutMs} ms`)), timeoutMs)
            })
          ])
        } finally { clearTimeout(timer) }
      }
    }
    this.nodes.push(node)
    return node
  }

  /** stops every node (SIGTERM, then SIGKILL after 5 s) and removes the namespaces */
  async close (): Promise<void> {
    await Promise.all(this.nodes.map(async (n) => {
      if (n.child.exitCode !== null || n.child.signalCode !== null) return
      const gone = new Promise((resolve) => n.child.once('exit', resolve))
      n.child.kill('SIGTERM')
      const t = setTimeout(() => { n.child.kill('SIGKILL') }, 5000)
      await gone
      clearTimeout(t)
    }))
    if (this.upped) this.down()
  }

  private down (): void {
    spawnSync('bash', [SCRIPT, 'down', this.tag])
  }
}
