"""Loads a mirage detector in PyTorch and prints its metadata, p_fake and softmax(forward)[:, 1].

usage: check_detector.py DETECTOR.pt INPUT.json
INPUT.json: {"shape": [N, C, H, W], "data": [flat floats]}
"""
import json
import sys

import torch

path, input_path = sys.argv[1], sys.argv[2]
extra = {"mirage.json": ""}
detector = torch.jit.load(path, map_location="cpu", _extra_files=extra)
detector.eval()
with open(input_path) as f:
    spec = json.load(f)
x = torch.tensor(spec["data"], dtype=torch.float32).view(spec["shape"])
with torch.no_grad():
    p = detector.p_fake(x)
    softmax = torch.softmax(detector(x), 1)[:, 1]
print(json.dumps({"metadata": json.loads(extra["mirage.json"]), "p_fake": p.tolist(), "softmax_fake": softmax.tolist()}))
