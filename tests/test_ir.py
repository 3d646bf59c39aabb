"""The IR text of pending graphs: what gets recorded for common code."""
import torch
from expecttest import TestCase

import torch_lazyplus

DEV = "lazyplus"


class TestIrText(TestCase):
    def test_pointwise_chain(self):
        x = torch.randn(4, 8).to(DEV)
        y = ((x * 2 + 1).relu() * x).sigmoid()
        self.assertExpectedInline(torch_lazyplus.debug.ir_text(y), """\
%0 = device_data() : Float[32]  # test_ir.py:13
%1 = reshape(%0, size=[4, 8]) : Float[4,8]  # test_ir.py:13
%2 = scalar(wrapped=True) : Long[]  # test_ir.py:13
%3 = aten::mul.Tensor(%1, %2) : Float[4,8]  # test_ir.py:13
%4 = scalar(wrapped=True) : Long[]  # test_ir.py:13
%5 = scalar() : Long[]  # test_ir.py:13
%6 = aten::add.Tensor(%3, %4, %5) : Float[4,8]  # test_ir.py:13
%7 = aten::relu(%6) : Float[4,8]  # test_ir.py:13
%8 = reshape(%0, size=[4, 8]) : Float[4,8]  # test_ir.py:13
%9 = aten::mul.Tensor(%7, %8) : Float[4,8]  # test_ir.py:13
%10 = aten::sigmoid(%9) : Float[4,8]  # test_ir.py:13
return (%10)
""")

    def test_inplace_through_view_writes_the_storage(self):
        x = torch.zeros(2, 3, device=DEV)
        x[:, 1].add_(5)
        self.assertExpectedInline(torch_lazyplus.debug.pending_ir_text(), """\
%0 = device_data() : Float[6]  # test_ir.py:30
%1 = reshape(%0, size=[2, 3]) : Float[2,3]  # test_ir.py:30
%2 = aten::zero(%1) : Float[2,3]  # test_ir.py:30
%3 = as_strided(%2, stride=[3], offset=1) : Float[2]  # test_ir.py:31
%4 = scalar(wrapped=True) : Long[]  # test_ir.py:31
%5 = scalar() : Long[]  # test_ir.py:31
%6 = aten::add.Tensor(%3, %4, %5) : Float[2]  # test_ir.py:31
%7 = as_strided_scatter(%2, %6, stride=[3], offset=1) : Float[6]  # test_ir.py:31
return (%7)
""")

    def test_same_structure_same_hash_for_other_scalars(self):
        x = torch.randn(3).to(DEV)
        h1 = torch_lazyplus.debug.graph_hash(x * 2.0 + 1.0)
        h2 = torch_lazyplus.debug.graph_hash(x * 5.0 + 3.0)
        h3 = torch_lazyplus.debug.graph_hash(x * 2 + 1)  # integer scalars: another graph
        self.assertEqual(h1, h2)
        self.assertNotEqual(h1, h3)

    def test_shared_input_differs_from_two_inputs(self):
        x, y = torch.randn(3).to(DEV), torch.randn(3).to(DEV)
        self.assertNotEqual(torch_lazyplus.debug.graph_hash(x + x), torch_lazyplus.debug.graph_hash(x + y))


def test_every_lowering_rule_names_a_registered_node_kind():
    """Rule tables are keyed by node kind but written with op names (ir/kind_table.h): a name that no
    node class registers (an op renamed or dropped in codegen/ops.yaml) would orphan its rule."""
    import pathlib
    import re

    csrc = pathlib.Path(torch_lazyplus.__file__).parent / "csrc"
    tables = [p.read_text() for p in csrc.rglob("*.cpp") if "KindTable<" in p.read_text()]
    named = {name for text in tables for name in re.findall(r'\{"((?:aten::)?[A-Za-z_0-9.]+)",\s', text)}
    kinds = set(torch_lazyplus._C._node_kinds())
    assert len(named) > 70 and {"aten::add.Tensor", "aten::mm", "convert"} <= named
    assert named <= kinds, sorted(named - kinds)
