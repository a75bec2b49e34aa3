"""posenn: neural networks for animal pose estimation and multi-animal tracking."""

__version__ = "0.1.0"
