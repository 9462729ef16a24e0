// One JSON text per value: object keys sorted at every depth, no whitespace. Two peers that read the same
// job (whatever the key order or formatting of their job.json) hash the same bytes.

export type Json = null | boolean | number | string | readonly Json[] | { readonly [k: string]: Json }

export function canonicalJson (value: Json): string {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return JSON.stringify(value)
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new RangeError(`canonicalJson: ${value} is not a finite number`)
    return JSON.stringify(value)
  }
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v as Json)).join(',')}]`
  const obj = value as { readonly [k: string]: Json }
  const keys = Object.keys(obj).filter((k) => obj[k] !== undefined).sort()
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k]!)}`).join(',')}}`
}
