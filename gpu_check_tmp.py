"""Temporary GPU check (deleted after the run): quantize/dequantize on CUDA, bf16 store."""
import sys
import time

import numpy as np
import torch
import transformers
from PIL import Image

from luq.apply import VariantStore
from luq.defaults import HIGH, LOW
from luq.memory import model_layout, plan_memory, resident_weight_bytes
from luq.models.adapters import adapter_for
from luq.models.prompting import build_inputs
from luq.models.tiny import tiny_llava_config, tiny_llava_processor
from luq.plan import BitPlan
from luq.quant import QuantSpec, dequantize, quantize_weight
from luq.quant.stats import InputStats
from luq.statistics import collect_statistics

print(torch.__version__, transformers.__version__, torch.cuda.get_device_name(0), flush=True)
dev = torch.device("cuda")
torch.manual_seed(0)
w = torch.randn(1024, 2048, device=dev) * 0.02
st = InputStats(2048)
st.add_batch(torch.randn(4096, 2048, device=dev))
for spec in [QuantSpec("rtn", 4, 64), QuantSpec("rtn", 3, 0), LOW, QuantSpec("billm", 1, 64),
             QuantSpec("gptq", 4, 64), QuantSpec("awq", 4, 64)]:
    qw = quantize_weight(w, spec, st)
    assert all(t.device.type == "cuda" for t in qw.tensors.values()), spec
    gpu = dequantize(qw)
    cpu = dequantize(type(qw)(qw.spec, qw.shape, {k: v.cpu() for k, v in qw.tensors.items()}))
    print(spec.label, "dev ok, max|gpu-cpu|", float((gpu.cpu() - cpu).abs().max()),
          "rel err", float((gpu - w).norm() / w.norm()), flush=True)


def batches(processor, n, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        img = Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8))
        b = build_inputs(processor, img if i % 2 == 0 else None, "what colour is the shape ?")
        out.append({k: v.to(dev) if torch.is_tensor(v) else v for k, v in b.items()})
    return out


def big(args):
    config = tiny_llava_config(args[0])
    t = config.text_config
    t.hidden_size, t.intermediate_size, t.num_attention_heads = args[1], args[2], args[3]
    t.num_key_value_heads, t.head_dim = args[4], args[1] // args[3]
    with torch.device(dev):
        model = transformers.AutoModelForImageTextToText.from_config(config)
    return model.to(torch.bfloat16).eval()


processor = tiny_llava_processor()
for shape in [(4, 64, 128, 4, 2), (22, 2048, 5632, 32, 4)]:
    torch.cuda.synchronize()
    model = big(shape)
    adapter = adapter_for(model)
    cal = batches(processor, 64)
    for b in cal:
        if "pixel_values" in b:
            b["pixel_values"] = b["pixel_values"].bfloat16()
    torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    stats = collect_statistics(model, adapter, cal, [HIGH, LOW])
    torch.cuda.synchronize()
    t1 = time.perf_counter()
    store = VariantStore(model, adapter, stats)
    store.prepare([HIGH, LOW])
    torch.cuda.synchronize()
    t2 = time.perf_counter()
    names = store.names
    plan = BitPlan.mixed(names, HIGH, LOW, names[::3])
    store.apply(plan)
    layout = model_layout(model, adapter)
    with torch.no_grad():
        ids = cal[1]
        out = model.generate(**ids, max_new_tokens=4, do_sample=False)
        torch.cuda.synchronize()
        t3 = time.perf_counter()
        out2 = model.generate(**ids, max_new_tokens=4, do_sample=False)
        torch.cuda.synchronize()
        t4 = time.perf_counter()
        cached = model(**ids).logits
    dense = {m._dense.dtype for m in model.modules() if getattr(m, "_dense", None) is not None}
    print(shape, f"stats {t1 - t0:.2f}s variants {t2 - t1:.2f}s answer {t3 - t2:.2f}s "
          f"again {t4 - t3:.2f}s", "same tokens", torch.equal(out, out2),
          "dense dtypes", dense, "limit", store.dense.limit,
          "accounted", plan_memory(layout, plan).total_bytes,
          "resident", resident_weight_bytes(model),
          "peak GPU GB", round(torch.cuda.max_memory_allocated() / 1e9, 2), flush=True)
    store.dense.clear()
    store.dense.limit = 0  # no dense cache at all: the same logits
    with torch.no_grad():
        print("  uncached logits identical", torch.equal(model(**ids).logits, cached),
              "dense bytes", store.dense.nbytes, flush=True)
    del model, store
    torch.cuda.empty_cache()
print("GPU CHECK DONE")
sys.exit(0)
