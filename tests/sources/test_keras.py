"""Keras sources: .keras files in safe mode, keras:<Application> names, factories."""

import pytest

from deploykit.errors import ModelLoadError
from deploykit.optional import available
from deploykit.sources import SourceOptions, load_model
from deploykit.tensorflow_compat import import_keras

# Not importorskip: importing TensorFlow directly, before triton, is the crash this package avoids.
pytestmark = pytest.mark.skipif(
    not available("tensorflow"), reason="needs the tflite extra (TensorFlow)"
)


def lambda_model(path):
    """A .keras file whose Lambda layer carries Python code."""
    keras = import_keras()
    inputs = keras.Input((8, 8, 3), name="input")
    x = keras.layers.Lambda(lambda t: t * 2.0)(inputs)
    outputs = keras.layers.Dense(4)(keras.layers.Flatten()(x))
    keras.Model(inputs, outputs).save(path)
    return path


def test_keras_file_loads_with_an_nhwc_spec(keras_digits):
    loaded = load_model(str(keras_digits))
    assert loaded.kind == "keras" and loaded.num_classes == 10
    assert loaded.spec.layout == "NHWC" and loaded.spec.shape == (1, 32, 32, 3)
    assert loaded.spec.nchw == (1, 3, 32, 32)
    assert loaded.source["kind"] == "keras" and len(loaded.source["sha256"]) == 64


def test_lambda_layer_needs_trust_code(tmp_path):
    path = lambda_model(tmp_path / "lam.keras")
    with pytest.raises(ModelLoadError, match="Lambda layer"):
        load_model(str(path))
    loaded = load_model(str(path), SourceOptions(trust_code=True))
    assert loaded.num_classes == 4 and loaded.spec.shape == (1, 8, 8, 3)


def test_lambda_export_without_trust_is_one_line_and_leaves_nothing(tmp_path, cli, user_error):
    path = lambda_model(tmp_path / "lam.keras")
    out = tmp_path / "out"
    result = cli("export", path, "--to", "tflite", "-o", out)
    user_error(result, "Lambda layer", "--trust-code")
    assert not out.exists() or not any(out.iterdir())


def test_keras_application_is_built_untrained_with_logits(tmp_path):
    options = SourceOptions(num_classes=10, input_shape=(1, 96, 96, 3))
    loaded = load_model("keras:MobileNetV2", options)
    assert loaded.kind == "keras" and loaded.name == "mobilenetv2" and loaded.num_classes == 10
    assert loaded.spec.layout == "NHWC" and loaded.spec.shape == (1, 96, 96, 3)
    assert loaded.spec.preprocess.mean == (0.5, 0.5, 0.5)  # MobileNetV2 wants [-1, 1]
    assert loaded.source["weights"] is None
    last = loaded.model.layers[-1]
    assert last.get_config()["activation"] == "linear"  # logits, not softmax


def test_nchw_input_shape_is_read_as_nhwc_for_keras():
    loaded = load_model(
        "keras:MobileNetV2", SourceOptions(num_classes=3, input_shape=(1, 3, 96, 96))
    )
    assert loaded.spec.shape == (1, 96, 96, 3)


def test_unknown_application_is_one_line(cli, user_error):
    user_error(cli("export", "keras:MobileNetV9", "-o", "unused"), "no model 'MobileNetV9'")


def test_factory_returning_a_keras_model(tmp_path, monkeypatch):
    (tmp_path / "my_keras_models.py").write_text(
        "from deploykit.tensorflow_compat import import_keras\n"
        "def tiny(num_classes=5):\n"
        "    keras = import_keras()\n"
        "    inputs = keras.Input((16, 16, 3))\n"
        "    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3)(inputs))\n"
        "    return keras.Model(inputs, keras.layers.Dense(num_classes)(x))\n"
    )
    monkeypatch.chdir(tmp_path)
    loaded = load_model("my_keras_models:tiny", SourceOptions(num_classes=7))
    assert loaded.kind == "keras" and loaded.num_classes == 7 and loaded.name == "tiny"
    assert loaded.spec.shape == (1, 16, 16, 3) and loaded.spec.layout == "NHWC"


@pytest.mark.parametrize(
    ("name", "mean", "std", "order"),
    [
        ("ResNet50", (0.4076, 0.458, 0.485), (1 / 255,) * 3, "BGR"),  # caffe mode
        ("ResNet50V2", (0.5,) * 3, (0.5,) * 3, "RGB"),  # tf mode
        ("DenseNet121", (0.485, 0.456, 0.406), (0.229, 0.224, 0.225), "RGB"),  # torch mode
        ("EfficientNetB0", (0.0,) * 3, (1 / 255,) * 3, "RGB"),  # 0..255 in, rescaled inside
    ],
)
def test_keras_applications_use_their_own_preprocess_input(name, mean, std, order):
    """The recipe is read from each application's preprocess_input, not from a name table."""
    from deploykit.sources.keras import _preprocess_for

    pre = _preprocess_for(getattr(import_keras().applications, name))
    assert pre.mean == pytest.approx(mean, abs=1e-3) and pre.std == pytest.approx(std, rel=1e-4)
    assert pre.channel_order == order
