/** Instruction data that cannot be used; the message names the file and line. */
export class DataError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'DataError'
  }
}
