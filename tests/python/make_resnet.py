"""Saves TorchScript torchvision ResNets (seeded weights, calibrated BatchNorm) and small data files.

usage: make_resnet.py OUT_DIR [--only resnet18|resnet50] [--n N]
Writes into OUT_DIR (N defaults to 32; --only resnet18 skips 3, 5 and the resnet50 expected
values, --only resnet50 skips 1, 2 and 4):
1. resnet18_cifar.pt: [N,3,32,32] RGB in [0,1], CIFAR-10 normalisation inside, 10 logits.
2. resnet18_bgr.pt: the same weights taking BGR images (forward is rgb_net(x.flip(1))).
3. resnet50_imagenet.pt: [N,3,224,224] already ImageNet-normalised, 10 logits.
4. cifar/test_batch.bin (N records in the CIFAR-10 binary format, labels = resnet18_cifar's
   argmax) and cifar/batches.meta.txt (class names).
5. jpeg/img0.jpg ... img3.jpg: RGB JPEGs of different sizes.
6. expected.json: {"resnet18_cifar": {"logits": first 4 images}, "labels": first 8 labels,
   "resnet50_imagenet": {"logits": on (x - mean) / std, x = rand(2,3,224,224) after seed 2},
   "input_seed": 2}.
"""
import argparse
import json
import os

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from PIL import Image

CLASSES = "airplane automobile bird cat deer dog frog horse ship truck".split()
CIFAR_MEAN, CIFAR_STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


class Normalised(nn.Module):
    def __init__(self, net, mean, std):
        super().__init__()
        self.net = net
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1))

    def forward(self, x):
        return self.net((x - self.mean) / self.std)


class Bgr(nn.Module):
    def __init__(self, rgb_net):
        super().__init__()
        self.rgb_net = rgb_net

    def forward(self, x):
        return self.rgb_net(x.flip(1))


def images(n, h, w, gen):
    """Image-like [n,3,h,w] in [0,1]: smooth 8x8 noise upsampled, a colour offset, finer noise."""
    low = F.interpolate(torch.rand(n, 3, 8, 8, generator=gen), size=(h, w), mode="bilinear",
                        align_corners=False)
    offset = torch.rand(n, 3, 1, 1, generator=gen) - 0.5
    fine = 0.1 * (torch.rand(n, 3, h, w, generator=gen) - 0.5)
    return (0.2 + 0.6 * low + 0.6 * offset + fine).clamp(0, 1)


def quantise(x):
    return (x * 255).round().to(torch.uint8)


def calibrate(net, batches):
    bns = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None
    net.train()
    with torch.no_grad():
        for x in batches:
            net(x)
    for bn in bns:
        bn.momentum = 0.1
    return net.eval()


def save(net, path):
    torch.jit.script(net).save(path)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("out_dir")
    p.add_argument("--only", choices=["resnet18", "resnet50"])
    p.add_argument("--n", type=int, default=32)
    a = p.parse_args()
    os.makedirs(a.out_dir, exist_ok=True)
    out = lambda *parts: os.path.join(a.out_dir, *parts)
    expected = {}

    if a.only != "resnet50":
        torch.manual_seed(0)
        net = torchvision.models.resnet18(num_classes=10)
        net.conv1 = nn.Conv2d(3, 64, 3, stride=1, padding=1, bias=False)
        net.maxpool = nn.Identity()
        rgb = Normalised(net, CIFAR_MEAN, CIFAR_STD)
        gen = torch.Generator().manual_seed(100)
        calibrate(rgb, [quantise(images(32, 32, 32, gen)).float() / 255.0 for _ in range(8)])
        u8 = quantise(torch.cat([images(1, 32, 32, gen) for _ in range(a.n)]))  # --n 8 is a prefix
        x = u8.float() / 255.0
        save(rgb, out("resnet18_cifar.pt"))
        save(Bgr(rgb).eval(), out("resnet18_bgr.pt"))
        with torch.no_grad():
            logits = rgb(x)
        labels = logits.argmax(1).to(torch.uint8)
        os.makedirs(out("cifar"), exist_ok=True)
        records = torch.cat([labels[:, None], u8.reshape(a.n, 3 * 32 * 32)], 1)
        with open(out("cifar", "test_batch.bin"), "wb") as f:
            f.write(records.numpy().tobytes())
        with open(out("cifar", "batches.meta.txt"), "w") as f:
            f.write("\n".join(CLASSES) + "\n")
        with torch.no_grad():
            first4 = rgb(x[:4])  # a batch of its own, so the values don't depend on N
        expected["resnet18_cifar"] = {"logits": first4.tolist()}
        expected["labels"] = labels[:8].tolist()

    if a.only != "resnet18":
        torch.manual_seed(1)
        net = torchvision.models.resnet50(num_classes=10)
        mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
        std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
        gen = torch.Generator().manual_seed(200)
        calibrate(net, [(images(8, 224, 224, gen) - mean) / std for _ in range(2)])
        save(net, out("resnet50_imagenet.pt"))
        os.makedirs(out("jpeg"), exist_ok=True)
        for i, (w, h) in enumerate([(300, 260), (256, 256), (320, 240), (260, 400)]):
            img = quantise(images(1, h, w, gen))[0].permute(1, 2, 0).contiguous().numpy()
            Image.fromarray(img, "RGB").save(out("jpeg", f"img{i}.jpg"), quality=95)
        torch.manual_seed(2)
        x = torch.rand(2, 3, 224, 224)
        with torch.no_grad():
            logits = net((x - mean) / std)
        expected["resnet50_imagenet"] = {"logits": logits.tolist()}
        expected["input_seed"] = 2

    with open(out("expected.json"), "w") as f:
        json.dump(expected, f)


if __name__ == "__main__":
    main()
