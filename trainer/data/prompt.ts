// The prompt template of the FedIT/Shepherd paper, which is Alpaca-LoRA's templates/alpaca.json.
// With an input (Dolly's context):
//   Below is an instruction that describes a task, paired with an input that provides further context.
//   Write a response that appropriately completes the request.
//   \n\n### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:\n
// Without:
//   Below is an instruction that describes a task. Write a response that appropriately completes the request.
//   \n\n### Instruction:\n{instruction}\n\n### Response:\n
// The response follows directly. The pieces are kept apart so the tokenizer can shorten the input alone.

export const PREAMBLE_WITH_INPUT = 'Below is an instruction that describes a task, paired with an input that ' +
  'provides further context. Write a response that appropriately completes the request.\n\n### Instruction:\n'
export const PREAMBLE_NO_INPUT = 'Below is an instruction that describes a task. Write a response that appropriately ' +
  'completes the request.\n\n### Instruction:\n'
export const INPUT_HEADER = '\n\n### Input:\n'
export const RESPONSE_HEADER = '\n\n### Response:\n'

/**
 * The prompt split at the points where truncation may cut: preamble + instruction + [inputHeader + input] +
 * responseHeader.
 */
export interface PromptParts {
  readonly preamble: string
  readonly instruction: string
  /** '' when there is no input */
  readonly inputHeader: string
  readonly input: string
  readonly responseHeader: string
}

export function promptParts (instruction: string, input = ''): PromptParts {
  const has = input !== ''
  return { preamble: has ? PREAMBLE_WITH_INPUT : PREAMBLE_NO_INPUT, instruction, inputHeader: has ? INPUT_HEADER : '',
    input, responseHeader: RESPONSE_HEADER }
}

/** The whole prompt text (what `fedit generate --instruction` feeds the model). */
export function formatPrompt (instruction: string, input = ''): string {
  const p = promptParts(instruction, input)
  return p.preamble + p.instruction + p.inputHeader + p.input + p.responseHeader
}
