"""Equations that render with no network: TeX in an exported notebook's markdown -> MathML.

nbconvert's HTML leaves the markdown's TeX for MathJax, which it loads from a CDN, so an
offline reader sees raw TeX. Here each ``$...$`` and ``\\begin{gather}...\\end{gather}`` of a
markdown cell is converted at export time by latex2mathml (pure Python) into MathML, which
Chromium (109+) and Firefox render natively; ``\\tag{n}`` becomes a right-aligned "(n)".
The MathJax scripts are then removed, so the page makes no request for them.
"""
from __future__ import annotations

import html
import re

from bs4 import BeautifulSoup, Comment
from latex2mathml.converter import convert

DISPLAY = re.compile(r"\\begin\{gather\*?\}(.*?)\\end\{gather\*?\}|\$\$(.*?)\$\$", re.S)
INLINE = re.compile(r"(?<![\\$])\$([^$\n]+?)\$")
TAG = re.compile(r"\\tag\{([^}]*)\}")


def tex_to_mathml(tex: str, display: bool) -> str:
    """One formula as MathML; TeX that latex2mathml lacks is rewritten first."""
    tex = html.unescape(tex)
    tag = TAG.search(tex)
    tex = TAG.sub("", tex).replace(r"\operatorname{arg\,max}", r"\mathrm{arg\,max}")
    mathml = convert(tex.strip(), display="block" if display else "inline")
    if tag and display:
        return (f'<div style="display:flex;align-items:center"><div style="flex:1">{mathml}</div>'
                f'<span class="equation-number">({tag.group(1)})</span></div>')
    return mathml


def render_math(page: str) -> str:
    """``page`` with the TeX of every markdown cell as MathML and no MathJax scripts."""
    soup = BeautifulSoup(page, "html.parser")
    for cell in soup.select(".jp-RenderedMarkdown, .text_cell_render"):
        text = str(cell)
        text = DISPLAY.sub(lambda m: tex_to_mathml(m.group(1) or m.group(2), True), text)
        text = INLINE.sub(lambda m: tex_to_mathml(m.group(1), False), text)
        cell.replace_with(BeautifulSoup(text, "html.parser"))
    for script in soup.find_all("script"):
        if "mathjax" in (script.get("src") or "").lower() or "mathjax" in (script.string or "").lower():
            script.decompose()
    for comment in soup.find_all(string=lambda s: isinstance(s, Comment) and "mathjax" in s.lower()):
        comment.extract()
    return str(soup)


def leftover_tex(page: str) -> list[str]:
    """TeX that would show as raw text: commands or ``$`` delimiters in markdown cells."""
    soup = BeautifulSoup(page, "html.parser")
    found = []
    for cell in soup.select(".jp-RenderedMarkdown, .text_cell_render"):
        for math in cell.find_all("math"):
            math.decompose()
        text = cell.get_text()
        found += re.findall(r"\\[a-zA-Z]+|\$[^$\n]+\$", text)
    return found
