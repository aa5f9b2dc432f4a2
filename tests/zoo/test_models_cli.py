"""``deploykit models``: zoo and torchvision names, with params and MACs when a pattern narrows."""

from __future__ import annotations

import json


def test_pattern_lists_zoo_and_torchvision_with_counts(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("DEPLOYKIT_CACHE", str(tmp_path))
    result = cli("models", "mobilenet*", "--json")
    assert result.code == 0, result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert {"mobilenet_v1", "mobilenet_v1_small", "mobilenet_v2"} <= set(rows)
    assert rows["mobilenet_v1"]["origin"] == "deploykit"
    assert rows["mobilenet_v2"]["origin"] == "torchvision"
    assert rows["mobilenet_v1"]["params"] == 4_231_976
    assert rows["mobilenet_v1"]["macs"] == 568_740_352  # the paper's 569 M mult-adds
    assert rows["mobilenet_v2"]["params"] == 3_504_872
    assert (tmp_path / "model-stats.json").is_file()


def test_counts_are_cached(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("DEPLOYKIT_CACHE", str(tmp_path))
    assert cli("models", "mobilenet_v1_025", "--json").code == 0
    cache_file = tmp_path / "model-stats.json"
    cache = json.loads(cache_file.read_text())
    cache["mobilenet_v1_025"]["params"] = 12345  # a second listing must read this back
    cache_file.write_text(json.dumps(cache))
    rows = json.loads(cli("models", "mobilenet_v1_025", "--json").stdout)
    assert rows[0]["params"] == 12345


def test_table_and_no_stats(cli):
    table = cli("models", "shufflenet_v1_g*")
    assert table.code == 0 and "params (M)" in table.stdout and "1.87" in table.stdout
    bare = json.loads(cli("models", "xception*", "--no-stats", "--json").stdout)
    assert [row["name"] for row in bare] == ["xception", "xception_small"]
    assert "params" not in bare[0]
