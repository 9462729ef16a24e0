// A bootstrap list file: one multiaddr per line (ending in /p2p/<peer id>), blank lines and # comments allowed.
import { readFileSync } from 'node:fs'
import { multiaddr } from '@multiformats/multiaddr'

export class BootstrapListError extends Error {
  constructor (message: string) { super(message); this.name = 'BootstrapListError' }
}

export function parseBootstrapAddr (text: string, where: string): string {
  let ma
  try {
    ma = multiaddr(text)
  } catch {
    throw new BootstrapListError(`${where}: "${text.slice(0, 80)}" is not a multiaddr`)
  }
  if (ma.getComponents().find((c) => c.name === 'p2p') === undefined) {
    throw new BootstrapListError(`${where}: "${text.slice(0, 80)}" lacks /p2p/<peer id>`)
  }
  return ma.toString()
}

export function parseBootstrapList (text: string, source: string): string[] {
  const out: string[] = []
  text.split('\n').forEach((line, i) => {
    const t = line.replace(/#.*/, '').trim()
    if (t !== '') out.push(parseBootstrapAddr(t, `${source}:${i + 1}`))
  })
  return out
}

export function readBootstrapFile (path: string): string[] {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    throw new BootstrapListError(`${path}: ${(err as NodeJS.ErrnoException).code ?? 'cannot read'}`)
  }
  return parseBootstrapList(text, path)
}
