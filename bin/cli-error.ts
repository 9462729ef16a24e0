/** An error whose message is shown to the user as one line (no stack); exit code 1 unless given. */
export class CliError extends Error {
  constructor (message: string, readonly exitCode = 1) {
    super(message)
    this.name = 'CliError'
  }
}
