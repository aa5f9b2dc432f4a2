"""One-line error messages."""

from deploykit.errors import first_line


def test_first_line_skips_cpp_source_locations():
    openvino = RuntimeError(
        "Exception from src/inference/src/cpp/core.cpp:117:\n"
        "Check 'false' failed at src/plugins/intel_cpu/src/config.cpp:42:\n"
        "Wrong value bf16 for property INFERENCE_PRECISION_HINT\n"
    )
    assert first_line(openvino) == "Wrong value bf16 for property INFERENCE_PRECISION_HINT"
    assert first_line(ValueError("")) == "ValueError"
    assert first_line(ValueError("one\ntwo")) == "one"
    assert first_line(RuntimeError("Exception from src/a.cpp:1:")) == "Exception from src/a.cpp:1:"
