"""Model variants as data: a base architecture, the techniques it uses and its widths, read from YAML or JSON
files under `models/` (see models/README.md for the format)."""

from edgebench.models.variants.loader import load_variants, variant_dirs
from edgebench.models.variants.spec import VariantSpec, parse_variant
from edgebench.models.variants.techniques import TECHNIQUES, Technique

__all__ = ["TECHNIQUES", "Technique", "VariantSpec", "load_variants", "parse_variant", "variant_dirs"]
