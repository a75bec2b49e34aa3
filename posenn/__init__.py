"""posenn: neural networks for animal pose estimation and multi-animal tracking."""

__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    """`posenn.Predictor` and `posenn.PoseResult`, imported when first used (so `import posenn`
    stays light)."""
    if name in ("Predictor", "PoseResult"):
        from posenn.inference import realtime

        return getattr(realtime, name)
    raise AttributeError(f"module 'posenn' has no attribute '{name}'")
