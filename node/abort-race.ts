/**
 * `p`, or the error `onAbort` makes once `signal` aborts, whichever comes first. The abort listener lives for this
 * wait only: racing every wait against one promise per signal kept each result reachable (the race's reaction on
 * that promise holds it) until the signal fired (a transfer held every chunk it had read until its timeout).
 * `p` itself runs on; a rejection it ends with after the abort is dropped.
 */
export async function raceAbort<T> (p: Promise<T>, signal: AbortSignal, onAbort: () => unknown): Promise<T> {
  signal.throwIfAborted()
  let listener = (): void => {}
  const aborted = new Promise<never>((_resolve, reject) => {
    listener = () => { reject(onAbort()) }
    signal.addEventListener('abort', listener, { once: true })
  })
  p.catch(() => {})
  try {
    return await Promise.race([p, aborted])
  } finally {
    signal.removeEventListener('abort', listener)
  }
}
