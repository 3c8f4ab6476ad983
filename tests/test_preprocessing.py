import numpy as np
import pytest

from core.errors import ModelError
from core.preprocessing import APPLICATIONS, canonical, preprocess


@pytest.mark.parametrize("module", sorted(APPLICATIONS))
def test_each_applications_name_computes_what_its_preprocess_input_does(module):
    import keras

    pixels = np.random.default_rng(0).uniform(0, 255, (2, 4, 5, 3)).astype(np.float32)
    expected = getattr(keras.applications, module).preprocess_input(pixels.copy())
    np.testing.assert_allclose(preprocess(pixels, module), np.asarray(expected), rtol=1e-5, atol=1e-4)


def test_custom_scale_and_offset():
    assert canonical(" scale=0.00392, offset=0 ") == "scale=0.00392,offset=0.0"
    np.testing.assert_allclose(preprocess(np.array([0.0, 255.0]), "scale=2,offset=-1"), [-1.0, 509.0])
    np.testing.assert_allclose(preprocess(np.array([10.0]), "scale=1e-1"), [1.0])
    with pytest.raises(ModelError, match="Unknown preprocessing 'scale=two'.*resnet_v2.*scale=S,offset=O"):
        canonical("scale=two")
