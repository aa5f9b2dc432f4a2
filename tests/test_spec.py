import pytest

from deploykit.errors import InputError
from deploykit.spec import InputSpec, Preprocess, parse_shape, spec_for_shape


@pytest.mark.parametrize(
    "text, shape",
    [
        ("1x3x224x224", (1, 3, 224, 224)),
        ("8,3,32,32", (8, 3, 32, 32)),
        (" 1 x 96x96x3", (1, 96, 96, 3)),
    ],
)
def test_parse_shape_reads_x_and_commas(text, shape):
    assert parse_shape(text) == shape


@pytest.mark.parametrize("text", ["1x3x224", "1x3x0x4", "abc", "", "1x3x224x224x2", "-1x3x4x4"])
def test_parse_shape_refuses_anything_else(text):
    with pytest.raises(InputError, match="input shape"):
        parse_shape(text)


def test_layout_conversions_keep_the_image_size():
    spec = InputSpec(shape=(2, 3, 32, 48))
    nhwc = spec.with_layout("NHWC")
    assert nhwc.shape == (2, 32, 48, 3)
    assert nhwc.nchw == spec.nchw
    assert nhwc.hw == (32, 48) and nhwc.channels == 3
    assert spec.with_batch(7).shape == (7, 3, 32, 48)


def test_spec_round_trips_through_a_dict():
    spec = InputSpec(
        shape=(1, 96, 96, 3), layout="NHWC", preprocess=Preprocess(resize=110, crop=96)
    )
    assert InputSpec.from_dict(spec.to_dict()) == spec


def test_spec_for_shape_guesses_layout_from_channels():
    assert spec_for_shape((1, 3, 64, 64)).layout == "NCHW"
    assert spec_for_shape((1, 64, 64, 3)).layout == "NHWC"


def test_bad_layout_and_non_image_shapes_are_refused():
    with pytest.raises(InputError, match="layout"):
        InputSpec(shape=(1, 3, 8, 8), layout="CHWN")
    with pytest.raises(InputError, match="not an image batch"):
        InputSpec(shape=(1, 10))
