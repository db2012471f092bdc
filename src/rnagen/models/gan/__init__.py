"""Conditional WGAN-GP baseline (registered as ``"wgan-gp"``): MLP generator and critic with label
conditioning, gradient penalty, n_critic critic steps per generator step, two optimisers."""
from .model import GANConfig, GANNetworkConfig, WGANGPConfig, WGANGPModel, nearest_other_distance
from .network import WGANGP, CondCritic, CondGenerator, copy_repulsion, gradient_penalty, wgan_gp_step

__all__ = ["WGANGPModel", "WGANGPConfig", "GANNetworkConfig", "GANConfig", "WGANGP", "CondGenerator",
           "CondCritic", "gradient_penalty", "copy_repulsion", "nearest_other_distance", "wgan_gp_step"]
