// Reverse-mode differentiation over a Graph: walk the nodes between the chosen inputs and the loss in reverse
// creation order (creation order is topological), apply each op's backward rule, sum gradients that meet.
// Only nodes that both depend on a chosen input and feed the loss get backward work.
import type { Node, Value } from './graph.ts'
import { GraphError } from './errors.ts'
import type { Rule } from './rules.ts'
import { RULES } from './rules.ts'
import * as op from './ops.ts'

/**
 * Gradients of `loss` with respect to each of `wrt` (same order). `seed` is dLoss/dLoss; defaults to 1 for a
 * scalar loss. A `wrt` the loss does not depend on gets an explicit zero tensor of its shape.
 */
export function gradients (loss: Value, wrt: readonly Value[], seed?: Value): Value[] {
  const g = loss.graph
  const nodes = g.nodes.slice() // backward nodes appended below are not revisited
  // forward: values that depend on some wrt
  const active = new Set<Value>(wrt)
  const activeNodes = new Set<Node>()
  for (const n of nodes) {
    if (n.inputs.some((x) => active.has(x))) {
      activeNodes.add(n)
      for (const o of n.outputs) active.add(o)
    }
  }
  // backward: nodes the loss depends on
  const feedsLoss = new Set<Value>([loss])
  const relevant: Node[] = []
  for (let i = nodes.length - 1; i >= 0; i--) {
    const n = nodes[i]!
    if (activeNodes.has(n) && n.outputs.some((o) => feedsLoss.has(o))) {
      relevant.push(n)
      for (const x of n.inputs) feedsLoss.add(x)
    }
  }
  if (seed === undefined) {
    if (loss.rank !== 0) throw new GraphError(`gradients: loss ${loss} is not a scalar; pass a seed`)
    seed = g.scalar(1, loss.dtype)
  }
  const grads = new Map<Value, Value>([[loss, seed]])
  const accumulate = (v: Value, d: Value): void => {
    const prev = grads.get(v)
    grads.set(v, prev === undefined ? d : op.add(prev, d))
  }
  for (const n of relevant) { // already in reverse order
    const outGrads = n.outputs.map((o) => grads.get(o))
    if (outGrads.every((x) => x === undefined)) continue
    if ('vjp' in n.params) { // a composite: its own backward straight to its inputs
      const ins = n.params.inputs
      const needs = ins.map((x) => active.has(x) && feedsLoss.has(x))
      const ds = n.params.vjp(outGrads[0]!, needs)
      ins.forEach((x, i) => {
        const d = ds[i]
        if (needs[i] && d !== undefined) accumulate(x, d)
      })
      continue
    }
    const rule = RULES[n.op] as Rule
    if (rule.backward === undefined) {
      throw new GraphError(`op ${n.op} has no gradient rule (needed for ${n.outputs[0]})`)
    }
    const needs = n.inputs.map((x) => active.has(x) && feedsLoss.has(x))
    const ins = rule.backward(n, outGrads, needs)
    n.inputs.forEach((x, i) => {
      const d = ins[i]
      if (needs[i] && d !== undefined) accumulate(x, d)
    })
  }
  return wrt.map((w) => grads.get(w) ?? op.mul(w, 0))
}
