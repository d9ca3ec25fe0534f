"""What the book's chapters import: :mod:`lossutils.chapters.data` (seeded toy data) and
:mod:`lossutils.chapters.plotting` (figures; the only module of :mod:`lossutils` that imports matplotlib).

Nothing here is imported by :mod:`lossutils` itself or by the hidden tests; import each module explicitly.
"""
