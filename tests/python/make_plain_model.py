"""Saves a classifier the way a PyTorch user would: torch.jit.script, no mirage metadata.

usage: make_plain_model.py OUT.pt OUT_EXPECTED.json
The model takes [N, 1, 28, 28] images in [0,1], normalises inside, returns 10 logits.
EXPECTED.json: {"shape": [...], "data": [...], "logits": [[...]]} for a fixed input.
"""
import json
import sys

import torch
import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.fc = nn.Linear(4 * 14 * 14, 10)

    def forward(self, x):
        x = (x - 0.5) / 0.25
        x = torch.max_pool2d(torch.relu(self.conv(x)), 2)
        return self.fc(torch.flatten(x, 1))


torch.manual_seed(0)
net = Net().eval()
torch.jit.script(net).save(sys.argv[1])
x = torch.rand(3, 1, 28, 28)
with torch.no_grad():
    logits = net(x)
with open(sys.argv[2], "w") as f:
    json.dump({"shape": list(x.shape), "data": x.flatten().tolist(), "logits": logits.tolist()}, f)
