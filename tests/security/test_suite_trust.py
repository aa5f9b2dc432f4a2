"""A suite cannot grant itself trust: its trust flags count only when the command line agrees."""

from __future__ import annotations

import pytest

from deploykit.bench import BenchConfig
from deploykit.bench.suite import load_suite
from deploykit.errors import InputError
from deploykit.sources import SourceOptions


@pytest.mark.parametrize("flag", ["trust_pickle", "trust_code"])
def test_suite_trust_needs_the_command_line(flag, tmp_path, cli, refused):
    suite = tmp_path / "suite.yaml"
    suite.write_text(f"models:\n  - ref: model.pt\n    {flag}: true\n")
    option = "--" + flag.replace("_", "-")
    with pytest.raises(InputError, match=f"{flag} is set, but a file cannot grant trust"):
        load_suite(suite)
    out = tmp_path / "out"
    refused(cli("bench", "--suite", suite, "-o", out), out, "cannot grant trust", option)
    granted = BenchConfig(source=SourceOptions(**{flag: True}))
    assert getattr(load_suite(suite, overrides=granted).models[0].options, flag) is True
