#!/usr/bin/env python3
"""PyTorch + PEFT reference for `npm run bench -- llama7b` on a GPU: the same model folder (the random
LLaMA-2-7B-shaped fp16 folder the bench writes to ~/.cache/fedit/llama2-7b-random-fp16), LoRA r 8 alpha 16 on
q_proj and v_proj, micro-batch 1 x --seq, AdamW; prints one JSON line last: tokens/s of a LoRA step (forward,
backward, optimizer) and the GPU's peak memory. Compare with ours: tokens/s = seq * 1000 / stepMs.

Not run here (written on a machine without a GPU). Needs the GPU machine's torch, transformers and peft:
  python3 bench/reference/lora_step.py --model ~/.cache/fedit/llama2-7b-random-fp16 --dtype fp16 --seq 512
"""
import argparse
import json
import time

import torch
from peft import LoraConfig, get_peft_model
from transformers import LlamaForCausalLM


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument('--model', required=True)
    p.add_argument('--dtype', choices=['fp16', 'bf16', 'fp32'], default='fp16')
    p.add_argument('--seq', type=int, default=512)
    p.add_argument('--steps', type=int, default=5)
    a = p.parse_args()
    dtype = {'fp16': torch.float16, 'bf16': torch.bfloat16, 'fp32': torch.float32}[a.dtype]
    model = LlamaForCausalLM.from_pretrained(a.model, torch_dtype=dtype).cuda()
    model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0,
                                             target_modules=['q_proj', 'v_proj'], task_type='CAUSAL_LM'))
    # LoRA weights, their gradients and AdamW state in fp32, as ours (and as PEFT's mixed-precision recipe)
    for n, w in model.named_parameters():
        if w.requires_grad:
            w.data = w.data.float()
    opt = torch.optim.AdamW([w for w in model.parameters() if w.requires_grad], lr=1e-4)
    scaler = torch.cuda.amp.GradScaler(enabled=a.dtype == 'fp16')
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(3, model.config.vocab_size, (1, a.seq), generator=gen).cuda()
    times = []
    for _ in range(a.steps + 1):  # the first step warms up
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        with torch.autocast('cuda', dtype=dtype, enabled=a.dtype != 'fp32'):
            loss = model(input_ids=ids, labels=ids).loss  # transformers shifts the labels itself
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        opt.zero_grad(set_to_none=True)
        torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    step = sorted(times[1:])[len(times[1:]) // 2]
    print(json.dumps({
        'bench': 'reference-lora-step', 'dtype': a.dtype, 'seq': a.seq, 'stepMs': round(step * 1000, 1),
        'tokensPerSec': round(a.seq / step, 1), 'gpuPeakMB': round(torch.cuda.max_memory_allocated() / 2**20),
        'device': torch.cuda.get_device_name(0)
    }))


if __name__ == '__main__':
    main()
