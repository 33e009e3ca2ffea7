"""distillwatch: detect, prove and deter unauthorized distillation of AI models."""

__version__ = "0.1.0"
