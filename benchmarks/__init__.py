"""Benchmarks of rvqlib against peer libraries (EnCodec, vector-quantize-pytorch, scikit-learn).

Run ``python -m benchmarks.run`` (full sizes, writes ``benchmarks/results/``) or
``python -m benchmarks.run --smoke`` (tiny sizes, a few seconds). rvqlib never
imports this package or its requirements (``benchmarks/requirements.txt``).
"""
