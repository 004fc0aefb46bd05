"""Loads a TorchScript file mirage exported, in PyTorch, and prints its metadata and outputs.

usage: check_export.py MODEL.pt INPUT.json
INPUT.json: {"shape": [N, C, H, W], "data": [flat floats]}
prints JSON: {"metadata": <mirage.json>, "logits": [[...]]}
"""
import json
import sys

import torch

model_path, input_path = sys.argv[1], sys.argv[2]
extra = {"mirage.json": ""}
model = torch.jit.load(model_path, map_location="cpu", _extra_files=extra)
model.eval()
with open(input_path) as f:
    spec = json.load(f)
x = torch.tensor(spec["data"], dtype=torch.float32).view(spec["shape"])
with torch.no_grad():
    logits = model(x)
print(json.dumps({"metadata": json.loads(extra["mirage.json"]), "logits": logits.tolist()}))
