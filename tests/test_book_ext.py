"""book/_ext/rvqbook_html.py: the API page's codec table, written at build time."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "book" / "_ext"))

import rvqbook_html  # noqa: E402

from rvqlib.bitrate import CODECS  # noqa: E402


def test_codec_table_has_a_row_per_codec_with_its_numbers():
    rows = rvqbook_html.codec_table_rows()
    assert rows[0].startswith("| key | sample rate (Hz) | hop | K | n_q |")
    assert len(rows) == 2 + len(CODECS)
    for row, (key, c) in zip(rows[2:], CODECS.items(), strict=True):
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        assert cells[0] == f"`{key}`"
        assert cells[1:4] == [str(c.sample_rate), str(c.hop), str(c.codebook_size)]
        assert cells[4] == "/".join(str(n) for n in c.n_q_options)
        assert cells[6] == f"{{cite:t}}`{c.citation}`"


def test_api_page_needs_no_kernel():
    # the page has no code cells, so the book build starts no kernel for it
    page = (Path(__file__).resolve().parents[1] / "book" / "api.md").read_text()
    assert "{code-cell}" not in page and "```{codec-table}" in page
