// A tiny request/response + event protocol over a worker thread's MessagePort. The trainer's heavy work
// (ONNX Runtime's session.run blocks its thread) runs in the worker; the daemon's thread stays free for
// the network. Errors cross as {name, message} and are rethrown on the calling side with the same name.
import { Worker, parentPort, type TransferListItem } from 'node:worker_threads'
import { fileURLToPath } from 'node:url'

type Msg =
  | { kind: 'call', id: number, method: string, payload: unknown }
  | { kind: 'result', id: number, value: unknown }
  | { kind: 'error', id: number, name: string, message: string }
  | { kind: 'event', name: string, payload: unknown }

export class WorkerCallError extends Error {
  constructor (name: string, message: string) {
    super(message)
    this.name = name
  }
}

export type Handler = (payload: any, emit: (name: string, payload: unknown) => void) => Promise<unknown> | unknown

/** Inside the worker: answer calls with these handlers. */
export function serve (handlers: Record<string, Handler>): void {
  const port = parentPort
  if (port === null) throw new Error('serve() must run inside a worker thread')
  const emit = (name: string, payload: unknown): void => {
    port.postMessage({ kind: 'event', name, payload } satisfies Msg)
  }
  port.on('message', (msg: Msg) => {
    if (msg.kind !== 'call') return
    const h = handlers[msg.method]
    const reply = async (): Promise<void> => {
      try {
        if (h === undefined) throw new Error(`unknown method ${msg.method}`)
        const value = await h(msg.payload, emit)
        port.postMessage({ kind: 'result', id: msg.id, value } satisfies Msg, transferablesOf(value))
      } catch (err) {
        const e = err instanceof Error ? err : new Error(String(err))
        port.postMessage({ kind: 'error', id: msg.id, name: e.name, message: e.message } satisfies Msg)
      }
    }
    void reply()
  })
}

/** Collects the ArrayBuffers of typed arrays that own their whole buffer, so results move instead of copying. */
function transferablesOf (value: unknown, out: TransferListItem[] = [], seen = new Set<unknown>()): TransferListItem[] {
  if (value === null || typeof value !== 'object' || seen.has(value)) return out
  seen.add(value)
  if (ArrayBuffer.isView(value)) {
    const b = value.buffer
    if (b instanceof ArrayBuffer && value.byteOffset === 0 && value.byteLength === b.byteLength && !out.includes(b)) {
      out.push(b)
    }
    return out
  }
  const items = value instanceof Map ? [...value.values()] : Array.isArray(value) ? value : Object.values(value)
  for (const v of items) transferablesOf(v, out, seen)
  return out
}

/** On the calling side: a worker running `modulePath` (a .ts file that calls serve()). */
export class WorkerClient {
  private readonly worker: Worker
  private nextId = 1
  private readonly pending = new Map<number, { resolve: (v: unknown) => void, reject: (e: Error) => void }>()
  private readonly listeners = new Map<string, Set<(payload: any) => void>>()
  private exited: Error | undefined

  /**
   * `holdOpenWhileIdle: false`: the worker keeps the process alive only while a call is pending, so a helper
   * that its owner forgets to close never holds the process open.
   */
  constructor (moduleUrl: URL, resourceLimits?: { maxOldGenerationSizeMb?: number },
    private readonly holdOpenWhileIdle = true) {
    const entry = new URL('./entry.mjs', import.meta.url)
    this.worker = new Worker(fileURLToPath(entry), { workerData: { module: moduleUrl.href }, resourceLimits })
    if (!holdOpenWhileIdle) this.worker.unref()
    this.worker.on('message', (msg: Msg) => this.onMessage(msg))
    this.worker.on('error', (err) => this.failAll(err))
    this.worker.on('exit', (code) => this.failAll(new Error(`trainer worker exited with code ${code}`)))
  }

  private onMessage (msg: Msg): void {
    if (msg.kind === 'event') {
      for (const l of this.listeners.get(msg.name) ?? []) l(msg.payload)
      return
    }
    if (msg.kind !== 'result' && msg.kind !== 'error') return
    const p = this.pending.get(msg.id)
    if (p === undefined) return
    this.pending.delete(msg.id)
    if (!this.holdOpenWhileIdle && this.pending.size === 0) this.worker.unref()
    if (msg.kind === 'result') p.resolve(msg.value)
    else p.reject(new WorkerCallError(msg.name, msg.message))
  }

  private failAll (err: Error): void {
    this.exited ??= err
    for (const p of this.pending.values()) p.reject(err)
    this.pending.clear()
  }

  async call<T> (method: string, payload?: unknown, transfer: TransferListItem[] = []): Promise<T> {
    if (this.exited !== undefined) throw this.exited
    const id = this.nextId++
    return await new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject })
      if (!this.holdOpenWhileIdle) this.worker.ref()
      this.worker.postMessage({ kind: 'call', id, method, payload } satisfies Msg, transfer)
    })
  }

  on (event: string, listener: (payload: any) => void): () => void {
    let set = this.listeners.get(event)
    if (set === undefined) { set = new Set(); this.listeners.set(event, set) }
    set.add(listener)
    return () => set.delete(listener)
  }

  async close (): Promise<void> {
    this.exited ??= new Error('trainer worker closed')
    await this.worker.terminate()
  }
}
