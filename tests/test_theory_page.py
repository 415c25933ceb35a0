"""The Theory page: it loads, shows its sections and equations, and every link it draws
opens valid settings on a page that exists."""
from urllib.parse import parse_qs

import pytest
from streamlit.testing.v1 import AppTest

from rnnviz.experiments import deep, one_layer
from rnnviz.experiments.presets import DEEP, PRESETS

PAGE = "pages/7_Theory.py"
# page_link stores a page's URL path; the scripts the Theory page may link to.
SCRIPTS = {"": "app.py", "Gradient_flow": "pages/1_Gradient_flow.py",
           "Compare_cells": "pages/2_Compare_cells.py",
           "Deep_bidirectional": "pages/8_Deep_bidirectional.py"}
# Each linked page's settings: (fields, config class).
SETTINGS = {DEEP: (deep.FIELDS, deep.DeepConfig)}
FLOW_SETTINGS = (one_layer.FIELDS, one_layer.FlowConfig)


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
        fields, kind = SETTINGS.get(script, FLOW_SETTINGS)
        config, notices = kind.from_query(query)
        assert not notices, (label, notices)
        # parse ignores unknown keys, so a misspelt parameter would pass unnoticed
        unknown = set(query) - {f.key for f in fields}
        assert not unknown, (label, unknown)


def section_links(at: AppTest, title: str) -> list[tuple[str, str, dict]]:
    """The page links drawn between the header that ends with `title` and the next one."""
    out, inside = [], False
    found = iter(links(at))
    for node in at.main:
        if node.type == "header":
            inside = node.value.endswith(title)
        elif node.type == "page_link":
            link = next(found)
            if inside:
                out.append(link)
    return out


def test_deep_and_bidirectional_section(theory):
    """Section 7 says what a stack's and a bidirectional layer's gradients are, with their
    equations, and links to every preset of the deep page as it is (so the page narrates
    it) and to a loss on every step."""
    text = " ".join(m.value for m in theory.markdown)
    for words in ("A stack", "A bidirectional layer", "Where the loss reads",
                  "structural zero", "return_sequences=False", "output[-1]"):
        assert words in text, words
    latex = " ".join(x.value for x in theory.latex)
    assert r"\delta^{(\ell+1)}_t V^{(\ell+1)}_t" in latex  # up a layer
    assert r"\overleftarrow{J}" in latex  # the backward direction's Jacobians
    found = section_links(theory, "Deep and bidirectional networks")
    deep_presets = {(p.name, tuple(sorted(p.query.items()))) for p in PRESETS if p.page == DEEP}
    assert len(deep_presets) >= 2
    assert deep_presets <= {(label, tuple(sorted(q.items()))) for _, label, q in found}
    assert any(q.get("read") == "middle" and q.get("bidirectional") == "true"
               for _, _, q in found)
    assert {q.get("read") for _, _, q in found} >= {"middle", "last", "all"}
    assert all(script == DEEP for script, _, _ in found)


def test_upload_section(theory):
    """Section 8: what a student's file may be, how it is read, and links to both pages
    that show it."""
    from rnnviz.experiments import model_files

    text = " ".join(m.value for m in theory.markdown)
    assert "Bring your own model" in text and model_files.EXPECTED in text
    assert f"at most {model_files.MAX_BYTES // model_files.MB} MB" in text
    assert "no pickle" in text and "Embedding" in text
    found = section_links(theory, "Your own model")
    assert {script for script, _, _ in found} == {"pages/1_Gradient_flow.py", DEEP}


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
        expected = SETTINGS.get(script, FLOW_SETTINGS)[1].from_query(query)[0].to_query()
        assert {k: got[k] for k in query} == {k: expected[k] for k in query}, label


def test_home_names_every_page_and_uploads():
    """Home's table has a row for every page of the menu, the deep page included, and says
    how to bring one's own model and which pages show it."""
    from rnnviz.presentation import ui

    at = AppTest.from_file("../app.py", default_timeout=120)
    at.run()
    assert not at.exception
    text = " ".join(m.value for m in at.markdown)
    for _, label, _ in ui.PAGES[1:]:
        assert f"| **{label}** |" in text, label
    assert "Bring your own model" in text and ".safetensors" in text and ".keras" in text
    assert "Deep & bidirectional" in text and "bidirectional" in text.lower()
