"""Conditional WGAN-GP baseline (registered as ``"wgan-gp"``): MLP generator and critic with label
conditioning, gradient penalty, n_critic critic steps per generator step, two optimisers."""
from .model import GANConfig, GANNetworkConfig, WGANGPConfig, WGANGPModel
from .network import WGANGP, CondCritic, CondGenerator, gradient_penalty, wgan_gp_step

__all__ = ["WGANGPModel", "WGANGPConfig", "GANNetworkConfig", "GANConfig", "WGANGP", "CondGenerator",
           "CondCritic", "gradient_penalty", "wgan_gp_step"]
