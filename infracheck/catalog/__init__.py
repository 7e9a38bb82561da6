"""The catalog stage: `commands/*.toml` and the profile in, a validated catalog out (loader),
kept between runs (cache), and what `list` and `explain` print of it (listing).

Empty on purpose: `list` and `explain` from the cache load neither the loader nor the model."""
