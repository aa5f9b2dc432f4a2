"""Attribution of converted-graph and runtime names to source nodes."""

from __future__ import annotations

import pytest

from deploykit.errors import InputError
from deploykit.layers.graph import Attribution, Graph, check_shared_names, members_between


@pytest.fixture(scope="module")
def graphs(culprit):
    return Graph.load(culprit["fp32"]), Graph.load(culprit["int8"])


def test_every_qdq_node_belongs_to_a_source_node(graphs):
    source, artifact = graphs
    attribution = Attribution(source, artifact)
    owners = {name: attribution.node(name) for name in artifact.nodes}
    assert None not in owners.values(), [n for n, o in owners.items() if o is None]
    # Activation Q/DQ belong to the producer; a weight's DequantizeLinear to its consumer;
    # the graph input's QuantizeLinear to the first layer.
    assert owners["getitem_QuantizeLinear"] == "node_Conv_138"
    assert owners["stages.0.conv1.weight_DequantizeLinear"] == "node_Conv_140"
    assert owners["input_QuantizeLinear"] == "node_Conv_138"


@pytest.mark.parametrize(
    ("runtime_name", "source_node"),
    [
        ("node_Conv_138_token_39", "node_Conv_138"),  # ORT's renamed QLinearConv
        ("relu_DequantizeLinear/duplicated", "node_relu"),  # ORT's duplicated DQ
        ("node_Conv_140/WithoutBiases", "node_Conv_140"),  # OpenVINO
        ("getitem_3_QuantizeLinear", "node_Conv_140"),  # OpenVINO originalLayersNames
        ("relu_1", "node_relu_1"),  # a tensor name
        ("Multiply_6913", None),  # made by the runtime: no source node
    ],
)
def test_runtime_names_resolve(graphs, runtime_name, source_node):
    assert Attribution(*graphs).resolve(runtime_name) == source_node


def test_fused_group_members(graphs):
    source, _ = graphs
    relu = source.nodes["node_Conv_140"][1][0]
    assert members_between(source, [relu], "node_relu_1") == ["node_Conv_140", "node_relu_1"]


def test_graphs_sharing_no_names_are_refused(graphs, slow):
    with pytest.raises(InputError, match="share only 1 of 10 weighted layers"):
        check_shared_names(graphs[0], Graph.load(slow), "slow.onnx")
