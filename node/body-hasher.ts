// sha256 of a large incoming body, computed while it arrives. Above OFF_THREAD_BYTES the body lives in a
// SharedArrayBuffer and a helper thread hashes each stretch once it has been copied in, so the receiving
// thread only decrypts and copies (profile of a 40 MB fetch: sha256 was a third of the receiver's CPU).
// Small bodies hash inline: posting to a thread costs more than hashing them.
import { createHash } from 'node:crypto'
import type { Hash } from 'node:crypto'
import { Worker } from 'node:worker_threads'

export const OFF_THREAD_BYTES = 4 << 20
/** post a stretch to the helper every this many bytes */
const STRETCH_BYTES = 1 << 20

// plain CommonJS so the helper needs no TypeScript loader
const HELPER = `
const { parentPort } = require('node:worker_threads')
const { createHash } = require('node:crypto')
const jobs = new Map()
parentPort.on('message', (m) => {
  if (m.op === 'start') jobs.set(m.id, { h: createHash('sha256'), view: new Uint8Array(m.sab) })
  else if (m.op === 'update') jobs.get(m.id)?.h.update(jobs.get(m.id).view.subarray(m.from, m.to))
  else if (m.op === 'end') {
    const j = jobs.get(m.id)
    jobs.delete(m.id)
    parentPort.postMessage({ id: m.id, hex: j === undefined ? '' : j.h.digest('hex') })
  }
  else if (m.op === 'drop') jobs.delete(m.id)
})`

let helper: Worker | undefined
let nextId = 0
const waiting = new Map<number, { resolve: (hex: string) => void, reject: (e: Error) => void }>()

function theHelper (): Worker {
  if (helper === undefined) {
    const w = new Worker(HELPER, { eval: true })
    w.unref() // never keeps a process alive
    w.on('message', (m: { id: number, hex: string }) => { waiting.get(m.id)?.resolve(m.hex); waiting.delete(m.id) })
    w.on('error', (err) => { for (const p of waiting.values()) p.reject(err); waiting.clear(); helper = undefined })
    w.on('exit', () => { if (helper === w) helper = undefined })
    helper = w
  }
  return helper
}

export class BodyHasher {
  /** where the body goes: fill it in order, calling `filled` after each copy */
  readonly body: Uint8Array
  private readonly inline?: Hash
  private readonly id = nextId++
  private posted = 0
  private done = false

  constructor (size: number) {
    if (size < OFF_THREAD_BYTES) {
      this.body = new Uint8Array(size)
      this.inline = createHash('sha256')
    } else {
      const sab = new SharedArrayBuffer(size)
      this.body = new Uint8Array(sab)
      theHelper().postMessage({ op: 'start', id: this.id, sab })
    }
  }

  /** bytes [0, upTo) of body are final */
  filled (upTo: number): void {
    if (this.inline !== undefined) {
      this.inline.update(this.body.subarray(this.posted, upTo))
      this.posted = upTo
    } else if (upTo - this.posted >= STRETCH_BYTES || upTo === this.body.byteLength) {
      helper?.postMessage({ op: 'update', id: this.id, from: this.posted, to: upTo })
      this.posted = upTo
    }
  }

  /** hex sha256 of the whole body (call once it is all filled) */
  async digest (): Promise<string> {
    this.done = true
    if (this.inline !== undefined) return this.inline.digest('hex')
    const w = helper
    if (w === undefined) return createHash('sha256').update(this.body).digest('hex') // the helper died: hash here
    return await new Promise<string>((resolve, reject) => {
      waiting.set(this.id, { resolve, reject })
      w.postMessage({ op: 'end', id: this.id })
    })
  }

  /** the transfer broke: forget the job */
  drop (): void {
    if (this.done || this.inline !== undefined) return
    this.done = true
    helper?.postMessage({ op: 'drop', id: this.id })
  }
}
