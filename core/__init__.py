"""Inference and explanation math for the dashboard; never imports streamlit. Importing it changes nothing."""

import os


def quiet_tensorflow() -> None:
    """Hides TensorFlow's C++ start-up chatter, which buries the one line a command-line user needs, unless
    TF_CPP_MIN_LOG_LEVEL is already set. Takes effect only before TensorFlow is first imported."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
