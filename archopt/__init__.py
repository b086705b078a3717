"""archopt: a rerunnable study of CNN architecture-optimization techniques."""

__version__ = "0.1.0"
