"""How high the seed preset's objective can go: the class score of a bundled model when BatchNorm normalises one
image by its own statistics.

    .venv/bin/python -m benchmarks.inside_ceiling

Both bundled models end in BatchNorm, an activation, global average pooling and one dense unit. With one image in
the batch, the last BatchNorm sets every channel's values over the image's positions to mean 0 and variance 1
before its scale γ and offset β, whatever the image; the score is then b + Σ_c w_c · mean(act(γ_c z_c + β_c)) over
those standardised values z_c. Choosing each channel's z_c freely (an ascent on them, 1500 Adam steps) bounds
what any image can reach: the real network cannot set its channels apart from one another. Prints the bounds of
the dachshund score S and of the other-dog score −S, and the training-mode probability at each bound.
"""

from __future__ import annotations

import math

import core

LAST = {"demo-resnet": ("post_bn", "relu"), "demo-efficientnet": ("top_bn", "swish")}


def bounds(keras_model, batch_norm_name: str, activation_name: str, steps: int = 1500) -> tuple[float, float]:
    """(lowest, highest) score over standardised values of the last BatchNorm's channels."""
    import keras
    import tensorflow as tf

    def find(model, name):
        for layer in model.layers:
            if layer.name == name:
                return layer
            if isinstance(layer, keras.Model) and (found := find(layer, name)) is not None:
                return found
        return None

    batch_norm, dense = find(keras_model, batch_norm_name), find(keras_model, "logits")
    activation = {"relu": tf.nn.relu, "swish": tf.nn.swish}[activation_name]
    height, width, channels = batch_norm.output.shape[1:]
    gamma, beta = batch_norm.gamma.numpy()[:, None], batch_norm.beta.numpy()[:, None]
    weights, bias = dense.kernel.numpy()[:, 0], float(dense.bias.numpy()[0])
    found = []
    for sign in (-1.0, 1.0):
        values = tf.Variable(tf.random.stateless_normal((channels, height * width), (1, 2)))
        optimiser = keras.optimizers.Adam(0.05)
        for _ in range(steps):
            with tf.GradientTape() as tape:
                z = values - tf.reduce_mean(values, 1, keepdims=True)
                z = z / tf.sqrt(tf.reduce_mean(z * z, 1, keepdims=True) + batch_norm.epsilon)
                score = tf.reduce_sum(weights * tf.reduce_mean(activation(gamma * z + beta), 1)) + bias
                loss = -sign * score
            optimiser.apply_gradients([(tape.gradient(loss, values), values)])
        found.append(float(score))
    return found[0], found[1]


def main() -> None:
    core.quiet_tensorflow()
    from core.scoring import load_model

    print(
        "| model | dachshund score S at most | P(dachshund) at most "
        "| other-dog score −S at most | P(other dog) at most |"
    )
    print("|---|---|---|---|---|")
    for name, (batch_norm, activation) in LAST.items():
        low, high = bounds(load_model(name).model, batch_norm, activation)
        p_high, p_low = 1 / (1 + math.exp(-high)), 1 / (1 + math.exp(low))
        print(f"| {name} | {high:.2f} | {p_high:.3f} | {-low:.2f} | {p_low:.3f} |", flush=True)


if __name__ == "__main__":
    main()
