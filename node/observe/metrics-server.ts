// GET /metrics: the registry in Prometheus text format.
import type { Registry } from 'prom-client'
import { listenHttp, readOnly } from './http-listen.ts'
import type { HttpEndpoint, ListenAddr } from './http-listen.ts'

export async function serveMetrics (addr: ListenAddr, registry: Registry): Promise<HttpEndpoint> {
  const ep = await listenHttp(addr, (req, res) => {
    if (!readOnly(req, res)) return
    const path = (req.url ?? '/').split('?')[0]
    if (path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('metrics are at /metrics\n')
      return
    }
    registry.metrics().then((text) => {
      res.writeHead(200, { 'content-type': registry.contentType }).end(text)
    }, (err: Error) => {
      res.writeHead(500, { 'content-type': 'text/plain' }).end(`${err.message}\n`)
    })
  })
  return { url: `${ep.url}metrics`, close: ep.close }
}
