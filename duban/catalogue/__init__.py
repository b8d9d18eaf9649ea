"""The plan document as a task catalogue: read it, parse it, compare versions of it."""

from duban.catalogue.diff import CatalogueDiff, diff_catalogues
from duban.catalogue.parse import parse_blocks, parse_document, parse_text
from duban.catalogue.readers import read_lines

__all__ = ["CatalogueDiff", "diff_catalogues", "parse_blocks", "parse_document", "parse_text", "read_lines"]
