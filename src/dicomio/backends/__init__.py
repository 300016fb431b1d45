"""Decoding backends: one small module per library, imported only when needed.

See :mod:`dicomio.backends._base` for the contract and :mod:`dicomio.backends.registry`
for the order in which they are tried.
"""
