// Everything a running peer shows besides its log: the observer, the control socket in the state folder
// (fedit status), and when asked the metrics endpoint and the dashboard. One start, one close.
import { join } from 'node:path'
import type { Registry } from 'prom-client'
import { writeFileAtomicSync } from '../../trainer/atomic-write.ts'
import type { JobSpec } from '../../protocol/job-spec.ts'
import type { Peer } from '../peer.ts'
import { PeerObserver } from './observer.ts'
import { controlSocketFits, serveControl } from './control-socket.ts'
import { registerPeerMetrics } from './metrics.ts'
import { serveMetrics } from './metrics-server.ts'
import { serveDashboard } from './dashboard-server.ts'
import type { ListenAddr } from './http-listen.ts'
import { LAST_STATUS } from './offline-status.ts'

export interface ObservabilityOptions {
  readonly peer: Peer
  readonly job: JobSpec
  readonly jobId: string
  readonly stateDir: string
  /** the registry whose libp2p factory the peer's host was given (createMetricsRegistry) */
  readonly metrics?: { readonly addr: ListenAddr, readonly registry: Registry }
  readonly dashboard?: ListenAddr
}

export interface Observability {
  readonly observer: PeerObserver
  /** undefined when the state folder's path is too long for a unix socket: fedit status then reads the folder */
  readonly controlPath?: string
  readonly metricsUrl?: string
  readonly dashboardUrl?: string
  close: () => Promise<void>
}

/**
 * Call before peer.start(): the observer must hear the first events, and the control socket refuses a
 * state folder another running peer holds.
 */
export async function startObservability (o: ObservabilityOptions): Promise<Observability> {
  const observer = new PeerObserver(o.peer, o.job, o.jobId)
  const closers: Array<() => Promise<void>> = []
  const closeAll = async (): Promise<void> => { for (const c of closers.reverse()) await c() }
  try {
    let controlPath: string | undefined
    if (controlSocketFits(o.stateDir)) {
      const control = await serveControl(o.stateDir, () => observer.snapshot())
      closers.push(control.close)
      controlPath = control.path
    }
    // what the peer showed as it stopped, for fedit status of a stopped peer (registered after the socket:
    // a folder another running peer holds is not ours to write)
    closers.push(async () => {
      try {
        const last = { ...observer.snapshot(), running: false }
        writeFileAtomicSync(join(o.stateDir, LAST_STATUS), JSON.stringify(last) + '\n')
      } catch {
        // the state folder is gone or read-only: nothing is lost but this note
      }
    })
    let metricsUrl: string | undefined
    if (o.metrics !== undefined) {
      registerPeerMetrics(o.metrics.registry, o.peer, observer)
      const ep = await serveMetrics(o.metrics.addr, o.metrics.registry)
      closers.push(ep.close)
      metricsUrl = ep.url
    }
    let dashboardUrl: string | undefined
    if (o.dashboard !== undefined) {
      const ep = await serveDashboard(o.dashboard, observer)
      closers.push(ep.close)
      dashboardUrl = ep.url
    }
    return { observer, controlPath, metricsUrl, dashboardUrl, close: closeAll }
  } catch (err) {
    await closeAll()
    throw err
  }
}
