"""Conditional VAE baseline (registered as ``"vae"``): MLP encoder/decoder with label conditioning."""
from .model import VAEConfig, VAEModel, VAENetworkConfig, VAEObjectiveConfig, VAESampleConfig
from .network import ConditionalVAE, LabelInput, mlp

__all__ = ["VAEModel", "VAEConfig", "VAENetworkConfig", "VAEObjectiveConfig", "VAESampleConfig",
           "ConditionalVAE", "LabelInput", "mlp"]
