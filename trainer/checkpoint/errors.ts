/** A checkpoint, config or tokenizer that cannot be used; the message names the file and what is wrong. */
export class CheckpointError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'CheckpointError'
  }
}
