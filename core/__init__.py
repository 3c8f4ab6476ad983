"""Inference and explanation math for the dashboard; never imports streamlit."""

import os

# TensorFlow's C++ start-up chatter hides the one line a command-line user needs; keep it unless asked.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
