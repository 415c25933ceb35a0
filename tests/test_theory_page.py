"""The Theory page: it loads, shows its sections and equations, and every link it draws
opens valid settings on a page that exists."""
from urllib.parse import parse_qs

import pytest
from streamlit.testing.v1 import AppTest

from rnnviz.gradflow import FIELDS, FlowConfig

PAGE = "pages/7_Theory.py"
# page_link stores a page's URL path; the scripts the Theory page may link to.
SCRIPTS = {"": "app.py", "Gradient_flow": "pages/1_Gradient_flow.py",
           "Compare_cells": "pages/2_Compare_cells.py"}


@pytest.fixture(scope="module")
def theory() -> AppTest:
    at = AppTest.from_file("../app.py", default_timeout=300)
    at.switch_page(PAGE)
    at.run()
    return at


def links(at: AppTest) -> list[tuple[str, str, dict]]:
    """(script, label, query) of every page link in the page body (not the sidebar menu)."""
    out = []
    for link in at.main.get("page_link"):
        query = {k: v[-1] for k, v in
                 parse_qs(link.proto.query_string, keep_blank_values=True).items()}
        out.append((SCRIPTS[link.proto.page.strip("/")], link.proto.label, query))
    return out


def test_page_loads_with_sections_and_equations(theory):
    assert not theory.exception, theory.exception
    assert len(theory.header) >= 6
    assert len(theory.latex) >= 6
    assert not theory.warning and not theory.error


def test_every_section_ends_in_links(theory):
    # Each section's links come right after its content, so between two headers there is
    # at least one page link.
    kinds = [node.type for node in theory.main if node.type in ("header", "page_link")]
    sections = " ".join(kinds).split("header")[1:]
    assert len(sections) == len(theory.header)
    assert all("page_link" in s for s in sections)


def test_links_parse_without_notices(theory):
    found = links(theory)
    assert len(found) >= 15
    for script, label, query in found:
        assert script in SCRIPTS.values(), label
        config, notices = FlowConfig.from_query(query)
        assert not notices, (label, notices)
        # parse ignores unknown keys, so a misspelt parameter would pass unnoticed
        unknown = set(query) - {f.key for f in FIELDS}
        assert not unknown, (label, unknown)


def test_link_targets_render_their_settings(theory):
    """Open each linked view: no exception, no warning, and the URL keeps the settings."""
    seen = set()
    for script, label, query in links(theory):
        if script == "app.py" or (script, tuple(sorted(query.items()))) in seen:
            continue
        seen.add((script, tuple(sorted(query.items()))))
        at = AppTest.from_file("../app.py", default_timeout=300)
        at.query_params.update(query)
        at.switch_page(script)
        at.run()
        assert not at.exception, (label, at.exception)
        assert not at.warning, (label, [w.value for w in at.warning])
        got = {k: (v[0] if isinstance(v, list) else v) for k, v in at.query_params.items()}
        expected = FlowConfig.from_query(query)[0].to_query()
        assert {k: got[k] for k in query} == {k: expected[k] for k in query}, label
