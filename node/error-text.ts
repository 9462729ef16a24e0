// One line for a failure as it is logged: some rejections are not Errors (a libp2p abort rejected with an undefined
// reason, a thrown string), and their `.message` printed "undefined", which said nothing of what failed.

export function errorText (err: unknown): string {
  if (err instanceof Error) return err.message !== '' ? err.message : err.name
  if (typeof err === 'object' && err !== null && 'message' in err && typeof err.message === 'string') return err.message
  return `a rejection with ${err === undefined ? 'no reason' : `the value ${String(err)}`}`
}
