"""Loads a generator mirage exported as TorchScript, in PyTorch, and prints its metadata and images.

usage: check_generator.py MODEL.pt INPUT.json [--latent-seeds S1,S2,...]
INPUT.json: {"z": {"shape": [N, Z], "data": [flat floats]}, "y": [N ints] (conditional only)}
--latent-seeds: z is drawn here, in PyTorch, from each seed alone as mirage's latent_for_seed does
(a CPU generator seeded S, then randn(z_dim); no truncation): proves a fake of a manifest can be
regenerated outside mirage. INPUT.json's "z" is then not needed.
prints JSON: {"metadata": <mirage.json>, "images": {"shape": [N, C, H, W], "data": [flat floats]}}
"""
import json
import sys

import torch

model_path, input_path = sys.argv[1], sys.argv[2]
latent_seeds = None
if len(sys.argv) > 3:
    if len(sys.argv) != 5 or sys.argv[3] != "--latent-seeds":
        sys.exit("usage: check_generator.py MODEL.pt INPUT.json [--latent-seeds S1,S2,...]")
    latent_seeds = [int(s) for s in sys.argv[4].split(",")]
extra = {"mirage.json": ""}
model = torch.jit.load(model_path, map_location="cpu", _extra_files=extra)
model.eval()
metadata = json.loads(extra["mirage.json"])
with open(input_path) as f:
    spec = json.load(f)
if latent_seeds is not None:
    z_dim = metadata["extra"]["z_dim"]
    z = torch.stack([torch.randn(z_dim, generator=torch.Generator().manual_seed(s)) for s in latent_seeds])
else:
    z = torch.tensor(spec["z"]["data"], dtype=torch.float32).view(spec["z"]["shape"])
with torch.no_grad():
    if "y" in spec:
        images = model(z, torch.tensor(spec["y"], dtype=torch.int64))
    else:
        images = model(z)
print(json.dumps({"metadata": metadata,
                  "images": {"shape": list(images.shape), "data": images.flatten().tolist()}}))
