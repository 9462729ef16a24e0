// The helper thread of a train session with LoRA dropout: it draws the masks of the session's next run
// (dropout-masks.ts) while ONNX Runtime, which blocks the session's own thread, computes the current one.
import { serve } from '../worker/rpc.ts'
import { dropoutMasks } from './dropout-masks.ts'
import type { DropoutSite } from './dropout-masks.ts'

serve({
  masks: ({ seed, rows, sites, p }: { seed: number, rows: number, sites: DropoutSite[],
    p: number }) => dropoutMasks(seed, rows, sites, p)
})
