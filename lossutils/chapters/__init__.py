"""What the book's chapters import: :mod:`lossutils.chapters.data` (seeded toy data),
:mod:`lossutils.chapters.losses` (reference losses that torch does not ship, written from their papers) and
:mod:`lossutils.chapters.plotting` (figures; the only module of :mod:`lossutils` that imports matplotlib).

Nothing here is imported by :mod:`lossutils` itself or by the hidden tests; import each module explicitly.
"""
