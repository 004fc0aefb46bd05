"""Loads several single-input TorchScript files mirage exported, in one PyTorch process.

usage: check_translation.py MODEL.pt INPUT.json [MODEL.pt INPUT.json ...]
INPUT.json: {"shape": [N, C, H, W], "data": [flat floats]}
prints JSON: [{"metadata": <mirage.json>, "shape": [...], "output": [flat floats]}, ...] in order
"""
import json
import sys

import torch

results = []
args = sys.argv[1:]
for model_path, input_path in zip(args[0::2], args[1::2]):
    extra = {"mirage.json": ""}
    model = torch.jit.load(model_path, map_location="cpu", _extra_files=extra)
    model.eval()
    with open(input_path) as f:
        spec = json.load(f)
    x = torch.tensor(spec["data"], dtype=torch.float32).view(spec["shape"])
    with torch.no_grad():
        y = model(x)
    results.append({"metadata": json.loads(extra["mirage.json"]), "shape": list(y.shape),
                    "output": y.flatten().tolist()})
print(json.dumps(results))
