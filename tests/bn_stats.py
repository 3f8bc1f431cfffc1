"""Shared by the parity tests: give BatchNorm layers non-trivial statistics so that comparing a
model with its reference in eval mode is a real check (fresh BN layers are the identity)."""

import torch


def randomise_batchnorm(model, bn_type, generator, weight_low=0.6, weight_span=0.4):
    """Fill every ``bn_type`` layer's running stats and affine parameters from ``generator``:
    mean and bias in [-0.2, 0.2), var in [0.5, 1.5), weight in [weight_low, weight_low + span)."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, bn_type):
                n = m.num_features
                m.running_mean.copy_(torch.rand(n, generator=generator) * 0.4 - 0.2)
                m.running_var.copy_(torch.rand(n, generator=generator) + 0.5)
                m.weight.copy_(torch.rand(n, generator=generator) * weight_span + weight_low)
                m.bias.copy_(torch.rand(n, generator=generator) * 0.4 - 0.2)
    return model
