"""The spreadsheet connector: any file a unit returns → ``SheetTable`` rows for the core.

``read_tables`` reads .xlsx/.xlsm/.xlsb/.xls/.et/.ods with python-calamine and .csv/.tsv
(UTF-8, UTF-8 BOM, UTF-16, GBK, GB18030) and HTML-as-.xls itself, finds the report table
below titles and ``填报单位：`` lines, and refuses what it cannot read with
``SubmissionUnreadable``. See README.md in this folder for the accepted layouts.
"""

from __future__ import annotations

from .headers import SYNONYMS, match_header, normalize_header
from .hints import find_period, find_unit, normalize_period, parse_date
from .layout import RawSheet, find_header, table_from_sheet
from .read import MAX_BYTES, MAX_UNCOMPRESSED, read_content, read_many, read_tables
from .sniff import sniff_format

__all__ = [
    "MAX_BYTES",
    "MAX_UNCOMPRESSED",
    "SYNONYMS",
    "RawSheet",
    "find_header",
    "find_period",
    "find_unit",
    "match_header",
    "normalize_header",
    "normalize_period",
    "parse_date",
    "read_content",
    "read_many",
    "read_tables",
    "sniff_format",
    "table_from_sheet",
]
