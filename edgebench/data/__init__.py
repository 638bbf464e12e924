"""The data layer: readers for each format, one ImageSet type, recorded preprocessing."""

from edgebench.data.imageset import ImageSet
from edgebench.data.preprocess import Preprocess, fit_normalisation, normalise, resize_images
from edgebench.data.source import EMBEDDED, class_count, limit, load_split

__all__ = ["EMBEDDED", "ImageSet", "Preprocess", "class_count", "fit_normalisation", "limit", "load_split",
           "normalise", "resize_images"]
