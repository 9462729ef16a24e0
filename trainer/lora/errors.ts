/** An adapter folder or tensor set that cannot be used; the message names the file and what is wrong. */
export class AdapterError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'AdapterError'
  }
}
