"""Draws the lazy graph of LayerNorm + GELU written with primitives: one box per node with the line that
recorded it, the fused region as a cluster. Writes examples/layer_norm_gelu.svg (needs graphviz's `dot`)."""
import os

import torch

import torch_lazyplus


def layer_norm_gelu(x, w, b):
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean) ** 2).mean(-1, keepdim=True)
    y = (x - mean) / torch.sqrt(var + 1e-5) * w + b
    return 0.5 * y * (1 + torch.erf(y / 2 ** 0.5))


if __name__ == "__main__":
    x, w, b = (t.to("lazyplus") for t in (torch.randn(64, 256), torch.randn(256), torch.randn(256)))
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "layer_norm_gelu.svg")
    print(torch_lazyplus.debug.render(layer_norm_gelu(x, w, b), out))
